package api

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-openapi/loads"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
	"github.com/flowbricks/flowbricks/internal/swagger"
)

var update = flag.Bool("update", false, "rewrite connector/apiDefinition.swagger.json from the served OpenAPI document")

// The committed connector definition is the document served for this host: the default host
// name of a Function App called flowbricks. docs/connector.md says how to replace it.
const (
	connectorHost       = "flowbricks.azurewebsites.net"
	connectorDefinition = "../../connector/apiDefinition.swagger.json"
)

// noCredentials refuses every token: the documented operations are only called to prove they
// are routed.
type noCredentials struct{}

func (noCredentials) Validate(context.Context, string) (entra.Principal, entra.Token, error) {
	return entra.Principal{}, "", entra.ErrNoCredentials
}

// openAPIServer is a server whose document and routes can be inspected.
func openAPIServer(cfg config.Config) http.Handler {
	return NewServer(Deps{Config: cfg, Logger: zerolog.Nop(), Auth: noCredentials{}})
}

// servedDocument fetches /api/openapi.json.
func servedDocument(t *testing.T, h http.Handler, host string) []byte {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil)
	req.Host = host
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/openapi.json: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	return rec.Body.Bytes()
}

func decodeDoc(t *testing.T, raw []byte) obj {
	t.Helper()
	var doc obj
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return doc
}

// at walks a decoded document along keys.
func at(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object on the way to %v", k, keys)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("no %q on the way to %v", k, keys)
		}
	}
	return v
}

func TestOpenAPIDocumentIsValidSwagger2(t *testing.T) {
	raw := servedDocument(t, openAPIServer(config.Config{WebsiteHostname: connectorHost}), "127.0.0.1:40000")
	doc, err := loads.Analyzed(json.RawMessage(raw), "2.0")
	if err != nil {
		t.Fatalf("loads.Analyzed: %v", err)
	}
	// validate.Spec(doc, strfmt.Default) is this call without the warnings; one validation is
	// slow enough (seconds under -race) to not run it twice.
	errs, warnings := validate.NewSpecValidator(doc.Schema(), strfmt.Default).Validate(doc)
	for _, e := range errs.Errors {
		t.Errorf("not valid Swagger 2.0: %v", e)
	}
	for _, w := range warnings.Errors {
		t.Errorf("validator warning: %v", w)
	}

	sw := doc.Spec()
	if sw.Swagger != "2.0" || sw.Info == nil || sw.Info.Title != "flowbricks" || sw.Info.Version == "" || sw.Info.Description == "" {
		t.Errorf("swagger %q info %+v", sw.Swagger, sw.Info)
	}
	if !slices.Equal(sw.Consumes, []string{"application/json"}) || !slices.Equal(sw.Produces, []string{"application/json"}) {
		t.Errorf("consumes %v produces %v", sw.Consumes, sw.Produces)
	}
}

// TestOpenAPIHostIsWhereFlowsReachFlowbricks: the connector import needs the public host, which
// the handler knows from configuration the way it builds Location (publicBase), never from the
// request's Host: a client choosing Host must not choose where a connector built from the
// document sends its tokens. Without configuration the document has no host and no schemes
// (Swagger 2.0: those of the server that serves it). Nothing else in the document changes.
func TestOpenAPIHostIsWhereFlowsReachFlowbricks(t *testing.T) {
	reference := decodeDoc(t, servedDocument(t, openAPIServer(config.Config{WebsiteHostname: connectorHost}), "127.0.0.1:40000"))
	tests := []struct {
		name   string
		cfg    config.Config
		host   string // the request's Host
		want   string // host in the document ("" = none)
		scheme string // "" = no schemes
		base   string
	}{
		{"on Azure (WEBSITE_HOSTNAME)", config.Config{WebsiteHostname: connectorHost}, "127.0.0.1:40000", connectorHost, "https", "/api"},
		{"FLOWBRICKS_PUBLIC_URL wins", config.Config{PublicURL: "https://fb.contoso.example", WebsiteHostname: connectorHost}, "127.0.0.1:40000", "fb.contoso.example", "https", "/api"},
		{"behind a gateway (FLOWBRICKS_PUBLIC_URL with a path)", config.Config{PublicURL: "https://apis.contoso.example/flowbricks"}, "127.0.0.1:40000", "apis.contoso.example", "https", "/flowbricks/api"},
		{"not configured: no host, whatever the request's", config.Config{}, "localhost:7071", "", "", "/api"},
		{"a forged Host is ignored", config.Config{}, "evil.example", "", "", "/api"},
		{"a forged Host is ignored when configured", config.Config{WebsiteHostname: connectorHost}, "evil.example", connectorHost, "https", "/api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := decodeDoc(t, servedDocument(t, openAPIServer(tt.cfg), tt.host))
			schemes, _ := json.Marshal(doc["schemes"])
			wantSchemes, wantHost := `["`+tt.scheme+`"]`, any(tt.want)
			if tt.scheme == "" {
				wantSchemes = "null"
			}
			if tt.want == "" {
				wantHost = nil
			}
			if doc["host"] != wantHost || string(schemes) != wantSchemes || doc["basePath"] != tt.base {
				t.Errorf("host %v schemes %s basePath %v, want %q %s %s", doc["host"], schemes, doc["basePath"], tt.want, wantSchemes, tt.base)
			}
			for k, v := range reference {
				if k == "host" || k == "schemes" || k == "basePath" {
					continue
				}
				a, _ := json.Marshal(v)
				b, _ := json.Marshal(doc[k])
				if !bytes.Equal(a, b) {
					t.Errorf("%s differs between hosts", k)
				}
			}
		})
	}
}

func TestOpenAPISecurityIsEntraID(t *testing.T) {
	tests := []struct {
		name      string
		cfg       config.Config
		authority string
		scope     string
	}{
		{"defaults", config.Config{}, "https://login.microsoftonline.com", config.DefaultScope},
		{"sovereign cloud and own scope", config.Config{AuthorityHost: "https://login.microsoftonline.us/", Scope: "Jobs.Access"}, "https://login.microsoftonline.us", "Jobs.Access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := decodeDoc(t, servedDocument(t, openAPIServer(tt.cfg), "example.com"))
			sd := at(t, doc, "securityDefinitions", "oauth2").(map[string]any)
			want := map[string]any{
				"type": "oauth2", "flow": "accessCode",
				"authorizationUrl": tt.authority + "/common/oauth2/authorize",
				"tokenUrl":         tt.authority + "/common/oauth2/token",
			}
			for k, v := range want {
				if sd[k] != v {
					t.Errorf("securityDefinitions.oauth2.%s = %v, want %v", k, sd[k], v)
				}
			}
			if _, ok := at(t, sd, "scopes").(map[string]any)[tt.scope]; !ok {
				t.Errorf("scopes %v lack %s", sd["scopes"], tt.scope)
			}
			sec, _ := json.Marshal(doc["security"])
			if string(sec) != `[{"oauth2":["`+tt.scope+`"]}]` {
				t.Errorf("security = %s", sec)
			}
		})
	}
}

// TestRoutesAndDocumentAgree proves both directions: every operation of the table with an id is
// documented under its method and path, every documented operation is a route of the router, and
// the only routes left out of the document are the table's undocumented ones.
func TestRoutesAndDocumentAgree(t *testing.T) {
	h := openAPIServer(config.Config{})
	doc := decodeDoc(t, servedDocument(t, h, "example.com"))

	documented := map[string]string{} // "GET /api/jobs" → operationId
	for path, item := range at(t, doc, "paths").(map[string]any) {
		for method, op := range item.(map[string]any) {
			documented[strings.ToUpper(method)+" /api"+path] = op.(map[string]any)["operationId"].(string)
		}
	}
	routed := map[string]bool{}
	err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	table := (&server{}).operations()
	if len(table) != len(routed) {
		t.Errorf("the table has %d operations, the router %d routes", len(table), len(routed))
	}

	for _, op := range table {
		key := op.Method + " " + op.Path
		if !routed[key] {
			t.Errorf("%s is in the table but not routed", key)
		}
		switch id, ok := documented[key]; {
		case op.ID == "" && ok:
			t.Errorf("%s has no operationId in the table but is documented as %s", key, id)
		case op.ID != "" && !ok:
			t.Errorf("%s (%s) is not documented", key, op.ID)
		case op.ID != id:
			t.Errorf("%s is documented as %q, the table says %q", key, id, op.ID)
		}
		if (op.ID == "") != (op.Doc == nil) {
			t.Errorf("%s: operationId %q and Doc %v: both or neither", key, op.ID, op.Doc != nil)
		}
	}
	for key, id := range documented {
		if !routed[key] {
			t.Errorf("%s (%s) is documented but the router has no such route", key, id)
		}
		// And it answers: without a token a documented operation is a 401, never 404 or 405.
		method, path, _ := strings.Cut(key, " ")
		path = strings.ReplaceAll(path, "{run_id}", "7001")
		path = strings.ReplaceAll(path, "{statement_id}", "01f0c2a4-0000-4000-8000-000000000001")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", method, path, rec.Code)
		}
	}
}

func TestOperationsAreDescribedForFlowMakers(t *testing.T) {
	doc := decodeDoc(t, servedDocument(t, openAPIServer(config.Config{}), "example.com"))
	ops := map[string]map[string]any{}
	for _, item := range at(t, doc, "paths").(map[string]any) {
		for _, op := range item.(map[string]any) {
			o := op.(map[string]any)
			ops[o["operationId"].(string)] = o
		}
	}
	for id, o := range ops {
		for _, k := range []string{"summary", "description", "x-ms-visibility"} {
			if s, _ := o[k].(string); s == "" {
				t.Errorf("%s has no %s", id, k)
			}
		}
		params, _ := o["parameters"].([]any)
		for _, p := range params {
			p := p.(map[string]any)
			for _, k := range []string{"x-ms-summary", "description"} {
				if s, _ := p[k].(string); s == "" {
					t.Errorf("%s: parameter %s has no %s", id, p["name"], k)
				}
			}
		}
	}

	t.Run("query parameters", func(t *testing.T) {
		want := map[string][]string{
			"RunNow":          {"wait", "include_output", "fail_on_run_failure", "workspace"},
			"GetRun":          {"wait", "include_output", "fail_on_run_failure", "workspace"},
			"GetRunOutput":    {"workspace"},
			"CancelRun":       {"workspace"},
			"ListJobs":        {"name", "limit", "workspace"},
			"RunStatement":    {"wait", "fail_on_failure", "workspace"},
			"GetStatement":    {"wait", "fail_on_failure", "chunk_index", "workspace"},
			"CancelStatement": {"workspace"},
			"ListWarehouses":  {"workspace"},
		}
		for id, names := range want {
			var got []string
			params, _ := ops[id]["parameters"].([]any)
			for _, p := range params {
				if p.(map[string]any)["in"] == "query" {
					got = append(got, p.(map[string]any)["name"].(string))
				}
			}
			if !slices.Equal(got, names) {
				t.Errorf("%s query parameters %v, want %v", id, got, names)
			}
		}
	})

	t.Run("the async pattern is documented", func(t *testing.T) {
		failure := map[string]string{"RunNow": "FailedRun", "GetRun": "FailedRun", "RunStatement": "FailedStatement", "GetStatement": "FailedStatement"}
		for id, failed := range failure {
			desc := ops[id]["description"].(string)
			for _, word := range []string{"202", "Location", "Retry-After", "424", "poll"} {
				if !strings.Contains(desc, word) {
					t.Errorf("%s description does not mention %s", id, word)
				}
			}
			accepted := at(t, ops[id], "responses", "202").(map[string]any)
			for _, h := range []string{"Location", "Retry-After"} {
				if _, ok := at(t, accepted, "headers").(map[string]any)[h]; !ok {
					t.Errorf("%s 202 does not document the %s header", id, h)
				}
			}
			if ref := at(t, ops[id], "responses", "424", "schema", "$ref"); ref != "#/definitions/"+failed {
				t.Errorf("%s 424 schema %v", id, ref)
			}
		}
	})

	t.Run("job picker", func(t *testing.T) {
		var body map[string]any
		for _, p := range ops["RunNow"]["parameters"].([]any) {
			if p.(map[string]any)["in"] == "body" {
				body = p.(map[string]any)
			}
		}
		jobID := at(t, body, "schema", "properties", "job_id").(map[string]any)
		dv, _ := json.Marshal(jobID["x-ms-dynamic-values"])
		// ListJobs answers a top-level array: no value-collection.
		if string(dv) != `{"operationId":"ListJobs","parameters":{"workspace":{"parameter":"workspace"}},"value-path":"job_id","value-title":"name"}` {
			t.Errorf("x-ms-dynamic-values = %s", dv)
		}
		items := at(t, ops["ListJobs"], "responses", "200", "schema").(map[string]any)
		if items["type"] != "array" || at(t, items, "items", "$ref") != "#/definitions/Job" {
			t.Errorf("ListJobs 200 schema = %v, want an array of Job", items)
		}
		props := at(t, doc, "definitions", "Job", "properties").(map[string]any)
		for _, path := range []string{"job_id", "name"} { // value-path and value-title
			if _, ok := props[path]; !ok {
				t.Errorf("Job has no %s", path)
			}
		}
	})

	t.Run("warehouse picker", func(t *testing.T) {
		var body map[string]any
		for _, p := range ops["RunStatement"]["parameters"].([]any) {
			if p.(map[string]any)["in"] == "body" {
				body = p.(map[string]any)
			}
		}
		warehouseID := at(t, body, "schema", "properties", "warehouse_id").(map[string]any)
		dv, _ := json.Marshal(warehouseID["x-ms-dynamic-values"])
		if string(dv) != `{"operationId":"ListWarehouses","parameters":{"workspace":{"parameter":"workspace"}},"value-path":"id","value-title":"name"}` {
			t.Errorf("x-ms-dynamic-values = %s", dv)
		}
		items := at(t, ops["ListWarehouses"], "responses", "200", "schema").(map[string]any)
		if items["type"] != "array" || at(t, items, "items", "$ref") != "#/definitions/Warehouse" {
			t.Errorf("ListWarehouses 200 schema = %v, want an array of Warehouse", items)
		}
		props := at(t, doc, "definitions", "Warehouse", "properties").(map[string]any)
		for _, path := range []string{"id", "name", "state"} {
			if _, ok := props[path]; !ok {
				t.Errorf("Warehouse has no %s", path)
			}
		}
	})

	t.Run("rows are objects a flow can loop over", func(t *testing.T) {
		for _, id := range []string{"RunStatement", "GetStatement", "CancelStatement"} {
			if ref := at(t, ops[id], "responses", "200", "schema", "$ref"); ref != "#/definitions/SQLStatement" {
				t.Errorf("%s 200 schema %v", id, ref)
			}
		}
		rows := at(t, doc, "definitions", "SQLStatement", "properties", "rows").(map[string]any)
		item := at(t, rows, "items").(map[string]any)
		if rows["type"] != "array" || item["type"] != "object" || item["additionalProperties"] != true || item["x-ms-summary"] == nil {
			t.Errorf("rows = %v, want an array of objects with additionalProperties", rows)
		}
		columns := at(t, doc, "definitions", "SQLStatement", "properties", "columns").(map[string]any)
		if at(t, columns, "items", "$ref") != "#/definitions/SQLColumn" {
			t.Errorf("columns = %v", columns)
		}
	})

	t.Run("connector summaries", func(t *testing.T) {
		want := map[string]string{"RunStatement": "Run a SQL statement", "GetStatement": "Get statement status and rows",
			"CancelStatement": "Cancel a statement", "ListWarehouses": "List SQL warehouses"}
		for id, summary := range want {
			if ops[id]["summary"] != summary {
				t.Errorf("%s summary %v, want %q", id, ops[id]["summary"], summary)
			}
		}
	})
}

// fill returns a value of type t with every field set, so that encoding/json writes every key
// (omitempty ones included).
func fill(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch {
	case t == reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(json.RawMessage(`{}`)))
	case t.Kind() == reflect.Pointer:
		v.Set(fill(t.Elem()).Addr())
	case t.Kind() == reflect.Struct:
		fillStruct(v)
	case t.Kind() == reflect.Slice:
		v.Set(reflect.Append(reflect.MakeSlice(t, 0, 1), fill(t.Elem())))
	case t.Kind() == reflect.Map:
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(reflect.ValueOf("k").Convert(t.Key()), fill(t.Elem()))
	case t.Kind() == reflect.String:
		v.SetString("x")
	case t.Kind() == reflect.Bool:
		v.SetBool(true)
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		v.SetInt(1)
	}
	return v
}

// fillStruct fills the exported fields of struct v, also those promoted from embedded unexported
// structs (which encoding/json writes, and which reflect lets us set in place).
func fillStruct(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			fillStruct(v.Field(i))
		case f.IsExported():
			v.Field(i).Set(fill(f.Type))
		}
	}
}

func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func propertyNames(t *testing.T, doc obj, def string) []string {
	t.Helper()
	var names []string
	for k := range at(t, doc, "definitions", def, "properties").(map[string]any) {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func TestRunStatusSchemaIsExactlyWhatTheHandlersSend(t *testing.T) {
	doc := decodeDoc(t, servedDocument(t, openAPIServer(config.Config{}), "example.com"))

	// Every field databricks.Run marshals to (it has no omitempty: never null, always present),
	// plus the optional output.
	want := append(jsonKeys(t, databricks.Run{}), "output")
	slices.Sort(want)
	if got := propertyNames(t, doc, "RunStatus"); !slices.Equal(got, want) {
		t.Errorf("RunStatus properties\n got %v\nwant %v", got, want)
	}
	if got, want := propertyNames(t, doc, "TaskRun"), jsonKeys(t, databricks.TaskRun{}); !slices.Equal(got, want) {
		t.Errorf("TaskRun properties\n got %v\nwant %v", got, want)
	}

	t.Run("every definition", func(t *testing.T) {
		for _, d := range definitions() {
			if got, want := propertyNames(t, doc, d.Name), jsonKeys(t, fill(d.Type).Interface()); !slices.Equal(got, want) {
				t.Errorf("%s (%s) properties\n got %v\nwant %v", d.Name, d.Type, got, want)
			}
		}
	})
}

func TestSchemasAreDocumented(t *testing.T) {
	doc := decodeDoc(t, servedDocument(t, openAPIServer(config.Config{}), "example.com"))
	check := func(where string, props map[string]any) {
		for name, p := range props {
			p := p.(map[string]any)
			if _, isRef := p["$ref"]; isRef {
				continue // described by its definition
			}
			if d, _ := p["description"].(string); d == "" {
				t.Errorf("%s.%s has no description: give its Go field a doc tag", where, name)
			}
			if s, _ := p["x-ms-summary"].(string); s == "" {
				t.Errorf("%s.%s has no x-ms-summary", where, name)
			}
		}
	}
	for name, def := range at(t, doc, "definitions").(map[string]any) {
		if d, _ := def.(map[string]any)["description"].(string); d == "" {
			t.Errorf("definition %s has no description: add it to definitions() in openapi_docs.go", name)
		}
		check(name, at(t, def, "properties").(map[string]any))
	}
	bodies := []struct {
		path string
		typ  reflect.Type
	}{
		{"/jobs/run-now", reflect.TypeFor[runNowRequest]()},
		{"/sql/statements", reflect.TypeFor[sqlStatementRequest]()},
	}
	for _, b := range bodies {
		for _, p := range at(t, doc, "paths", b.path, "post", "parameters").([]any) {
			if p.(map[string]any)["in"] == "body" {
				check(b.typ.Name(), at(t, p, "schema", "properties").(map[string]any))
				if got, want := len(at(t, p, "schema", "properties").(map[string]any)), len(jsonKeys(t, fill(b.typ).Interface())); got != want {
					t.Errorf("the %s body documents %d fields, %s has %d", b.path, got, b.typ, want)
				}
			}
		}
	}
	params := at(t, doc, "paths", "/sql/statements", "post", "parameters").([]any)
	items := at(t, params[len(params)-1], "schema", "properties", "parameters", "items", "properties").(map[string]any)
	check("sqlParameter", items)
}

// normalized re-encodes JSON so that formatting and key order do not matter.
func normalized(t *testing.T, raw []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConnectorDefinition keeps connector/apiDefinition.swagger.json equal to what the handler
// serves on a Function App named flowbricks. After changing the API, regenerate it with
//
//	go test ./internal/api -run TestConnectorDefinition -update
func TestConnectorDefinition(t *testing.T) {
	served := servedDocument(t, openAPIServer(config.Config{WebsiteHostname: connectorHost}), "127.0.0.1:40000")
	if *update {
		var v any
		if err := json.Unmarshal(served, &v); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(connectorDefinition, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", filepath.Clean(connectorDefinition), buf.Len())
	}

	committed, err := os.ReadFile(connectorDefinition)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./internal/api -run TestConnectorDefinition -update)", err)
	}
	if !bytes.Equal(normalized(t, committed), normalized(t, served)) {
		t.Errorf("%s differs from the served document; regenerate it with:\n\tgo test ./internal/api -run TestConnectorDefinition -update", connectorDefinition)
	}
	// Power Platform refuses definitions of 1 MB or more.
	if len(committed) >= 1<<20 {
		t.Errorf("%s is %d bytes; custom connector definitions must be under 1 MB", connectorDefinition, len(committed))
	}
	if host := decodeDoc(t, committed)["host"]; host != connectorHost {
		t.Errorf("the committed definition's host is %v, want the placeholder %s", host, connectorHost)
	}
}

// TestNamedStatementsInTheDocument: the document a deployment serves offers its named statements
// as a list with their descriptions; in named mode the SQL text field is hidden.
func TestNamedStatementsInTheDocument(t *testing.T) {
	statements := map[string]config.NamedStatement{
		"orders_by_region": {Statement: "SELECT :region", Parameters: map[string]string{"region": "STRING"}, Description: "Orders of a region"},
		"all_regions":      {Statement: "SELECT 1"},
	}
	for _, mode := range []config.SQLMode{config.SQLAny, config.SQLNamed} {
		t.Run(string(mode), func(t *testing.T) {
			raw := servedDocument(t, openAPIServer(config.Config{SQL: mode, SQLStatements: statements}), "example.com")
			props := at(t, decodeDoc(t, raw), "paths", "/sql/statements", "post", "parameters").([]any)
			body := at(t, props[len(props)-1], "schema", "properties").(map[string]any)
			name := body["statement_name"].(map[string]any)
			if enum, _ := json.Marshal(name["enum"]); string(enum) != `["all_regions","orders_by_region"]` {
				t.Errorf("statement_name enum %s", enum)
			}
			if d := name["description"].(string); !strings.Contains(d, "orders_by_region: Orders of a region") || !strings.HasPrefix(d, "Run a statement an administrator defined") {
				t.Errorf("statement_name description %q", d)
			}
			hidden := at(t, body, "statement", "x-ms-visibility") == swagger.Internal
			if hidden != (mode == config.SQLNamed) {
				t.Errorf("statement hidden: %v in mode %s", hidden, mode)
			}
		})
	}
}
