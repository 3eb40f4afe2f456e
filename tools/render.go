package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// The text copy of a result whose output does not render itself (see
// Texter): the structured content again, as lines a model reads at a
// glance rather than as JSON. Fields keep their order; a field of scalars
// is "key: value"; a list of flat records is a markdown table, and a list
// of longer or nested ones is a bulleted list; nested objects are indented.
// Nothing is cut here: the tools cap what they return, and the text shows
// what the structured content holds.

// render renders structured, the JSON of a tool's output.
func render(structured []byte) string {
	d := json.NewDecoder(bytes.NewReader(structured))
	d.UseNumber()
	v, err := decodeOrdered(d)
	if err != nil {
		return string(structured) // not ours to fail on: the JSON as it is
	}
	var r renderer
	switch v := v.(type) {
	case object:
		r.object("", v)
	default:
		r.member("", "", v)
	}
	return strings.TrimRight(r.String(), "\n")
}

// An object is a decoded JSON object with its members in order.
type object []member

type member struct {
	key string
	val any
}

// decodeOrdered decodes the next JSON value of d: objects as object, arrays
// as []any, numbers as json.Number.
func decodeOrdered(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		var o object
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeOrdered(d)
			if err != nil {
				return nil, err
			}
			o = append(o, member{k.(string), v})
		}
		_, err = d.Token()
		return o, err
	case json.Delim('['):
		a := []any{}
		for d.More() {
			v, err := decodeOrdered(d)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err = d.Token()
		return a, err
	}
	return t, nil
}

type renderer struct{ strings.Builder }

// The widest record shown as a table row, and the longest value in its
// cells; wider or longer ones are listed.
const (
	maxTableColumns = 8
	maxTableCell    = 80
)

func (r *renderer) object(indent string, o object) {
	header, rows := rowsUnder(o)
	for _, m := range o {
		switch {
		case m.val == nil || rows != nil && m.key == "columns":
		case rows != nil && m.key == "rows":
			fmt.Fprintf(r, "%srows (%d)\n%s\n", indent, len(rows), indentLines(indent, MarkdownTable(header, rows)))
		default:
			r.member(indent, m.key, m.val)
		}
	}
}

// rowsUnder finds a result's rows in o: members "columns", a list of names
// (or of records with a name), and "rows", a list of lists as long, which
// render as one table.
func rowsUnder(o object) (header []string, rows [][]any) {
	var cols, rs []any
	for _, m := range o {
		switch m.key {
		case "columns":
			cols, _ = m.val.([]any)
		case "rows":
			rs, _ = m.val.([]any)
		}
	}
	if len(cols) == 0 || rs == nil {
		return nil, nil
	}
	for _, c := range cols {
		if rec, ok := c.(object); ok && len(rec) > 0 && rec[0].key == "name" {
			c = rec[0].val
		}
		name, ok := c.(string)
		if !ok {
			return nil, nil
		}
		header = append(header, name)
	}
	rows = make([][]any, len(rs))
	for i, row := range rs {
		if rows[i], _ = row.([]any); len(rows[i]) != len(header) {
			return nil, nil
		}
	}
	return header, rows
}

// member writes key and its value at indent; key "" writes the value alone.
func (r *renderer) member(indent, key string, v any) {
	label := indent + key + ":"
	if key == "" { // a bullet's value, or a whole output that is not an object
		label = strings.TrimSuffix(indent, " ")
	}
	sep := " "
	if label == "" {
		sep = ""
	}
	switch v := v.(type) {
	case object:
		r.WriteString(label + "\n")
		r.object(indent+"  ", v)
	case []any:
		r.list(indent, label, v)
	case string:
		if strings.Contains(v, "\n") { // a document: its own lines, as they are
			fmt.Fprintf(r, "%s\n%s\n", label, v)
			return
		}
		fmt.Fprintf(r, "%s%s%s\n", label, sep, v)
	default:
		fmt.Fprintf(r, "%s%s%s\n", label, sep, scalar(v))
	}
}

func (r *renderer) list(indent, label string, a []any) {
	switch {
	case len(a) == 0:
		r.WriteString(label + " none\n")
	case allScalars(a):
		cells := make([]string, len(a))
		for i, v := range a {
			cells[i] = scalar(v)
		}
		fmt.Fprintf(r, "%s %s\n", label, strings.Join(cells, ", "))
	default:
		fmt.Fprintf(r, "%s (%d)\n", strings.TrimSuffix(label, ":"), len(a))
		if header, rows, ok := table(a); ok {
			r.WriteString(indentLines(indent, MarkdownTable(header, rows)) + "\n")
			return
		}
		for _, v := range a {
			r.item(indent, v)
		}
	}
}

// item writes one element of a list that is not a table: its scalar
// members on the bullet's line, the others below it.
func (r *renderer) item(indent string, v any) {
	o, ok := v.(object)
	if !ok {
		r.member(indent+"- ", "", v)
		return
	}
	var line []string
	var nested object
	for _, m := range o {
		switch v := m.val.(type) {
		case nil:
		case []any:
			if len(v) > 0 {
				nested = append(nested, m)
			}
		case object:
			nested = append(nested, m)
		default:
			line = append(line, m.key+": "+cellEscaper.Replace(scalar(m.val)))
		}
	}
	fmt.Fprintf(r, "%s- %s\n", indent, strings.Join(line, " · "))
	r.object(indent+"  ", nested)
}

// table returns a list of records as a table's header and rows when every
// record is flat, narrow enough and each value fits a cell uncut; rows of
// arrays (a sample's rows) are a table under their positions.
func table(a []any) (header []string, rows [][]any, ok bool) {
	col := map[string]int{}
	for _, v := range a {
		var row []any
		switch v := v.(type) {
		case object:
			row = make([]any, len(header))
			for i := range row {
				row[i] = "" // absent: an empty cell, not NULL
			}
			for _, m := range v {
				i, seen := col[m.key]
				if !seen {
					i, col[m.key] = len(header), len(header)
					header = append(header, m.key)
					row = append(row, "")
				}
				row[i] = m.val
			}
		case []any:
			row = v
			for len(header) < len(v) {
				header = append(header, fmt.Sprint(len(header)+1))
			}
		default:
			return nil, nil, false
		}
		for _, c := range row {
			if _, nested := c.(object); nested || len([]rune(scalar(c))) > maxTableCell {
				return nil, nil, false
			}
			if l, isList := c.([]any); isList && !allScalars(l) {
				return nil, nil, false
			}
		}
		rows = append(rows, row)
	}
	if len(header) > maxTableColumns {
		return nil, nil, false
	}
	for i := range rows { // records that lack a later column
		for len(rows[i]) < len(header) {
			rows[i] = append(rows[i], "")
		}
	}
	return header, rows, true
}

func allScalars(a []any) bool {
	for _, v := range a {
		switch v.(type) {
		case object, []any:
			return false
		}
	}
	return true
}

// scalar formats a JSON scalar (or a list of them) for a line or a cell.
func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		cells := make([]string, len(v))
		for i, c := range v {
			cells[i] = scalar(c)
		}
		return strings.Join(cells, ", ")
	}
	return fmt.Sprint(v)
}

func indentLines(indent, s string) string {
	if indent == "" {
		return s
	}
	return indent + strings.ReplaceAll(s, "\n", "\n"+indent)
}
