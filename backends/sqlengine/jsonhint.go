package sqlengine

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"strings"

	"lakehouse/backends/errs"
)

// maxJSONColumns bounds the JSON columns a hint names.
const maxJSONColumns = 10

// jsonHint adds to err, DuckDB's "Malformed JSON" when a statement compares
// a JSON column with text or casts text to JSON, which columns of the
// datasets are JSON and what to write instead: the error itself names
// neither the column nor the fix.
func jsonHint(ctx context.Context, conn driver.Conn, err error) error {
	if err == nil || !strings.Contains(err.Error(), "Malformed JSON") {
		return err
	}
	cols, lerr := jsonColumns(ctx, conn)
	if lerr != nil || len(cols) == 0 {
		return err
	}
	return errs.New(errs.Invalid, "%v\nthe JSON columns of the datasets are %s: a JSON column holds JSON values (a string keeps its quotes), so comparing one with text reads the text as JSON. Compare its text instead, col->>'$' (e.g. WHERE \"Title\"->>'$' = 'Avatar'), or cast it, col::VARCHAR; or ingest the dataset again with options.types {\"col\": \"VARCHAR\"}", err, strings.Join(cols, ", "))
}

// jsonColumns lists the columns of type JSON of the current versions'
// views, as "dataset.column".
func jsonColumns(ctx context.Context, conn driver.Conn) ([]string, error) {
	stmt, err := prepareOne(conn, fmt.Sprintf(
		"SELECT table_name, column_name FROM duckdb_columns() WHERE data_type = 'JSON' AND NOT contains(table_name, '@') ORDER BY 1, 2 LIMIT %d", maxJSONColumns+1))
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	rows, err := stmt.QueryContext(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	v := make([]driver.Value, 2)
	for {
		if err := rows.Next(v); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if len(out) == maxJSONColumns {
			out = append(out, "…")
			break
		}
		out = append(out, fmt.Sprintf("%v.%q", v[0], v[1]))
	}
	return out, nil
}
