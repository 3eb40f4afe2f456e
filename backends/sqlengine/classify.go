package sqlengine

// What may run is decided by DuckDB's parser, never by looking at the text:
// the statement is prepared and its type read back. This file holds the few
// things the parser cannot tell us on its own:
//
//   - whether the text holds no statement at all (the driver reports that as
//     an untyped error, which would look like "several statements");
//   - the statement inside an EXPLAIN. EXPLAIN ANALYZE executes the statement
//     it explains, so `EXPLAIN ANALYZE CREATE TABLE z AS SELECT 1` creates z.
//     The inner statement is found by skipping the EXPLAIN keyword and its
//     options, and is then prepared and classified like any other. The skip
//     fails closed: text it cut wrongly does not parse as a SELECT, and is
//     refused.
//
// A SELECT is then checked for the functions and views it uses (names.go).

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/errs"
)

// readKinds lists what may run, for the messages of refusals.
const readKinds = "SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN"

// kindNames names the statement types that are refused, as users write them.
var kindNames = map[duckdb.StmtType]string{
	duckdb.STATEMENT_TYPE_INSERT:       "INSERT",
	duckdb.STATEMENT_TYPE_UPDATE:       "UPDATE",
	duckdb.STATEMENT_TYPE_DELETE:       "DELETE",
	duckdb.STATEMENT_TYPE_PREPARE:      "PREPARE",
	duckdb.STATEMENT_TYPE_CREATE:       "CREATE",
	duckdb.STATEMENT_TYPE_EXECUTE:      "EXECUTE",
	duckdb.STATEMENT_TYPE_ALTER:        "ALTER",
	duckdb.STATEMENT_TYPE_TRANSACTION:  "BEGIN/COMMIT/ROLLBACK",
	duckdb.STATEMENT_TYPE_COPY:         "COPY",
	duckdb.STATEMENT_TYPE_ANALYZE:      "ANALYZE",
	duckdb.STATEMENT_TYPE_VARIABLE_SET: "SET VARIABLE",
	duckdb.STATEMENT_TYPE_CREATE_FUNC:  "CREATE FUNCTION/MACRO",
	duckdb.STATEMENT_TYPE_DROP:         "DROP",
	duckdb.STATEMENT_TYPE_EXPORT:       "EXPORT/IMPORT DATABASE",
	duckdb.STATEMENT_TYPE_PRAGMA:       "PRAGMA",
	duckdb.STATEMENT_TYPE_VACUUM:       "VACUUM/ANALYZE",
	duckdb.STATEMENT_TYPE_CALL:         "CALL/CHECKPOINT",
	duckdb.STATEMENT_TYPE_SET:          "SET/RESET/USE",
	duckdb.STATEMENT_TYPE_LOAD:         "INSTALL/LOAD",
	duckdb.STATEMENT_TYPE_RELATION:     "RELATION",
	duckdb.STATEMENT_TYPE_EXTENSION:    "extension",
	duckdb.STATEMENT_TYPE_LOGICAL_PLAN: "LOGICAL PLAN",
	duckdb.STATEMENT_TYPE_ATTACH:       "ATTACH",
	duckdb.STATEMENT_TYPE_DETACH:       "DETACH",
	duckdb.STATEMENT_TYPE_MULTI:        "multi-part",
}

// kindName names the statement type t.
func kindName(t duckdb.StmtType) string {
	if n, ok := kindNames[t]; ok {
		return n
	}
	return fmt.Sprintf("this kind of statement (type %d)", int(t))
}

// refused is the error for a statement that is not a read.
func refused(t duckdb.StmtType) error {
	return errs.New(errs.Invalid,
		"%s statements are not allowed: only read queries run here (%s); datasets change only through ingest_dataset and drop_dataset",
		kindName(t), readKinds)
}

// prepareRead prepares query on conn and returns it only if it is a single
// read-only statement that uses no refused function or view. For a query
// node (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE, PIVOT) it
// also returns the syntax tree, which capRows needs; for a PRAGMA or an
// EXPLAIN the tree is "". The caller closes the statement.
//
// It uses the driver's non-context Prepare on purpose: the driver's
// PrepareContext and QueryContext execute every statement but the last when
// given several, which would run writes before any check. Prepare refuses
// several statements without running any.
func prepareRead(ctx context.Context, conn driver.Conn, query string) (*duckdb.Stmt, string, error) {
	stmt, err := prepareOne(conn, query)
	if err != nil {
		return nil, "", err
	}
	t, err := stmt.StatementType()
	if err != nil {
		stmt.Close()
		return nil, "", fmt.Errorf("sqlengine: statement type: %w", err)
	}
	var tree string
	switch t {
	case duckdb.STATEMENT_TYPE_SELECT:
		tree, err = checkQuery(ctx, conn, query)
	case duckdb.STATEMENT_TYPE_EXPLAIN:
		err = checkExplained(ctx, conn, query)
	default:
		err = refused(t)
	}
	if err != nil {
		stmt.Close()
		return nil, "", err
	}
	return stmt, tree, nil
}

// prepareOne prepares exactly one statement. DuckDB's own errors come back
// as they are (a *duckdb.Error); any other error from the driver's Prepare
// means the text held several statements.
func prepareOne(conn driver.Conn, query string) (*duckdb.Stmt, error) {
	s, err := conn.Prepare(query)
	if err != nil {
		var dErr *duckdb.Error
		if errors.As(err, &dErr) {
			return nil, err
		}
		return nil, multiStatement(query)
	}
	stmt, ok := s.(*duckdb.Stmt)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("sqlengine: unexpected statement type %T", s)
	}
	return stmt, nil
}

// multiStatement is the error for text that holds more than one statement.
func multiStatement(query string) error {
	msg := "one statement per call: split the SQL at its semicolons and send the statements one at a time"
	// DuckDB expands a PIVOT whose values it must look up first into several
	// statements. The check above is DuckDB's; this only tailors the advice.
	if strings.Contains(strings.ToLower(query), "pivot") {
		msg += " (a PIVOT without an IN list also counts as several statements: list its values, e.g. PIVOT t ON col IN ('a', 'b') USING sum(x))"
	}
	return errs.New(errs.Invalid, "%s", msg)
}

// checkExplained refuses an EXPLAIN unless the statement it explains is a
// read that uses no refused function or view: EXPLAIN ANALYZE runs that
// statement, and the plan of any EXPLAIN shows the values DuckDB folded
// into it.
func checkExplained(ctx context.Context, conn driver.Conn, query string) error {
	inner, ok := explainTarget(query)
	if !ok || isBlank(inner) {
		return errs.New(errs.Invalid, "cannot tell which statement this EXPLAIN explains; write it as EXPLAIN [ANALYZE] SELECT ...")
	}
	stmt, err := prepareOne(conn, inner)
	if err != nil {
		return errs.New(errs.Invalid, "cannot check the statement inside EXPLAIN (%v); write it as EXPLAIN [ANALYZE] SELECT ...", err)
	}
	defer stmt.Close()
	t, err := stmt.StatementType()
	if err != nil {
		return fmt.Errorf("sqlengine: statement type: %w", err)
	}
	if t != duckdb.STATEMENT_TYPE_SELECT {
		return errs.New(errs.Invalid,
			"EXPLAIN of %s statements is not allowed: only read queries run here (%s)", kindName(t), readKinds)
	}
	_, err = checkQuery(ctx, conn, inner)
	return err
}

// explainTarget returns the text of the statement an EXPLAIN explains, by
// skipping the EXPLAIN keyword and what may follow it: ANALYZE (or ANALYSE),
// VERBOSE and a parenthesised option list such as (FORMAT JSON). It reports
// false when query does not start with EXPLAIN.
func explainTarget(query string) (string, bool) {
	i := skipSpace(query, 0)
	w, i := word(query, i)
	if !strings.EqualFold(w, "EXPLAIN") {
		return "", false
	}
	for {
		i = skipSpace(query, i)
		if w, j := word(query, i); w != "" {
			switch strings.ToUpper(w) {
			case "ANALYZE", "ANALYSE", "VERBOSE":
				i = j
				continue
			}
			return query[i:], true
		}
		if i < len(query) && query[i] == '(' && isOptionList(query, i) {
			end := closingParen(query, i)
			if end < 0 {
				return "", false
			}
			i = end + 1
			continue
		}
		return query[i:], true
	}
}

// isOptionList reports whether the parenthesis at query[i] opens an EXPLAIN
// option list rather than a parenthesised query.
func isOptionList(query string, i int) bool {
	j := skipSpace(query, i+1)
	w, _ := word(query, j)
	switch strings.ToUpper(w) {
	case "", "SELECT", "WITH", "VALUES", "FROM", "TABLE", "PIVOT", "UNPIVOT":
		return false
	}
	return true
}

// closingParen returns the index of the parenthesis that closes the one at
// query[open], skipping quoted text and comments, or -1.
func closingParen(query string, open int) int {
	depth := 0
	for i := open; i < len(query); {
		if j := skipSpace(query, i); j > i {
			i = j
			continue
		}
		switch query[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		case '\'', '"':
			if i = skipQuoted(query, i); i < 0 {
				return -1
			}
			continue
		}
		i++
	}
	return -1
}

// skipQuoted returns the index after the string or quoted identifier that
// starts at query[i] (a ' or a "), or -1 when it does not end. A doubled
// quote inside reads as two quoted parts, which end in the same place.
func skipQuoted(query string, i int) int {
	end := strings.IndexByte(query[i+1:], query[i])
	if end < 0 {
		return -1
	}
	return i + end + 2
}

// word returns the identifier or keyword that starts at query[i] (letters,
// digits and underscores) and the index after it; "" when there is none.
func word(query string, i int) (string, int) {
	j := i
	for j < len(query) {
		c := query[j]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > i && c >= '0' && c <= '9' {
			j++
			continue
		}
		break
	}
	return query[i:j], j
}

// skipSpace returns the index of the first byte at or after i that is not
// white space or part of a comment. DuckDB comments are "-- to end of line"
// and "/* ... */", which may nest.
func skipSpace(query string, i int) int {
	for i < len(query) {
		switch {
		case query[i] == ' ' || query[i] == '\t' || query[i] == '\n' || query[i] == '\r' || query[i] == '\f' || query[i] == '\v':
			i++
		case strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				return len(query)
			}
			i += end + 1
		case strings.HasPrefix(query[i:], "/*"):
			depth := 0
			for i < len(query) {
				if strings.HasPrefix(query[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(query[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		default:
			return i
		}
	}
	return i
}

// isBlank reports whether query holds no statement: only white space,
// comments and semicolons.
func isBlank(query string) bool {
	for i := skipSpace(query, 0); i < len(query); i = skipSpace(query, i) {
		if query[i] != ';' {
			return false
		}
		i++
	}
	return true
}
