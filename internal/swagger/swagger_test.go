package swagger

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The types below stand for an API's bodies; the package knows nothing else of them.

type address struct {
	City string `json:"city" doc:"Where it is."`
}

type base struct {
	ID   int64  `json:"id" doc:"The inner id."`
	Kind string `json:"kind" doc:"What it is."`
}

type order struct {
	base          // flattened: its fields appear as order's
	ID     int64  `json:"id" doc:"The outer id wins."`
	Note   string `json:"note,omitempty" doc:"A note." summary:"Remark" visibility:"advanced"`
	Secret string `json:"-"`
	//lint:ignore U1000 encoding/json never writes unexported fields; the schema must not either
	internal string
	Ship     *address          `json:"ship"` // titled and described by its definition
	Lines    []address         `json:"lines" doc:"The lines."`
	Tags     map[string]string `json:"tags" doc:"Labels."`
	Raw      json.RawMessage   `json:"raw" doc:"Any JSON."`
	Ratio    float64           `json:"ratio" doc:"A ratio."`
	Small    int32             `json:"small" doc:"A small number."`
	Untagged bool              `doc:"Named after the Go field."`
	Nested   struct {
		X int `json:"x"`
	} `json:"nested"`
}

type node struct {
	Next *node `json:"next"`
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSchemasFollowEncodingJSON(t *testing.T) {
	s := New(Options{
		Definitions: []Definition{{Name: "Address", Type: reflect.TypeFor[address](), Summary: "Address", Description: "A place."}},
		Keywords: map[reflect.Type]map[string]Object{
			reflect.TypeFor[order](): {"kind": {"x-ms-dynamic-values": Object{"operationId": "ListKinds"}}},
		},
	})
	got := s.Inline(reflect.TypeFor[order]())
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	props := got["properties"].(Object)
	tests := []struct {
		property string
		want     string // the property's schema as JSON; "" = must be absent
	}{
		{"id", `{"description":"The outer id wins.","format":"int64","type":"integer","x-ms-summary":"ID"}`},
		{"kind", `{"description":"What it is.","type":"string","x-ms-dynamic-values":{"operationId":"ListKinds"},"x-ms-summary":"Kind"}`},
		{"note", `{"description":"A note.","type":"string","x-ms-summary":"Remark","x-ms-visibility":"advanced"}`},
		{"ship", `{"$ref":"#/definitions/Address"}`},
		{"lines", `{"description":"The lines.","items":{"$ref":"#/definitions/Address"},"type":"array","x-ms-summary":"Lines"}`},
		{"tags", `{"additionalProperties":{"type":"string"},"description":"Labels.","type":"object","x-ms-summary":"Tags"}`},
		{"raw", `{"description":"Any JSON.","x-ms-summary":"Raw"}`},
		{"ratio", `{"description":"A ratio.","format":"double","type":"number","x-ms-summary":"Ratio"}`},
		{"small", `{"description":"A small number.","format":"int32","type":"integer","x-ms-summary":"Small"}`},
		{"Untagged", `{"description":"Named after the Go field.","type":"boolean","x-ms-summary":"Untagged"}`},
		{"nested", `{"properties":{"x":{"format":"int64","type":"integer","x-ms-summary":"X"}},"type":"object","x-ms-summary":"Nested"}`},
		{"Secret", ""},
		{"internal", ""},
		{"base", ""},
	}
	for _, tt := range tests {
		p, ok := props[tt.property]
		switch {
		case tt.want == "" && ok:
			t.Errorf("%s is in the schema; encoding/json does not write it", tt.property)
		case tt.want != "" && !ok:
			t.Errorf("%s is missing", tt.property)
		case ok:
			if got := marshal(t, p); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.property, got, tt.want)
			}
		}
	}
	want := 0
	for _, tt := range tests {
		if tt.want != "" {
			want++
		}
	}
	if len(props) != want {
		t.Errorf("%d properties, want %d", len(props), want)
	}
	if got, want := marshal(t, s.Definitions()), `{"Address":{"description":"A place.","properties":{"city":{"description":"Where it is.","type":"string","x-ms-summary":"City"}},"type":"object","x-ms-summary":"Address"}}`; got != want {
		t.Errorf("definitions\n got %s\nwant %s", got, want)
	}
}

func TestADefinitionMayReferToItself(t *testing.T) {
	s := New(Options{Definitions: []Definition{{Name: "Node", Type: reflect.TypeFor[node]()}}})
	if got := marshal(t, s.Schema(reflect.TypeFor[*node]())); got != `{"$ref":"#/definitions/Node"}` {
		t.Errorf("schema = %s", got)
	}
	if got, want := marshal(t, s.Definitions()), `{"Node":{"properties":{"next":{"$ref":"#/definitions/Node"}},"type":"object"}}`; got != want {
		t.Errorf("definitions\n got %s\nwant %s", got, want)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestWhatCannotBeExpressedIsAnError(t *testing.T) {
	type badVisibility struct {
		A string `json:"a" visibility:"hidden"`
	}
	type describedReference struct {
		Ship address `json:"ship" doc:"Where to ship."`
	}
	tests := []struct {
		name    string
		opts    Options
		build   func(*Schemas)
		wantErr string
	}{
		{
			name:    "a channel",
			build:   func(s *Schemas) { s.Schema(reflect.TypeFor[chan int]()) },
			wantErr: "no Swagger schema for Go type chan int",
		},
		{
			name:    "a map with integer keys",
			build:   func(s *Schemas) { s.Schema(reflect.TypeFor[map[int]string]()) },
			wantErr: "no Swagger schema for Go type map[int]string",
		},
		{
			name:    "a body that is not a struct",
			build:   func(s *Schemas) { s.Inline(reflect.TypeFor[[]string]()) },
			wantErr: "want a struct",
		},
		{
			name:    "an unknown visibility",
			build:   func(s *Schemas) { s.Inline(reflect.TypeFor[badVisibility]()) },
			wantErr: `visibility "hidden"`,
		},
		{
			name: "a keyword for a property that does not exist",
			opts: Options{Keywords: map[reflect.Type]map[string]Object{
				reflect.TypeFor[address](): {"town": {"x-ms-visibility": Advanced}},
			}},
			build:   func(s *Schemas) { s.Inline(reflect.TypeFor[address]()) },
			wantErr: "keywords for swagger.address.town apply to no property",
		},
		{
			// Swagger 2.0 ignores keywords next to $ref: the text would never reach a maker.
			name:    "a doc tag on a field whose type is a definition",
			opts:    Options{Definitions: []Definition{{Name: "Address", Type: reflect.TypeFor[address]()}}},
			build:   func(s *Schemas) { s.Inline(reflect.TypeFor[describedReference]()) },
			wantErr: "gives its doc (Definition)",
		},
		{
			name: "a type defined twice",
			opts: Options{Definitions: []Definition{
				{Name: "A", Type: reflect.TypeFor[address]()}, {Name: "B", Type: reflect.TypeFor[address]()},
			}},
			build:   func(*Schemas) {},
			wantErr: "defined twice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.opts)
			tt.build(s)
			if err := s.Err(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Err() = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSummaryOf(t *testing.T) {
	for field, want := range map[string]string{
		"run_page_url": "Run Page URL", "duration_ms": "Duration (ms)", "job_id": "Job ID",
		"result_json": "Result JSON", "terminal": "Terminal", "sql_params": "SQL Params",
		"_leading": "Leading", "Untagged": "Untagged",
	} {
		if got := summaryOf(field); got != want {
			t.Errorf("summaryOf(%q) = %q, want %q", field, got, want)
		}
	}
}
