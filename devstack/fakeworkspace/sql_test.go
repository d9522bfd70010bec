package fakeworkspace

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// The fixture's warehouses (testdata/workspace.json, the same as the stack's).
const (
	sharedWH  = "5f3c0a1b2c3d4e5f" // RUNNING; alice and bob
	coldWH    = "9a8b7c6d5e4f3a2b" // STOPPED, starts in 2 s; alice and bob
	financeWH = "0f1e2d3c4b5a6978" // RUNNING; alice only
)

// fixtureConfig is testdata/workspace.json: the SQL tests run on the fixture the stack uses.
func fixtureConfig(t *testing.T) Config {
	t.Helper()
	f, err := os.Open("testdata/workspace.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// stmtAnswer is a statement answer as JSON, decoded loosely so tests see exactly what was sent.
type stmtAnswer struct {
	StatementID string `json:"statement_id"`
	Status      struct {
		State string `json:"state"`
		Error *struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		} `json:"error"`
		SQLState string `json:"sql_state"`
	} `json:"status"`
	Manifest *struct {
		Format string `json:"format"`
		Schema struct {
			ColumnCount int `json:"column_count"`
			Columns     []struct {
				Name          string `json:"name"`
				Position      *int   `json:"position"`
				TypeName      string `json:"type_name"`
				TypeText      string `json:"type_text"`
				TypePrecision *int   `json:"type_precision"`
				TypeScale     *int   `json:"type_scale"`
			} `json:"columns"`
		} `json:"schema"`
		TotalChunkCount int `json:"total_chunk_count"`
		Chunks          []struct {
			ChunkIndex *int `json:"chunk_index"`
			RowOffset  *int `json:"row_offset"`
			RowCount   int  `json:"row_count"`
		} `json:"chunks"`
		TotalRowCount int64 `json:"total_row_count"`
		Truncated     *bool `json:"truncated"`
	} `json:"manifest"`
	Result *chunkAnswer `json:"result"`
}

type chunkAnswer struct {
	ChunkIndex            *int        `json:"chunk_index"`
	RowOffset             *int64      `json:"row_offset"`
	RowCount              int64       `json:"row_count"`
	DataArray             [][]*string `json:"data_array"`
	NextChunkIndex        *int        `json:"next_chunk_index"`
	NextChunkInternalLink string      `json:"next_chunk_internal_link"`
}

// sqlDo sends a raw request and decodes the JSON answer into out (when the status is 200).
func (h *harness) sqlDo(method, path, user, body string, out any) (int, map[string]any) {
	h.t.Helper()
	resp := h.raw(method, path, "tok-"+user, body)
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return resp.StatusCode, nil // not JSON (the Jetty page)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("%s %s: %v\n%s", method, path, err, raw)
		}
	}
	return resp.StatusCode, m
}

// execute posts an execute-statement body (a JSON object's fields, without braces around them).
func (h *harness) execute(user, fields string) stmtAnswer {
	h.t.Helper()
	var a stmtAnswer
	if code, m := h.sqlDo("POST", PathStatements, user, "{"+fields+"}", &a); code != http.StatusOK {
		h.t.Fatalf("execute {%s} as %s: %d %v", fields, user, code, m)
	}
	return a
}

func (h *harness) statement(user, id string) stmtAnswer {
	h.t.Helper()
	var a stmtAnswer
	if code, m := h.sqlDo("GET", PathStatements+"/"+id, user, "", &a); code != http.StatusOK {
		h.t.Fatalf("get %s as %s: %d %v", id, user, code, m)
	}
	return a
}

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestSQLStatementFailuresLookLikeDatabricks(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	cases := []struct {
		name, user, fields string
		class, sqlState    string
		message            string // a part of the message
	}{
		{name: "bob may not read orders (Unity Catalog)", user: "bob",
			fields: `"statement": "SELECT * FROM main.sales.orders"`, class: "INSUFFICIENT_PERMISSIONS", sqlState: "42501",
			message: "Insufficient privileges:\nUser does not have SELECT on Table 'main.sales.orders'."},
		{name: "grants are checked in a join too", user: "bob",
			fields: `"statement": "SELECT r.manager FROM main.sales.regions r JOIN main.sales.orders o ON o.region = r.region"`,
			class:  "INSUFFICIENT_PERMISSIONS", sqlState: "42501", message: "main.sales.orders"},
		{name: "a table that does not exist", user: "alice",
			fields: `"statement": "SELECT * FROM main.sales.nope"`, class: "TABLE_OR_VIEW_NOT_FOUND", sqlState: "42P01",
			message: "The table or view `main`.`sales`.`nope` cannot be found."},
		{name: "a one-level name resolves against the default catalog and schema (main.default)", user: "alice",
			fields: `"statement": "SELECT * FROM orders"`, class: "TABLE_OR_VIEW_NOT_FOUND", sqlState: "42P01",
			message: "`main`.`default`.`orders`"},
		{name: "a syntax error", user: "alice",
			fields: `"statement": "SELECT region FORM main.sales.regions"`, class: "PARSE_SYNTAX_ERROR", sqlState: "42601",
			message: "Syntax error at or near"},
		{name: "two statements in one", user: "alice",
			fields: `"statement": "SELECT 1; DROP TABLE main.sales.orders"`, class: "PARSE_SYNTAX_ERROR", sqlState: "42601"},
		{name: "an unbound parameter marker", user: "alice",
			fields: `"statement": "SELECT * FROM main.sales.regions WHERE region = :region"`, class: "UNBOUND_SQL_PARAMETER",
			sqlState: "42P02", message: "Found the unbound parameter: region."},
		{name: "a parameter that cannot be cast to its type", user: "alice",
			fields: `"statement": "SELECT * FROM main.sales.orders WHERE quantity > :q", "parameters": [{"name": "q", "value": "lots", "type": "INT"}]`,
			class:  "CAST_INVALID_INPUT", sqlState: "22018", message: `The value 'lots' of the type "STRING" cannot be cast to "INT"`},
		{name: "a column that does not exist", user: "alice",
			fields: `"statement": "SELECT colour FROM main.sales.regions"`, class: "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION", sqlState: "42703"},
		{name: "a write is refused", user: "alice",
			fields: `"statement": "UPDATE main.sales.regions SET active = false"`, sqlState: "4"},
		{name: "positional markers are not supported", user: "alice",
			fields: `"statement": "SELECT * FROM main.sales.regions WHERE region = ?"`, class: "PARSE_SYNTAX_ERROR", sqlState: "42601"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.execute(c.user, `"warehouse_id": "`+sharedWH+`", `+c.fields)
			if a.Status.State != stateFailed || a.Status.Error == nil {
				t.Fatalf("state %s, error %v; want FAILED", a.Status.State, a.Status.Error)
			}
			e := a.Status.Error
			if e.ErrorCode != "BAD_REQUEST" || !strings.HasPrefix(a.Status.SQLState, c.sqlState) ||
				c.class != "" && !strings.HasPrefix(e.Message, "["+c.class+"] ") || !strings.Contains(e.Message, c.message) ||
				c.class != "" && !strings.Contains(e.Message, "SQLSTATE: "+c.sqlState) {
				t.Errorf("error %+v sql_state %q; want class %s, state %s, message with %q", e, a.Status.SQLState, c.class, c.sqlState, c.message)
			}
			if a.Manifest != nil || a.Result != nil {
				t.Errorf("a FAILED statement has a manifest or result")
			}
		})
	}
	// Nothing above changed the tables.
	a := h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT count(*) AS n, sum(active) AS a FROM main.sales.regions"`)
	if got := *a.Result.DataArray[0][0] + "/" + *a.Result.DataArray[0][1]; got != "5/4" {
		t.Errorf("regions: %s rows/active, want 5/4", got)
	}
}

func TestSQLRequestErrorsAreHTTPErrors(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	ok := `"warehouse_id": "` + sharedWH + `", "statement": "SELECT 1"`
	cases := []struct {
		name, user, body string
		status           int
		code             string // error_code; "" for the Jetty page
	}{
		{"wait_timeout below 5s", "alice", `{` + ok + `, "wait_timeout": "3s"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"wait_timeout above 50s", "alice", `{` + ok + `, "wait_timeout": "51s"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"wait_timeout without unit", "alice", `{` + ok + `, "wait_timeout": "10"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"on_wait_timeout unknown", "alice", `{` + ok + `, "on_wait_timeout": "WAIT"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"EXTERNAL_LINKS", "alice", `{` + ok + `, "disposition": "EXTERNAL_LINKS"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"CSV needs EXTERNAL_LINKS", "alice", `{` + ok + `, "format": "CSV"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"no statement", "alice", `{"warehouse_id": "` + sharedWH + `"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"no warehouse", "alice", `{"statement": "SELECT 1"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"duplicate parameter", "alice", `{` + ok + `, "parameters": [{"name": "a"}, {"name": "A"}]}`, 400, "INVALID_PARAMETER_VALUE"},
		{"not JSON", "alice", `{`, 400, "MALFORMED_REQUEST"},
		{"unknown warehouse", "alice", `{"warehouse_id": "ffffffffffffffff", "statement": "SELECT 1"}`, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"bob has no CAN_USE on Finance SQL", "bob", `{"warehouse_id": "` + financeWH + `", "statement": "SELECT 1"}`, 403, "PERMISSION_DENIED"},
		{"carol is not in the workspace", "carol", `{` + ok + `}`, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m := h.sqlDo("POST", PathStatements, c.user, c.body, nil)
			if code != c.status || c.code != "" && m["error_code"] != c.code || c.code == "" && m != nil {
				t.Errorf("%d %v; want %d %s", code, m, c.status, c.code)
			}
		})
	}
	t.Run("unknown statement, chunk and cancel", func(t *testing.T) {
		for _, p := range []struct{ method, path string }{
			{"GET", PathStatements + "/01f0ffff-0000-4000-8000-000000000000"},
			{"GET", PathStatements + "/01f0ffff-0000-4000-8000-000000000000/result/chunks/0"},
			{"POST", PathStatements + "/01f0ffff-0000-4000-8000-000000000000/cancel"},
		} {
			if code, m := h.sqlDo(p.method, p.path, "alice", "", nil); code != 404 || m["error_code"] != "NOT_FOUND" {
				t.Errorf("%s %s: %d %v", p.method, p.path, code, m)
			}
		}
	})
}

func TestSQLTypedValuesAndColumns(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	a := h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT order_id, quantity, amount, discount, region, express, order_date, created_at, tags, customer, quantity * 2 AS twice, discount / 2 AS half, 'x' AS lit, NULL AS void_col FROM main.sales.orders WHERE order_id IN (1001, 1004, 1012, 1018) OR order_id > 9007199254740992 ORDER BY order_id LIMIT 5"`)
	if a.Status.State != stateSucceeded {
		t.Fatalf("state %s %+v", a.Status.State, a.Status.Error)
	}
	wantCols := []string{
		"order_id LONG BIGINT", "quantity INT INT", "amount DECIMAL DECIMAL(10,2) 10,2", "discount DOUBLE DOUBLE",
		"region STRING STRING", "express BOOLEAN BOOLEAN", "order_date DATE DATE", "created_at TIMESTAMP TIMESTAMP",
		"tags ARRAY ARRAY<STRING>", "customer STRUCT STRUCT<id: INT, tier: STRING>",
		// Computed columns: typed from their values (an integer is a BIGINT, a real a DOUBLE).
		"twice LONG BIGINT", "half DOUBLE DOUBLE", "lit STRING STRING", "void_col NULL VOID",
	}
	m := a.Manifest
	if m.Format != "JSON_ARRAY" || m.Schema.ColumnCount != len(wantCols) || len(m.Schema.Columns) != len(wantCols) {
		t.Fatalf("manifest %+v", m)
	}
	for i, c := range m.Schema.Columns {
		got := fmt.Sprintf("%s %s %s", c.Name, c.TypeName, c.TypeText)
		if c.TypePrecision != nil {
			got += fmt.Sprintf(" %d,%d", *c.TypePrecision, *c.TypeScale)
		}
		if got != wantCols[i] || c.Position == nil || *c.Position != i {
			t.Errorf("column %d: %s (position %v), want %s", i, got, c.Position, wantCols[i])
		}
	}
	str := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	var rows []string
	for _, r := range a.Result.DataArray {
		var cells []string
		for _, v := range r {
			cells = append(cells, str(v))
		}
		rows = append(rows, strings.Join(cells, " | "))
	}
	want := []string{
		`1001 | 1 | 5.00 | 0.0 | EMEA | true | 2026-01-01 | 2026-01-01T00:00:00.000Z | ["web"] | {"id":1,"tier":"gold"} | 2 | 0.0 | x | null`,
		`1004 | 2 | 877.11 | null | LATAM | true | 2026-01-04 | 2026-01-04T03:05:03.000Z | ["store"] | {"id":4,"tier":"gold"} | 4 | null | x | null`,
		`1012 | 18 | 549.07 | 0.05 | AMER | false | 2026-01-12 | 2026-01-12T11:18:31.000Z | null | {"id":12,"tier":"bronze"} | 36 | 0.025 | x | null`,
		`1018 | 20 | 303.29 | 0.1 | APAC | false | 2026-01-18 | 2026-01-18T17:28:37.000Z | ["web","promo"] | null | 40 | 0.05 | x | null`,
		// Order ids above 2^53 are exact: they travel as strings.
		`9007199254741192 | 14 | 801.63 | 0.2 | ANZ | false | 2026-07-19 | 2026-07-19T12:34:59.000Z | ["store"] | {"id":40,"tier":"silver"} | 28 | 0.1 | x | null`,
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

func TestSQLTableNamesResolveLikeDatabricks(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	cases := []struct{ name, fields, want string }{
		{"three levels", `"statement": "SELECT count(*) FROM main.sales.regions"`, "5"},
		{"backticks and any case", "\"statement\": \"SELECT count(*) FROM `Main`.`SALES`.`regions`\"", "5"},
		{"two levels take the request's catalog", `"catalog": "main", "statement": "SELECT count(*) FROM sales.regions"`, "5"},
		{"one level takes catalog and schema", `"catalog": "main", "schema": "sales", "statement": "SELECT count(*) FROM regions"`, "5"},
		{"the table name qualifies columns", `"statement": "SELECT regions.manager FROM main.sales.regions WHERE regions.region = 'ANZ'"`, "Noah Reid"},
		{"aliases, joins and comma lists", `"statement": "SELECT count(*) FROM main.sales.regions r, main.sales.orders AS o WHERE o.region = r.region AND r.active"`, "960"},
		{"a common table expression is not a table", `"statement": "WITH active AS (SELECT region FROM main.sales.regions WHERE active) SELECT count(*) FROM active"`, "4"},
		{"a subquery in the select list", `"statement": "SELECT (SELECT count(*) FROM main.sales.orders WHERE express) AS n"`, "400"},
		{"string literals in double quotes and with backslashes", `"statement": "SELECT count(*) FROM main.sales.regions WHERE region = \"EMEA\" OR manager = 'O\\'Brien'"`, "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.execute("alice", `"warehouse_id": "`+sharedWH+`", `+c.fields)
			if a.Status.State != stateSucceeded || len(a.Result.DataArray) != 1 || *a.Result.DataArray[0][0] != c.want {
				t.Errorf("%+v %+v, want %s", a.Status, a.Result, c.want)
			}
		})
	}
}
