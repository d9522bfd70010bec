package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/redact"
	"github.com/flowbricks/flowbricks/internal/testsupport"
)

const sharedSQL = "5f3c0a1b2c3d4e5f" // the "Shared SQL" warehouse of the fake

// ordersStatement is a free statement with a parameter, as a flow sends it.
const ordersStatement = `{"statement":"SELECT * FROM main.sales.orders WHERE region = :region","warehouse_id":"` + sharedSQL + `",` +
	`"parameters":[{"name":"region","value":"EMEA"}]}`

// namedStatements is FLOWBRICKS_SQL_STATEMENTS of the named-mode tests.
var namedStatements = map[string]config.NamedStatement{
	"orders_by_region": {
		Statement:   "SELECT * FROM main.sales.orders WHERE region = :region AND order_date >= :since",
		Parameters:  map[string]string{"region": "STRING", "since": "DATE"},
		WarehouseID: sharedSQL,
	},
	"all_regions": {Statement: "SELECT * FROM main.sales.regions"},
}

func runStatement(body string) call {
	return call{method: "POST", path: "/api/sql/statements", token: aliceToken, body: body}
}

// TestRunStatementAnswersTypedRows is the whole answer of a statement that succeeded within the
// wait: status, columns and the first chunk's typed rows, and what Databricks was sent.
func TestRunStatementAnswersTypedRows(t *testing.T) {
	s := newTestServer(t, nil)
	r := s.do(t, runStatement(ordersStatement))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	want := `{"statement_id":"01f0c2a4-0000-4000-8000-000000000001","state":"SUCCEEDED","terminal":true,"succeeded":true,` +
		`"columns":[{"name":"order_id","key":"order_id","type":"BIGINT","type_name":"LONG","position":0},` +
		`{"name":"amount","key":"amount","type":"DECIMAL(10,2)","type_name":"DECIMAL","position":1},` +
		`{"name":"shipped","key":"shipped","type":"BOOLEAN","type_name":"BOOLEAN","position":2},` +
		`{"name":"order_date","key":"order_date","type":"DATE","type_name":"DATE","position":3},` +
		`{"name":"tags","key":"tags","type":"ARRAY\u003cSTRING\u003e","type_name":"ARRAY","position":4},` + // encoding/json escapes < and >
		`{"name":"customer","key":"customer","type":"STRUCT\u003cid: INT, tier: STRING\u003e","type_name":"STRUCT","position":5},` +
		`{"name":"note","key":"note","type":"STRING","type_name":"STRING","position":6}],` +
		`"rows":[{"order_id":1001,"amount":"129.90","shipped":true,"order_date":"2026-11-28","tags":["web","promo"],"customer":{"id":7,"tier":"gold"},"note":null},` +
		`{"order_id":"9007199254740993","amount":"5.00","shipped":false,"order_date":"2026-11-29","tags":[],"customer":{"id":8,"tier":"silver"},"note":"gift"}],` +
		`"row_count":2,"row_offset":0,"chunk_index":0,"chunk_count":3,"total_row_count":5,"truncated":false,` +
		`"next":"https://flowbricks.example/api/sql/statements/01f0c2a4-0000-4000-8000-000000000001?chunk_index=1"}`
	if got := strings.TrimSpace(r.body); got != want {
		t.Fatalf("answer\n got %s\nwant %s", got, want)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}

	got := s.jobs.executions()[0]
	if got.WarehouseID != sharedSQL || got.Statement != "SELECT * FROM main.sales.orders WHERE region = :region" ||
		got.RowLimit != 10_000 || got.ByteLimit != 4<<20 || got.Wait != 10*time.Second {
		t.Fatalf("upstream request %+v", got)
	}
	if len(got.Parameters) != 1 || got.Parameters[0].Name != "region" || *got.Parameters[0].Value != "EMEA" || got.Parameters[0].Type != "" {
		t.Fatalf("parameters %+v", got.Parameters)
	}
	if fmt.Sprint(got.QueryTags) != "[{flowbricks }]" {
		t.Fatalf("query tags %v", got.QueryTags)
	}
}

// TestStatementParameters: values keep what the flow sent — numbers their exact text, booleans
// as true/false, null and an absent value as SQL NULL, "" as an empty string — and types are
// passed on, upper-cased. A value that would be an injection if spliced is just a value.
func TestStatementParameters(t *testing.T) {
	s := newTestServer(t, nil)
	body := `{"statement":"SELECT :a, :b, :c, :d, :e, :f, :g, :h","warehouse_id":"` + sharedSQL + `","parameters":[` +
		`{"name":"a","value":"'; DROP TABLE main.sales.orders; --"},` +
		`{"name":"b","value":12345678901234567890.50,"type":"decimal(38,2)"},` +
		`{"name":"c","value":1e3,"type":"DOUBLE"},` +
		`{"name":"d","value":true,"type":"BOOLEAN"},` +
		`{"name":"e","value":null,"type":"DATE"},` +
		`{"name":"f"},` +
		`{"name":"g","value":""},` +
		`{"name":"h","value":-0.0}]}`
	if r := s.do(t, runStatement(body)); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	want := []struct {
		name, typ string
		value     *string
	}{
		{"a", "", str("'; DROP TABLE main.sales.orders; --")},
		{"b", "DECIMAL(38,2)", str("12345678901234567890.50")},
		{"c", "DOUBLE", str("1e3")},
		{"d", "BOOLEAN", str("true")},
		{"e", "DATE", nil},
		{"f", "", nil},
		{"g", "", str("")},
		{"h", "", str("-0.0")},
	}
	got := s.jobs.executions()[0]
	if got.Statement != "SELECT :a, :b, :c, :d, :e, :f, :g, :h" {
		t.Fatalf("the statement text changed: %q", got.Statement)
	}
	for i, w := range want {
		p := got.Parameters[i]
		if p.Name != w.name || p.Type != w.typ || (p.Value == nil) != (w.value == nil) || (p.Value != nil && *p.Value != *w.value) {
			t.Errorf("parameter %d: %s %s %v, want %s %s %v", i, p.Name, p.Type, deref(p.Value), w.name, w.typ, deref(w.value))
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<NULL>"
	}
	return fmt.Sprintf("%q", *s)
}

func TestRunStatementValidation(t *testing.T) {
	s := newTestServer(t, func(d *Deps) { d.Config.SQLMaxRows, d.Config.SQLMaxBytes = 500, 1000 })
	many := make([]string, 257)
	for i := range many {
		many[i] = fmt.Sprintf(`{"name":"p%d","value":"v"}`, i)
	}
	wh := `"warehouse_id":"` + sharedSQL + `"`
	tests := []struct {
		name, body, query string
		detail            string
	}{
		{"no statement", `{` + wh + `}`, "", "statement (or statement_name) is required"},
		{"blank statement", `{"statement":"  ",` + wh + `}`, "", "statement is blank"},
		{"statement and name", `{"statement":"SELECT 1","statement_name":"x",` + wh + `}`, "", "not both"},
		{"no warehouse", `{"statement":"SELECT 1"}`, "", "warehouse_id (or warehouse_name) is required"},
		{"warehouse id and name", `{"statement":"SELECT 1",` + wh + `,"warehouse_name":"Shared SQL"}`, "", "warehouse_id or warehouse_name, not both"},
		{"bad warehouse id", `{"statement":"SELECT 1","warehouse_id":"../../jobs"}`, "", "warehouse_id must be a SQL warehouse id"},
		{"unknown field", `{"statement":"SELECT 1",` + wh + `,"sql":"x"}`, "", `"sql" is not known`},
		{"field in other case", `{"Statement":"SELECT 1",` + wh + `}`, "", `send "statement"`},
		{"field twice", `{"statement":"SELECT 1","statement":"SELECT 2",` + wh + `}`, "", `"statement" is given more than once`},
		{"parameters not an array", `{"statement":"SELECT 1",` + wh + `,"parameters":{"a":"1"}}`, "", `"parameters" must be an array`},
		{"parameter without a name", `{"statement":"SELECT 1",` + wh + `,"parameters":[{"value":"1"}]}`, "", "parameters[0].name is required"},
		{"parameter name not an identifier", `{"statement":"SELECT 1",` + wh + `,"parameters":[{"name":"a-b","value":"1"}]}`, "", "parameters[0].name must be a SQL identifier"},
		{"parameter name twice", `{"statement":"SELECT 1",` + wh + `,"parameters":[{"name":"a"},{"name":"a"}]}`, "", "Parameter a is given more than once"},
		{"parameter value an object", `{"statement":"SELECT 1",` + wh + `,"parameters":[{"name":"a","value":{"x":1}}]}`, "", "parameters[0].value must be a string, a number, true/false or null"},
		{"parameter value an array", `{"statement":"SELECT 1",` + wh + `,"parameters":[{"name":"a"},{"name":"b","value":[1]}]}`, "", "parameters[1].value must be"},
		{"parameter type not a type", `{"statement":"SELECT 1",` + wh + `,"parameters":[{"name":"a","value":"1","type":"INT'; --"}]}`, "", "parameters[0].type must be a Databricks SQL type name"},
		{"parameter field unknown", `{"statement":"SELECT 1",` + wh + `,"parameters":[{"name":"a","val":"1"}]}`, "", `"val" is not known`},
		{"too many parameters", `{"statement":"SELECT 1",` + wh + `,"parameters":[` + strings.Join(many, ",") + `]}`, "", "at most 256"},
		{"row_limit 0", `{"statement":"SELECT 1",` + wh + `,"row_limit":0}`, "", "row_limit must be a positive integer"},
		{"row_limit above the maximum", `{"statement":"SELECT 1",` + wh + `,"row_limit":501}`, "", "row_limit must be an integer from 1 to 500"},
		{"row_limit not an integer", `{"statement":"SELECT 1",` + wh + `,"row_limit":1.5}`, "", `"row_limit"`},
		{"byte_limit above the maximum", `{"statement":"SELECT 1",` + wh + `,"byte_limit":1001}`, "", "byte_limit must be an integer from 1 to 1000"},
		{"bad wait", `{"statement":"SELECT 1",` + wh + `}`, "?wait=soon", "Query parameter wait"},
		{"bad fail_on_failure", `{"statement":"SELECT 1",` + wh + `}`, "?wait=true&fail_on_failure=maybe", "Query parameter fail_on_failure"},
		{"bad Idempotency-Key", `{"statement":"SELECT 1",` + wh + `}`, "", "Idempotency-Key is longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := call{method: "POST", path: "/api/sql/statements" + tt.query, token: aliceToken, body: tt.body}
			if tt.name == "bad Idempotency-Key" {
				c.headers = map[string]string{headerIdempotencyKey: strings.Repeat("k", 65)}
			}
			r := s.do(t, c)
			if r.status != 400 || r.json["code"] != "invalid_request" {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if !strings.Contains(fmt.Sprint(r.json["detail"]), tt.detail) {
				t.Fatalf("detail %q does not say %q", r.json["detail"], tt.detail)
			}
		})
	}
	if n := len(s.jobs.executions()); n != 0 {
		t.Fatalf("invalid requests reached Databricks %d times", n)
	}
}

// TestStatementAsynchronousPattern: the job endpoints' 202 pattern, for statements.
func TestStatementAsynchronousPattern(t *testing.T) {
	s := newTestServer(t, nil)
	slow := `{"statement":"SELECT SLEEP","warehouse_id":"` + sharedSQL + `"}`

	r := s.do(t, call{method: "POST", path: "/api/sql/statements?wait=true&fail_on_failure=false&workspace=default", token: aliceToken, body: slow})
	id, _ := r.json["statement_id"].(string)
	wantLoc := "https://flowbricks.example/api/sql/statements/" + id + "?fail_on_failure=false&wait=true&workspace=default"
	if r.status != 202 || r.header.Get("Location") != wantLoc || r.header.Get("Retry-After") != "7" || r.json["state"] != "RUNNING" {
		t.Fatalf("running with wait: %d Location %q Retry-After %q: %s", r.status, r.header.Get("Location"), r.header.Get("Retry-After"), r.body)
	}
	if rows, _ := r.json["rows"].([]any); rows == nil || len(rows) != 0 || r.json["columns"] == nil {
		t.Fatalf("a running statement's rows and columns must be [] : %s", r.body)
	}
	if r := s.do(t, call{method: "POST", path: "/api/sql/statements", token: aliceToken, body: slow}); r.status != 200 || r.json["state"] != "RUNNING" {
		t.Fatalf("running without wait: %d %s", r.status, r.body)
	}

	poll := "/api/sql/statements/" + id + "?wait=true"
	if r := s.do(t, call{method: "GET", path: poll, token: aliceToken}); r.status != 202 || r.header.Get("Location") != "https://flowbricks.example"+poll {
		t.Fatalf("poll while running: %d Location %q", r.status, r.header.Get("Location"))
	}
	s.jobs.set(id, func(fs *fakeStatement) {
		fs.st.State = databricks.StatementSucceeded
		fs.setResult(ordersColumns, ordersRows, 2)
	})
	if r := s.do(t, call{method: "GET", path: poll, token: aliceToken}); r.status != 200 || r.json["succeeded"] != true || r.json["row_count"] != 2.0 {
		t.Fatalf("poll when done: %d %s", r.status, r.body)
	}

	failed := s.do(t, runStatement(`{"statement":"SELECT FAIL","warehouse_id":"`+sharedSQL+`"}`))
	failedID := failed.json["statement_id"].(string)
	if failed.status != 200 || failed.json["state"] != "FAILED" {
		t.Fatalf("a failed statement without wait is a 200 with its status: %d %s", failed.status, failed.body)
	}
	tests := []struct {
		name, path string
		status     int
		code       string
	}{
		{"failed with wait: 424", "/api/sql/statements/" + failedID + "?wait=true", 424, "statement_failed"},
		{"failed, fail_on_failure=false: 200", "/api/sql/statements/" + failedID + "?wait=true&fail_on_failure=false", 200, ""},
		{"failed without wait: 200", "/api/sql/statements/" + failedID, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, call{method: "GET", path: tt.path, token: aliceToken})
			if r.status != tt.status || (tt.code != "" && r.json["code"] != tt.code) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			errObj, _ := r.json["error"].(map[string]any)
			if errObj["code"] != "PERMISSION_DENIED" || errObj["sql_state"] != "42501" || !strings.Contains(fmt.Sprint(errObj["message"]), "INSUFFICIENT_PERMISSIONS") {
				t.Fatalf("error %v", r.json["error"])
			}
		})
	}

	t.Run("the 424 is the status plus the problem fields", func(t *testing.T) {
		r := s.do(t, runStatement(`{"statement":"SELECT FAIL","warehouse_id":"`+sharedSQL+`"}`))
		r = s.do(t, call{method: "POST", path: "/api/sql/statements?wait=true", token: aliceToken, body: `{"statement":"SELECT FAIL","warehouse_id":"` + sharedSQL + `"}`})
		want := `{"statement_id":"01f0c2a4-0000-4000-8000-000000000005","state":"FAILED","terminal":true,"succeeded":false,"columns":[],"rows":[],` +
			`"row_count":0,"row_offset":0,"chunk_index":0,"chunk_count":0,"total_row_count":0,"truncated":false,` +
			`"error":{"code":"PERMISSION_DENIED","message":"[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on Table 'main.sales.orders'.","sql_state":"42501"},` +
			`"code":"statement_failed","title":"Failed Dependency","status":424,` +
			`"detail":"Statement 01f0c2a4-0000-4000-8000-000000000005 ended with FAILED. Databricks said: [INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on Table 'main.sales.orders'.",` +
			`"request_id":"` + fmt.Sprint(r.json["request_id"]) + `"}`
		if got := strings.TrimSpace(r.body); r.status != 424 || got != want {
			t.Fatalf("424\n got %d %s\nwant %s", r.status, got, want)
		}
	})

	t.Run("canceled with wait: 424", func(t *testing.T) {
		r := s.do(t, runStatement(slow))
		id := r.json["statement_id"].(string)
		s.do(t, call{method: "POST", path: "/api/sql/statements/" + id + "/cancel", token: aliceToken})
		if r := s.do(t, call{method: "GET", path: "/api/sql/statements/" + id + "?wait=true", token: aliceToken}); r.status != 424 || r.json["state"] != "CANCELED" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

// TestStatementPaging walks every chunk with next, carrying the workspace.
func TestStatementPaging(t *testing.T) {
	other := newFakeJobs()
	s := newTestServer(t, func(d *Deps) { d.Workspaces["sales"] = other })
	r := s.do(t, call{method: "POST", path: "/api/sql/statements?workspace=sales", token: aliceToken, body: ordersStatement})
	if r.status != 200 || len(other.executions()) != 1 {
		t.Fatalf("run in the sales workspace: %d %s", r.status, r.body)
	}
	var ids []any
	for _, row := range r.json["rows"].([]any) {
		ids = append(ids, row.(map[string]any)["order_id"])
	}
	pages := 1
	for next, _ := r.json["next"].(string); next != ""; next, _ = r.json["next"].(string) {
		path, ok := strings.CutPrefix(next, "https://flowbricks.example")
		if !ok || !strings.Contains(path, "workspace=sales") || pages > 3 {
			t.Fatalf("next %q (page %d)", next, pages)
		}
		r = s.do(t, call{method: "GET", path: path, token: aliceToken})
		if r.status != 200 || r.json["chunk_index"] != float64(pages) || r.json["row_offset"] != float64(2*pages) {
			t.Fatalf("page %d: %d %s", pages, r.status, r.body)
		}
		for _, row := range r.json["rows"].([]any) {
			ids = append(ids, row.(map[string]any)["order_id"])
		}
		pages++
	}
	if fmt.Sprint(ids) != "[1001 9007199254740993 1003 1004 1005]" || pages != 3 {
		t.Fatalf("walked %d pages: %v", pages, ids)
	}

	id := r.json["statement_id"].(string)
	for _, q := range []string{"chunk_index=3", "chunk_index=-1", "chunk_index=one"} {
		r := s.do(t, call{method: "GET", path: "/api/sql/statements/" + id + "?workspace=sales&" + q, token: aliceToken})
		if r.status != 400 || !strings.Contains(fmt.Sprint(r.json["detail"]), "chunk_index") {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestCancelStatement(t *testing.T) {
	s := newTestServer(t, nil)
	r := s.do(t, runStatement(`{"statement":"SELECT SLEEP","warehouse_id":"`+sharedSQL+`"}`))
	id := r.json["statement_id"].(string)
	c := s.do(t, call{method: "POST", path: "/api/sql/statements/" + id + "/cancel", token: aliceToken})
	if c.status != 200 || c.json["state"] != "CANCELED" || c.json["terminal"] != true || fmt.Sprint(s.jobs.canceled) != "["+id+"]" {
		t.Fatalf("cancel: %d %s", c.status, c.body)
	}
	if !strings.Contains(s.logs.String(), `"action":"sql-cancel","caller_name":"alice@contoso.example","caller_tenant":"tid","workspace":"default","statement_id":"`+id+`"`) {
		t.Fatalf("no audit line for the cancel:\n%s", s.logs.String())
	}
	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/sql/statements/01f0c2a4-0000-4000-8000-999999999999/cancel", 404, "statement_not_found"},
		{"/api/sql/statements/01f0c2a4-0000-4000-8000-999999999999", 404, "statement_not_found"},
		{"/api/sql/statements/a.b/cancel", 400, "invalid_request"},
		{"/api/sql/statements/" + strings.Repeat("a", 129), 400, "invalid_request"},
	} {
		method := "GET"
		if strings.HasSuffix(tt.path, "/cancel") {
			method = "POST"
		}
		if r := s.do(t, call{method: method, path: tt.path, token: aliceToken}); r.status != tt.status || r.json["code"] != tt.code {
			t.Errorf("%s %s: %d %s", method, tt.path, r.status, r.body)
		}
	}
}

func TestListWarehouses(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		want    string
	}{
		{"all, sorted by name", nil, "Cold Warehouse 9a8b7c6d5e4f3a2b STOPPED|Finance SQL 0f1e2d3c4b5a6978 RUNNING|Shared SQL 5f3c0a1b2c3d4e5f RUNNING|Twin 1111111111111111 RUNNING|twin 2222222222222222 STOPPED"},
		{"FLOWBRICKS_WAREHOUSES", []string{sharedSQL, "9a8b7c6d5e4f3a2b"}, "Cold Warehouse 9a8b7c6d5e4f3a2b STOPPED|Shared SQL 5f3c0a1b2c3d4e5f RUNNING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(d *Deps) { d.Config.Warehouses = tt.allowed })
			r := s.do(t, call{method: "GET", path: "/api/sql/warehouses", token: aliceToken})
			var list []warehouseSummary
			if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var got []string
			for _, w := range list {
				got = append(got, w.Name+" "+w.ID+" "+w.State)
			}
			if strings.Join(got, "|") != tt.want {
				t.Fatalf("got %s", strings.Join(got, "|"))
			}
		})
	}
	t.Run("none is [], not null", func(t *testing.T) {
		s := newTestServer(t, func(d *Deps) { d.Config.Warehouses = []string{"0000000000000000"} })
		if r := s.do(t, call{method: "GET", path: "/api/sql/warehouses", token: aliceToken}); strings.TrimSpace(r.body) != "[]" {
			t.Fatalf("%s", r.body)
		}
	})
}

func TestWarehouseByNameAndAllowList(t *testing.T) {
	tests := []struct {
		name      string
		allowed   []string
		warehouse string // the body's warehouse fields
		status    int
		code      string
		detail    string
		wantID    string
	}{
		{"by name, ignoring case", nil, `"warehouse_name":"shared sql"`, 200, "", "", sharedSQL},
		{"unknown name", nil, `"warehouse_name":"Nope"`, 404, "warehouse_not_found", `"Nope"`, ""},
		{"ambiguous name", nil, `"warehouse_name":"TWIN"`, 409, "ambiguous_warehouse_name", "1111111111111111, 2222222222222222", ""},
		{"an allowed id", []string{sharedSQL}, `"warehouse_id":"` + sharedSQL + `"`, 200, "", "", sharedSQL},
		{"an id outside FLOWBRICKS_WAREHOUSES", []string{sharedSQL}, `"warehouse_id":"0f1e2d3c4b5a6978"`, 403, "warehouse_not_allowed", "FLOWBRICKS_WAREHOUSES", ""},
		{"a name outside FLOWBRICKS_WAREHOUSES is unknown", []string{sharedSQL}, `"warehouse_name":"Finance SQL"`, 404, "warehouse_not_found", "", ""},
		{"an ambiguous name of which one is allowed", []string{"2222222222222222"}, `"warehouse_name":"twin"`, 200, "", "", "2222222222222222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(d *Deps) { d.Config.Warehouses = tt.allowed })
			r := s.do(t, runStatement(`{"statement":"SELECT 1",`+tt.warehouse+`}`))
			if r.status != tt.status || (tt.code != "" && r.json["code"] != tt.code) || !strings.Contains(fmt.Sprint(r.json["detail"]), tt.detail) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			reqs := s.jobs.executions()
			if tt.wantID == "" && len(reqs) != 0 || tt.wantID != "" && (len(reqs) != 1 || reqs[0].WarehouseID != tt.wantID) {
				t.Fatalf("executed %+v, want on %q", reqs, tt.wantID)
			}
		})
	}
	t.Run("Databricks' own unknown warehouse id", func(t *testing.T) {
		s := newTestServer(t, nil)
		s.jobs.executeErr = &databricks.Error{Kind: databricks.ErrWarehouseNotFound, Op: databricks.OpExecuteStatement, StatusCode: 404,
			Detail: "Warehouse 0000000000000000 does not exist."}
		if r := s.do(t, runStatement(`{"statement":"SELECT 1","warehouse_id":"0000000000000000"}`)); r.status != 404 || r.json["code"] != "warehouse_not_found" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

func TestNamedStatements(t *testing.T) {
	tests := []struct {
		name   string
		mode   config.SQLMode
		body   string
		status int
		code   string
		detail string
	}{
		{"named mode refuses free SQL", config.SQLNamed, `{"statement":"SELECT 1","warehouse_id":"` + sharedSQL + `"}`, 403, "free_sql_not_allowed", "statement_name"},
		{"named mode runs a named statement", config.SQLNamed,
			`{"statement_name":"orders_by_region","parameters":[{"name":"region","value":"EMEA"},{"name":"since","value":"2026-01-01","type":"date"}]}`, 200, "", ""},
		{"any mode runs named statements too", config.SQLAny, `{"statement_name":"all_regions","warehouse_name":"Shared SQL"}`, 200, "", ""},
		{"unknown name", config.SQLNamed, `{"statement_name":"Orders_By_Region"}`, 404, "statement_name_not_found", "FLOWBRICKS_SQL_STATEMENTS"},
		{"a missing parameter", config.SQLNamed, `{"statement_name":"orders_by_region","parameters":[{"name":"region","value":"EMEA"}]}`, 400, "invalid_request", "needs parameter since (DATE); it takes region, since"},
		{"an extra parameter", config.SQLNamed, `{"statement_name":"orders_by_region","parameters":[{"name":"region","value":"EMEA"},{"name":"since","value":"2026-01-01"},{"name":"x","value":"1"}]}`, 400, "invalid_request", "x is not a parameter of statement orders_by_region"},
		{"another type", config.SQLNamed, `{"statement_name":"orders_by_region","parameters":[{"name":"region","value":"EMEA"},{"name":"since","value":"2026-01-01","type":"TIMESTAMP"}]}`, 400, "invalid_request", "since of statement orders_by_region is a DATE"},
		{"no warehouse for a statement without one", config.SQLNamed, `{"statement_name":"all_regions"}`, 400, "invalid_request", "warehouse_id (or warehouse_name) is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(d *Deps) { d.Config.SQL, d.Config.SQLStatements = tt.mode, namedStatements })
			r := s.do(t, runStatement(tt.body))
			if r.status != tt.status || (tt.code != "" && r.json["code"] != tt.code) || !strings.Contains(fmt.Sprint(r.json["detail"]), tt.detail) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if tt.status != 200 {
				if n := len(s.jobs.executions()); n != 0 {
					t.Fatalf("a refused request was executed %d times", n)
				}
				return
			}
			got := s.jobs.executions()[0]
			name := strings.Split(strings.Split(tt.body, `"statement_name":"`)[1], `"`)[0]
			if r.json["statement_name"] != name || got.Statement != namedStatements[name].Statement || got.WarehouseID != sharedSQL {
				t.Fatalf("ran %+v, answered %s", got, r.body)
			}
			for _, p := range got.Parameters {
				if p.Type != namedStatements[name].Parameters[p.Name] {
					t.Fatalf("parameter %s has type %q, the definition says %q", p.Name, p.Type, namedStatements[name].Parameters[p.Name])
				}
			}
			if tag := got.QueryTags[len(got.QueryTags)-1]; tag.Key != "flowbricks_statement" || tag.Value != name {
				t.Fatalf("query tags %v", got.QueryTags)
			}
		})
	}
}

// TestSQLGuards: FLOWBRICKS_SQL=off closes the four SQL routes, and they refuse app-only callers
// (who have no Unity Catalog grants of their own), before any upstream call.
func TestSQLGuards(t *testing.T) {
	routes := []call{
		runStatement(ordersStatement),
		{method: "GET", path: "/api/sql/statements/01f0c2a4-0000-4000-8000-000000000001"},
		{method: "POST", path: "/api/sql/statements/01f0c2a4-0000-4000-8000-000000000001/cancel"},
		{method: "GET", path: "/api/sql/warehouses"},
	}
	tests := []struct {
		name  string
		mode  config.SQLMode
		token string
		code  string
	}{
		{"FLOWBRICKS_SQL=off", config.SQLOff, aliceToken, "sql_disabled"},
		{"an app-only caller", config.SQLAny, "token-app-1", "user_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(d *Deps) { d.Config.SQL = tt.mode; withApps(d) })
			for _, c := range routes {
				c.token = tt.token
				if r := s.do(t, c); r.status != 403 || r.json["code"] != tt.code {
					t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
				}
			}
			if n := len(s.jobs.executions()); n != 0 || len(s.jobs.canceled) != 0 {
				t.Fatalf("refused requests reached Databricks")
			}
		})
	}
	t.Run("the job endpoints stay open to app callers with SQL off", func(t *testing.T) {
		s := newTestServer(t, func(d *Deps) { d.Config.SQL = config.SQLOff; withApps(d) })
		if r := s.do(t, call{method: "GET", path: "/api/jobs", token: "token-app-1"}); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestStatementErrorMapping(t *testing.T) {
	dbx := func(kind error, op, detail string) error {
		return &databricks.Error{Kind: kind, Op: op, Detail: detail, RetryAfter: 30 * time.Second}
	}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		detail string
	}{
		{"no CAN_USE on the warehouse", dbx(databricks.ErrPermissionDenied, databricks.OpExecuteStatement, "User alice does not have permission to use warehouse"), 403, "forbidden", "CAN_USE on the SQL warehouse"},
		{"not in the workspace", dbx(databricks.ErrNotInWorkspace, databricks.OpExecuteStatement, "User not authorized"), 403, "not_in_workspace", "not a member"},
		{"throttled", dbx(databricks.ErrThrottled, databricks.OpExecuteStatement, ""), 429, "throttled", "rate-limiting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, nil)
			s.jobs.sqlErr = tt.err
			r := s.do(t, runStatement(ordersStatement))
			if r.status != tt.status || r.json["code"] != tt.code || !strings.Contains(fmt.Sprint(r.json["detail"]), tt.detail) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		})
	}
}

// TestStatementRetries: a retried POST of one flow action (same caller, workflow headers or
// Idempotency-Key, and body) executes once and answers from the statement it started; anything
// that differs executes again.
func TestStatementRetries(t *testing.T) {
	workflow := func(run, op string) map[string]string {
		return map[string]string{headerWorkflowRunID: run, headerWorkflowOperation: op}
	}
	send := func(t *testing.T, s *testServer, token, body string, h map[string]string) response {
		t.Helper()
		r := s.do(t, call{method: "POST", path: "/api/sql/statements", token: token, body: body, headers: h})
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return r
	}

	t.Run("a retry executes once and answers the same", func(t *testing.T) {
		s := newTestServer(t, nil)
		first := send(t, s, aliceToken, ordersStatement, workflow("RUN1", "Run_query"))
		again := send(t, s, aliceToken, ordersStatement, workflow("RUN1", "Run_query"))
		if n := len(s.jobs.executions()); n != 1 {
			t.Fatalf("executed %d times", n)
		}
		if again.body != first.body {
			t.Fatalf("the retry answered\n%s\nthe first\n%s", again.body, first.body)
		}
		logs := s.logs.String()
		if strings.Count(logs, `"action":"sql-execute"`) != 2 || !strings.Contains(logs, `"replayed":true`) || !strings.Contains(logs, `"replayed":false`) {
			t.Fatalf("audit lines:\n%s", logs)
		}
	})

	t.Run("an Idempotency-Key ties retries together, and is audited as its label", func(t *testing.T) {
		s := newTestServer(t, nil)
		h := map[string]string{headerIdempotencyKey: "order-42"}
		send(t, s, aliceToken, ordersStatement, h)
		send(t, s, aliceToken, ordersStatement, h)
		if n := len(s.jobs.executions()); n != 1 {
			t.Fatalf("executed %d times", n)
		}
		if logs := s.logs.String(); strings.Contains(logs, "order-42") || !strings.Contains(logs, `"idempotency_key":"[sha256:`) {
			t.Fatalf("the key is not audited as its label:\n%s", logs)
		}
	})

	t.Run("whatever differs executes again", func(t *testing.T) {
		s := newTestServer(t, nil)
		other := `{"statement":"SELECT * FROM main.sales.orders WHERE region = :region","warehouse_id":"` + sharedSQL + `","parameters":[{"name":"region","value":"APAC"}]}`
		otherLimit := `{"statement":"SELECT * FROM main.sales.orders WHERE region = :region","warehouse_id":"` + sharedSQL + `","parameters":[{"name":"region","value":"EMEA"}],"row_limit":10}`
		send(t, s, aliceToken, ordersStatement, workflow("RUN1", "Run_query"))
		cases := []struct {
			name, token, body string
			headers           map[string]string
		}{
			{"another caller with the same headers", "token-bob", ordersStatement, workflow("RUN1", "Run_query")},
			{"the same caller with another parameter value", aliceToken, other, workflow("RUN1", "Run_query")},
			{"the same caller with another row_limit", aliceToken, otherLimit, workflow("RUN1", "Run_query")},
			{"another action", aliceToken, ordersStatement, workflow("RUN1", "Run_query_2")},
			{"another run", aliceToken, ordersStatement, workflow("RUN2", "Run_query")},
			{"no headers", aliceToken, ordersStatement, nil},
			{"no headers again", aliceToken, ordersStatement, nil},
		}
		seen := map[string]string{}
		for i, c := range cases {
			r := send(t, s, c.token, c.body, c.headers)
			if n := len(s.jobs.executions()); n != i+2 {
				t.Fatalf("%s: executed %d times in all, want %d", c.name, n, i+2)
			}
			id := r.json["statement_id"].(string)
			if prev, dup := seen[id]; dup {
				t.Fatalf("%s got the statement of %s", c.name, prev)
			}
			seen[id] = c.name
		}
	})

	t.Run("a failed execute is forgotten: the retry executes", func(t *testing.T) {
		s := newTestServer(t, nil)
		s.jobs.executeErr = &databricks.Error{Kind: databricks.ErrUnavailable, Op: databricks.OpExecuteStatement, Detail: "timeout"}
		if r := s.do(t, call{method: "POST", path: "/api/sql/statements", token: aliceToken, body: ordersStatement, headers: workflow("RUN1", "Run_query")}); r.status != 503 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		s.jobs.mu.Lock()
		s.jobs.executeErr = nil
		s.jobs.mu.Unlock()
		send(t, s, aliceToken, ordersStatement, workflow("RUN1", "Run_query"))
		send(t, s, aliceToken, ordersStatement, workflow("RUN1", "Run_query"))
		if n := len(s.jobs.executions()); n != 1 {
			t.Fatalf("executed %d times after the failure, want 1", n)
		}
	})

	t.Run("concurrent duplicates execute once", func(t *testing.T) {
		s := newTestServer(t, nil)
		s.jobs.gate, s.jobs.entered = make(chan struct{}), make(chan struct{}, 8)
		const n = 4
		answers := make(chan response, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				answers <- s.do(t, call{method: "POST", path: "/api/sql/statements", token: aliceToken, body: ordersStatement, headers: workflow("RUN1", "Run_query")})
			})
		}
		select { // the first request is executing; the others wait for it
		case <-s.jobs.entered:
		case <-testsupport.Context(t).Done():
			t.Fatal("no request executed before the test's deadline")
		}
		close(s.jobs.gate)
		wg.Wait()
		close(answers)
		var ids []string
		for r := range answers {
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			ids = append(ids, r.json["statement_id"].(string))
		}
		if got := len(s.jobs.executions()); got != 1 || len(s.jobs.entered) != 0 {
			t.Fatalf("executed %d times (%d more entered)", got, len(s.jobs.entered))
		}
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("answers name different statements: %v", ids)
			}
		}
	})
}

// TestStatementQueryTagsAndAudit: tags name the flow's run and action (redacted like every
// request value); the audit line names caller, workspace, warehouse and statement by a digest,
// never its text or a parameter value.
func TestStatementQueryTagsAndAudit(t *testing.T) {
	s := newTestServer(t, nil)
	const secretValue = "p4ssw0rd-as-a-parameter"
	body := `{"statement":"SELECT * FROM main.sales.customers WHERE secret = :v","warehouse_id":"` + sharedSQL + `","parameters":[{"name":"v","value":"` + secretValue + `"}]}`
	r := s.do(t, call{method: "POST", path: "/api/sql/statements", token: aliceToken, body: body,
		headers: map[string]string{headerWorkflowRunID: "08585RUN", headerWorkflowOperation: longToken}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	tags := fmt.Sprint(s.jobs.executions()[0].QueryTags)
	if want := "[{flowbricks } {flowbricks_workflow_run 08585RUN} {flowbricks_action " + redact.Label(longToken) + "}]"; tags != want {
		t.Fatalf("query tags %s, want %s", tags, want)
	}
	logs := s.logs.String()
	var audit map[string]any
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"action":"sql-execute"`) {
			_ = json.Unmarshal([]byte(line), &audit)
		}
	}
	want := map[string]any{
		"audit": true, "caller_name": "alice@contoso.example", "caller_tenant": "tid", "caller_oid": "oid-alice", "workspace": "default",
		"warehouse_id": sharedSQL, "statement_id": r.json["statement_id"], "statement_sha256": statementDigest("SELECT * FROM main.sales.customers WHERE secret = :v"),
		"replayed": false, "workflow_run_id": "08585RUN",
	}
	for k, v := range want {
		if audit[k] != v {
			t.Errorf("audit %s = %v, want %v", k, audit[k], v)
		}
	}
	if len(want["statement_sha256"].(string)) != 16 {
		t.Errorf("statement_sha256 %v is not 16 hex digits", want["statement_sha256"])
	}
	for _, leak := range []string{secretValue, "main.sales.customers", aliceToken, dbxPrefix} {
		if strings.Contains(logs, leak) {
			t.Errorf("the logs carry %q:\n%s", leak, logs)
		}
	}
	if p := leakedPiece(logs, longToken); p != "" {
		t.Errorf("the logs carry a piece of the token-shaped header: %q", p)
	}
}

// TestNoTokenInSQLLogs runs every SQL route, its refusals included, and looks for the tokens in
// the answers (do) and the logs.
func TestNoTokenInSQLLogs(t *testing.T) {
	s := newTestServer(t, func(d *Deps) { withApps(d) })
	r := s.do(t, runStatement(ordersStatement))
	id := r.json["statement_id"].(string)
	for _, c := range []call{
		{method: "POST", path: "/api/sql/statements?wait=true", token: aliceToken, body: `{"statement":"SELECT FAIL","warehouse_id":"` + sharedSQL + `"}`},
		{method: "GET", path: "/api/sql/statements/" + id + "?chunk_index=1", token: aliceToken},
		{method: "POST", path: "/api/sql/statements/" + id + "/cancel", token: aliceToken},
		{method: "GET", path: "/api/sql/warehouses", token: aliceToken},
		{method: "GET", path: "/api/sql/statements/" + longToken, token: aliceToken},
		{method: "GET", path: "/api/sql/warehouses", token: "token-app-1"},
		{method: "POST", path: "/api/sql/statements", token: aliceToken, body: `{"statement":"SELECT 1","warehouse_name":"` + longToken + `"}`},
		{method: "POST", path: "/api/sql/statements", token: aliceToken, body: `{"statement":"SELECT 1","warehouse_id":"` + sharedSQL + `","parameters":[{"name":"` + longToken + `"}]}`},
	} {
		r := s.do(t, c)
		if p := leakedPiece(r.body, longToken); p != "" {
			t.Errorf("%s %.40s: the answer carries %q", c.method, c.path, p)
		}
	}
	logs := s.logs.String()
	if strings.Contains(logs, aliceToken) || strings.Contains(logs, dbxPrefix) || leakedPiece(logs, longToken) != "" {
		t.Fatalf("logs leak a token:\n%s", logs)
	}
}

// TestStatementWaitFollowsTheUpstreamTimeout: the wait leaves the upstream call time to answer.
func TestStatementWaitFollowsTheUpstreamTimeout(t *testing.T) {
	for _, tt := range []struct {
		upstream, want time.Duration
	}{
		{0, 10 * time.Second}, {30 * time.Second, 10 * time.Second}, {12 * time.Second, 7 * time.Second}, {9 * time.Second, 0},
	} {
		s := &server{Deps: Deps{Config: config.Config{UpstreamTimeout: tt.upstream}}}
		if got := s.statementWait(); got != tt.want {
			t.Errorf("upstream timeout %v: wait %v, want %v", tt.upstream, got, tt.want)
		}
	}
}
