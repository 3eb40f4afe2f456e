package tools

import "github.com/google/jsonschema-go/jsonschema"

// portable rewrites s, in place, into the subset of JSON Schema that every
// client takes, as strict checkers such as MCP Inspector's want it:
//   - no list of types: a Go slice or map is inferred as ["null", "array"],
//     which clients that take the OpenAPI subset (Gemini's among them)
//     refuse. The type alone is kept; an absent value is left out, not null,
//     and the tools' outputs keep to it (checked in the tests);
//   - no schema without a keyword to check: an empty schema (a SQL cell, a
//     trace's content) encodes as true, which some clients refuse, and says
//     nothing; it becomes anyOf the JSON types.
//
// Schemas under "not" are left alone: an empty one there is how false is
// spelled (additionalProperties: false).
func portable(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) > 0 {
		var types []string
		for _, t := range s.Types {
			if t != "null" {
				types = append(types, t)
			}
		}
		s.Types = nil
		if len(types) == 1 {
			s.Type = types[0]
		} else {
			s.AnyOf = append(s.AnyOf, typeSchemas(types...)...)
		}
	}
	if !checks(s) {
		s.AnyOf = typeSchemas("object", "array", "string", "number", "boolean", "null")
	}
	subschemas(s, portable)
}

// subschemas calls f with each schema right below s that describes values:
// properties, definitions, items, the branches of anyOf, oneOf and allOf,
// and additionalProperties unless it is false ("not" is left alone).
func subschemas(s *jsonschema.Schema, f func(*jsonschema.Schema)) {
	for _, sub := range s.Properties {
		f(sub)
	}
	for _, sub := range s.Defs {
		f(sub)
	}
	for _, list := range [][]*jsonschema.Schema{s.PrefixItems, s.AnyOf, s.OneOf, s.AllOf} {
		for _, sub := range list {
			f(sub)
		}
	}
	if s.Items != nil {
		f(s.Items)
	}
	if ap := s.AdditionalProperties; ap != nil && ap.Not == nil {
		f(ap)
	}
}

// checks reports whether s has a keyword that constrains a value's type.
func checks(s *jsonschema.Schema) bool {
	return s.Type != "" || len(s.Types) > 0 || len(s.Enum) > 0 || s.Const != nil || s.Ref != "" ||
		len(s.AnyOf) > 0 || len(s.OneOf) > 0 || len(s.AllOf) > 0 || s.Not != nil
}

func typeSchemas(types ...string) []*jsonschema.Schema {
	out := make([]*jsonschema.Schema, len(types))
	for i, t := range types {
		out[i] = &jsonschema.Schema{Type: t}
	}
	return out
}
