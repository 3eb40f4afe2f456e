package sqlengine

// The driver materialises a whole result before its first row can be read:
// `SELECT * FROM range(300000000)` filled 2.4 GB to return one row, and
// memory_limit does not cover a materialised result. So a query node runs as
// a subquery under LIMIT maxRows+1, which DuckDB pushes into the plan: a scan
// stops early and an ORDER BY becomes a top-N. DuckDB keeps the order of a
// subquery's rows, so an ORDER BY inside still orders what comes out.
//
// The statement as written is prepared and checked first (prepareRead) and
// gives the column names: the outer SELECT * renames duplicate ones (a, a_1).
//
// A statement may end in semicolons, which cannot stand inside parentheses.
// They are cut off after a scan of the text, and DuckDB proves the cut: what
// is left must parse to the same syntax tree as the whole. A scan that
// misread the text (a dollar-quoted string, say) fails that proof, and the
// query is refused with a message to drop the semicolon; it is never turned
// into another query.

import (
	"context"
	"database/sql/driver"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"lakehouse/backends/errs"
)

// capRows prepares query, a query node whose syntax tree is tree, as a
// subquery under LIMIT n. The caller closes the statement.
func capRows(ctx context.Context, conn driver.Conn, query, tree string, n int) (*duckdb.Stmt, error) {
	body, ok, err := statementBody(ctx, conn, query, tree)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.New(errs.Invalid, "cannot cap the rows of this statement: send it without the semicolon at its end")
	}
	stmt, err := prepareOne(conn, "SELECT * FROM (\n"+body+"\n) LIMIT "+strconv.Itoa(n))
	if err != nil {
		return nil, errs.New(errs.Invalid, "cannot cap the rows of this statement (%v); send it without anything after its end", err)
	}
	return stmt, nil
}

// statementBody returns query, a query node whose syntax tree is tree,
// without the semicolons at its end, so that it can stand inside
// parentheses. It reports false when DuckDB does not prove the cut: what is
// left does not parse to tree.
func statementBody(ctx context.Context, conn driver.Conn, query, tree string) (string, bool, error) {
	end := statementEnd(query)
	if !strings.Contains(query[end:], ";") {
		return query, true, nil
	}
	body := query[:end]
	cut, _, err := serialize(ctx, conn, body)
	if err != nil {
		return "", false, err
	}
	return body, cut == tree, nil
}

// statementEnd returns the index just past the last part of query that is
// not white space, a comment or a semicolon.
func statementEnd(query string) int {
	end := 0
	for i := 0; i < len(query); {
		if j := skipSpace(query, i); j > i {
			i = j
			continue
		}
		switch query[i] {
		case ';':
			i++
			continue
		case '\'', '"':
			if i = skipQuoted(query, i); i < 0 {
				return len(query)
			}
		default:
			i++
		}
		end = i
	}
	return end
}
