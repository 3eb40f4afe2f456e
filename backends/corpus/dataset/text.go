package dataset

import (
	"strings"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/sqlengine"
)

// textSQL is the SQL of the text a row is embedded by: its text columns, one
// per line, nulls left out; or its template with each column in place, a null
// as nothing.
func textSQL(spec Spec, cols []catalog.Column) (string, error) {
	types := columnTypes(cols)
	cell := func(c string) (string, error) {
		typ, ok := types[c]
		if !ok {
			return "", unknownColumn(spec.Dataset, c, cols)
		}
		return cellText(c, typ), nil
	}
	switch {
	case len(spec.TextColumns) > 0 && spec.TextTemplate != "":
		return "", errs.New(errs.Invalid, "give text_columns or text_template, not both")
	case len(spec.TextColumns) > 0:
		parts := make([]string, len(spec.TextColumns))
		for i, c := range spec.TextColumns {
			var err error
			if parts[i], err = cell(c); err != nil {
				return "", err
			}
		}
		return "concat_ws(chr(10), " + strings.Join(parts, ", ") + ")", nil
	case spec.TextTemplate != "":
		lits, names, err := parseTemplate(spec.TextTemplate)
		if err != nil {
			return "", err
		}
		parts := []string{sqlengine.QuoteString(lits[0])}
		for i, c := range names {
			e, err := cell(c)
			if err != nil {
				return "", errs.New(errs.Invalid, "text_template: %w", err)
			}
			parts = append(parts, "coalesce("+e+", '')", sqlengine.QuoteString(lits[i+1]))
		}
		return "concat(" + strings.Join(parts, ", ") + ")", nil
	}
	return "", errs.New(errs.Invalid, "give the text to embed: text_column (or text_columns) or a text_template such as \"{%s}\"; the columns of %s are %s",
		cols[0].Name, spec.Dataset, columnList(cols))
}

// parseTemplate splits a template such as "{Title} ({Year})" into the
// column names in braces and the literal texts around them: always one
// literal more than names. "{{" and "}}" stand for braces.
func parseTemplate(t string) (lits, names []string, err error) {
	var lit strings.Builder
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case (c == '{' || c == '}') && i+1 < len(t) && t[i+1] == c:
			lit.WriteByte(c)
			i++
		case c == '{':
			end := strings.IndexAny(t[i+1:], "{}")
			if end < 0 || t[i+1+end] != '}' {
				return nil, nil, errs.New(errs.Invalid, "text_template: the { at byte %d is not closed by }; write {{ for a brace", i)
			}
			name := t[i+1 : i+1+end]
			if name == "" {
				return nil, nil, errs.New(errs.Invalid, "text_template: empty {} at byte %d; put a column name in it", i)
			}
			lits, names = append(lits, lit.String()), append(names, name)
			lit.Reset()
			i += end + 1
		case c == '}':
			return nil, nil, errs.New(errs.Invalid, "text_template: the } at byte %d has no {; write }} for a brace", i)
		default:
			lit.WriteByte(c)
		}
	}
	if len(names) == 0 {
		return nil, nil, errs.New(errs.Invalid, "text_template %q names no column; put column names in braces, as in \"{Title} ({Year})\"", t)
	}
	return append(lits, lit.String()), names, nil
}
