// Package swagger turns Go types into Swagger 2.0 (OpenAPI 2.0) schemas by reflection, in the
// dialect of Power Platform custom connectors: every property carries an x-ms-summary title, and
// may carry a description and an x-ms-visibility. A schema says what encoding/json writes for
// the type — json tag names, "-" skipped, embedded structs flattened — so a field added to a type
// appears in the document without touching any list.
//
// It knows nothing of any API's routes or types. The texts live on the types, as struct tags
// next to the json tag:
//
//		JobID int64 `json:"job_id" doc:"The job's id." summary:"Job" visibility:"important"`
//
//	  - doc: the property's description.
//	  - summary: its x-ms-summary, the title the flow designer shows; by default the JSON name
//	    as words (run_page_url → Run Page URL).
//	  - visibility: its x-ms-visibility (important, advanced or internal).
//
// A field whose type is a Definition is a $ref, next to which Swagger 2.0 ignores every keyword:
// the Definition gives its title and description, and tags on such a field are an error.
//
// Keywords that depend on the document rather than the type (a picker that calls another
// operation) are given to New, keyed by the type and the JSON name.
//
// Schemas are plain maps rather than go-openapi/spec's types: the document carries x-ms-*
// extensions at several levels, and a map reads the same as the JSON it becomes.
package swagger

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Object is a JSON object of a Swagger document.
type Object = map[string]any

// Visibility of an operation, parameter or property in the flow designer (x-ms-visibility).
const (
	Important = "important"
	Advanced  = "advanced"
	Internal  = "internal"
)

// Definition is a named schema of the document: a struct type whose schema is written once
// under definitions and referenced with $ref wherever the type appears. Swagger 2.0 ignores
// keywords next to a $ref, so a property whose type is a definition takes its title and
// description from the definition: the designer labels the property with them.
type Definition struct {
	Name        string
	Type        reflect.Type
	Summary     string // x-ms-summary: the title of a property of this type (title case)
	Description string // the designer shows it for nested objects
}

// Options configure a Schemas.
type Options struct {
	Definitions []Definition
	// Keywords adds keywords to a property, keyed by the struct type and the property's JSON name;
	// they win over those from the field's tags. Every entry must apply to a property of a schema
	// the document uses (Err reports those that did not).
	Keywords map[reflect.Type]map[string]Object
}

// Schemas builds the schemas of one document and collects its definitions. It is not safe for
// concurrent use; build a document once and share the result.
type Schemas struct {
	names     map[reflect.Type]string
	docs      map[string]string
	summaries map[string]string
	defs      Object
	keywords  map[reflect.Type]map[string]Object
	used      map[reflect.Type]map[string]bool
	err       error // the first problem met
}

// New returns an empty set of schemas for o's definitions.
func New(o Options) *Schemas {
	s := &Schemas{
		names:     map[reflect.Type]string{},
		docs:      map[string]string{},
		summaries: map[string]string{},
		defs:      Object{},
		keywords:  o.Keywords,
		used:      map[reflect.Type]map[string]bool{},
	}
	for _, d := range o.Definitions {
		if other, dup := s.names[d.Type]; dup {
			s.fail(fmt.Errorf("%s is defined twice, as %s and %s", d.Type, other, d.Name))
		}
		s.names[d.Type] = d.Name
		s.docs[d.Name] = d.Description
		s.summaries[d.Name] = d.Summary
	}
	return s
}

// Definitions is the document's definitions: those of the schemas built so far.
func (s *Schemas) Definitions() Object { return s.defs }

// Err is the first problem met: a type without a Swagger schema, a bad tag, or a keyword that
// applied to no property.
func (s *Schemas) Err() error {
	if s.err != nil {
		return s.err
	}
	var unused []string
	for t, byField := range s.keywords {
		for field := range byField {
			if !s.used[t][field] {
				unused = append(unused, t.String()+"."+field)
			}
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return fmt.Errorf("keywords for %s apply to no property of the document", strings.Join(unused, ", "))
	}
	return nil
}

func (s *Schemas) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// Schema returns the schema of t: a $ref for a definition (built on first use), else the schema
// inline.
func (s *Schemas) Schema(t reflect.Type) Object {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := s.names[t]; ok {
		if _, built := s.defs[name]; !built {
			s.defs[name] = Object{} // placeholder: a type may refer to itself
			def := s.Inline(t)
			if d := s.docs[name]; d != "" {
				def["description"] = d
			}
			if v := s.summaries[name]; v != "" {
				def["x-ms-summary"] = v
			}
			s.defs[name] = def
		}
		return Object{"$ref": "#/definitions/" + name}
	}
	if t == rawMessageType {
		return Object{} // any JSON value
	}
	switch t.Kind() {
	case reflect.String:
		return Object{"type": "string"}
	case reflect.Bool:
		return Object{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64:
		return Object{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return Object{"type": "integer", "format": "int32"}
	case reflect.Float32, reflect.Float64:
		return Object{"type": "number", "format": "double"}
	case reflect.Slice, reflect.Array:
		return Object{"type": "array", "items": s.Schema(t.Elem())}
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			return Object{"type": "object", "additionalProperties": s.Schema(t.Elem())}
		}
	case reflect.Struct:
		return s.Inline(t)
	}
	s.fail(fmt.Errorf("no Swagger schema for Go type %s", t))
	return Object{}
}

// Inline returns the object schema of struct t written out, never a $ref: a request body, or a
// definition's own schema.
func (s *Schemas) Inline(t reflect.Type) Object {
	if t.Kind() != reflect.Struct {
		s.fail(fmt.Errorf("want a struct, got %s", t))
		return Object{}
	}
	props := Object{}
	for _, f := range jsonFields(t) {
		p := s.Schema(f.Type)
		if _, isRef := p["$ref"]; isRef {
			// Swagger 2.0 ignores keywords next to $ref: the referenced definition carries them,
			// and a tag here would be silently lost.
			for _, tag := range []string{"doc", "summary", "visibility"} {
				if f.Tag.Get(tag) != "" {
					s.fail(fmt.Errorf("%s.%s: its type is the definition %s, which gives its %s (Definition), not the field's tag", t, f.Name, p["$ref"], tag))
				}
			}
			props[f.name] = p
			continue
		}
		p = maps.Clone(p)
		p["x-ms-summary"] = summaryOf(f.name)
		if v := f.Tag.Get("summary"); v != "" {
			p["x-ms-summary"] = v
		}
		if v := f.Tag.Get("doc"); v != "" {
			p["description"] = v
		}
		if v := f.Tag.Get("visibility"); v != "" {
			if !slices.Contains([]string{Important, Advanced, Internal}, v) {
				s.fail(fmt.Errorf("%s.%s: visibility %q is not important, advanced or internal", t, f.Name, v))
			}
			p["x-ms-visibility"] = v
		}
		if kw, ok := s.keywords[t][f.name]; ok {
			maps.Copy(p, kw)
			if s.used[t] == nil {
				s.used[t] = map[string]bool{}
			}
			s.used[t][f.name] = true
		}
		props[f.name] = p
	}
	return Object{"type": "object", "properties": props}
}

// field is a struct field encoding/json writes, under its JSON name.
type field struct {
	reflect.StructField
	name string
}

// jsonFields lists the fields encoding/json writes for struct t, in order: exported fields by
// their json name, embedded structs without a tag flattened (an outer field wins over a field of
// the same name further in, as in encoding/json).
func jsonFields(t reflect.Type) []field {
	var out []field
	seen := map[string]bool{}
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		seen[name] = true
		out = append(out, field{f, name})
	}
	for _, et := range embedded {
		for _, f := range jsonFields(et) {
			if !seen[f.name] {
				seen[f.name] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// summaryOf makes a designer title (x-ms-summary) of a JSON field name: run_page_url → Run Page URL.
func summaryOf(name string) string {
	words := strings.Split(name, "_")
	for i, w := range words {
		switch w {
		case "id", "url", "json", "sql", "jar":
			words[i] = strings.ToUpper(w)
		case "ms":
			words[i] = "(ms)"
		default:
			if w != "" {
				words[i] = strings.ToUpper(w[:1]) + w[1:]
			}
		}
	}
	return strings.Join(slices.DeleteFunc(words, func(w string) bool { return w == "" }), " ")
}
