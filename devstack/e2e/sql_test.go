package e2e

// End-to-end tests of SQL as the signed-in user (docs/sql.md): every statement runs with the
// caller's own Databricks token, so the fake workspace's Unity Catalog grants decide what comes
// back. Typed rows, Databricks' own errors, the 202 pattern, cancel, paging with next, parameters
// that stay data, named mode, retries that execute once, warehouses by name and a warehouse that
// starts — all through the host stand-in over HTTP, with the fake workspace's statements and
// counters as proof of what reached Databricks. Each test has a stack of its own: they move the
// fake's clock and count its statements.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/recipes"
)

// sqlAnswer is flowbricks' statement answer (docs/sql.md, The answer), plus the problem fields of a 424.
type sqlAnswer struct {
	StatementID   string `json:"statement_id"`
	State         string `json:"state"`
	Terminal      bool   `json:"terminal"`
	Succeeded     bool   `json:"succeeded"`
	StatementName string `json:"statement_name"`
	Columns       []struct {
		Name     string `json:"name"`
		Key      string `json:"key"`
		Type     string `json:"type"`
		TypeName string `json:"type_name"`
		Position int    `json:"position"`
	} `json:"columns"`
	// Rows keep each value's JSON text: what a flow receives, digit for digit.
	Rows          []map[string]json.RawMessage `json:"rows"`
	RowCount      int64                        `json:"row_count"`
	RowOffset     int64                        `json:"row_offset"`
	ChunkIndex    int                          `json:"chunk_index"`
	ChunkCount    int                          `json:"chunk_count"`
	TotalRowCount int64                        `json:"total_row_count"`
	Truncated     bool                         `json:"truncated"`
	Next          string                       `json:"next"`
	Error         *struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		SQLState string `json:"sql_state"`
	} `json:"error"`

	// Only in the 424 of wait mode.
	Code   string `json:"code"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// The fixture's warehouses (devstack/stack/fixture.json, workspace.sql).
const (
	sharedSQL     = "Shared SQL"     // RUNNING; alice and bob have CAN USE
	coldWarehouse = "Cold Warehouse" // STOPPED until a statement arrives
	financeSQL    = "Finance SQL"    // RUNNING; alice only
)

// Databricks' refusal of a statement for a missing Unity Catalog privilege: the error class
// opens the message, and the SQL state is insufficient privilege (docs/sql.md, Run a statement).
const (
	insufficientPermissions = "[INSUFFICIENT_PERMISSIONS]"
	sqlStateNoPrivilege     = "42501"
)

// warehouseID is the id of the fixture's warehouse called name.
func (s *stack) warehouseID(t *testing.T, name string) string {
	t.Helper()
	for _, w := range s.Fixture.Workspace.SQL.Warehouses {
		if w.Name == name {
			return w.ID
		}
	}
	t.Fatalf("no warehouse %q in the fixture", name)
	return ""
}

// runSQL posts a RunStatement body (query may carry ?wait=true and the like).
func (s *stack) runSQL(t *testing.T, token, query, body string, header map[string]string) apiResponse {
	t.Helper()
	return s.call(t, apiCall{method: http.MethodPost, path: "/api/sql/statements" + query, token: token, body: body, header: header})
}

// statementBody is a RunStatement body for text on a warehouse given by name.
func statementBody(t *testing.T, text, warehouseName string, params ...map[string]any) string {
	t.Helper()
	body := map[string]any{"statement": text, "warehouse_name": warehouseName}
	if len(params) > 0 {
		body["parameters"] = params
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// whileStatementWaits sends one execute (send) and, as soon as the fake workspace holds the new
// statement, moves its clock past the wait flowbricks asked for (the statement's wait_timeout).
// The fake then answers with the state at the end of that wait, as Databricks would, instead of
// holding the request for the wait in wall-clock time. Only for tests whose stack runs nothing
// else: the new statement is the last one the fake holds. Bounded by the test's deadline.
func (s *stack) whileStatementWaits(t *testing.T, send func() apiResponse) apiResponse {
	t.Helper()
	ctx := testContext(t)
	known := len(s.Workspace.Statements())
	sent, moved := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			if recs := s.Workspace.Statements(); len(recs) > known {
				wait, err := time.ParseDuration(recs[len(recs)-1].WaitTimeout)
				if err == nil {
					s.Clock.Advance(wait + time.Second)
				}
				moved <- err
				return
			}
			select {
			case <-sent:
				moved <- nil // answered without a new statement: a replay, or refused before Databricks
				return
			case <-ctx.Done():
				moved <- ctx.Err()
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	r := send()
	close(sent)
	if err := <-moved; err != nil {
		t.Fatalf("moving the fake's clock past the statement's wait: %v", err)
	}
	return r
}

// lastStatement is what the fake workspace holds of the newest statement.
func (s *stack) lastStatement(t *testing.T) fakeworkspace.StatementRecord {
	t.Helper()
	recs := s.Workspace.Statements()
	if len(recs) == 0 {
		t.Fatal("the fake workspace holds no statement")
	}
	return recs[len(recs)-1]
}

// jsonText compacts JSON for comparison.
func jsonText(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return b.String()
}

func TestSQLRunsAsTheSignedInUser(t *testing.T) {
	t.Parallel()
	s, logs := startCapturedStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})
	carol := s.userToken(t, "carol", fakeentra.MintOptions{})
	const ordersText = "SELECT order_id, region FROM main.sales.orders ORDER BY order_id LIMIT 3"
	const injection = "'; DROP TABLE main.sales.orders; --"

	t.Run("alice gets typed rows", func(t *testing.T) {
		// Three orders of the fixture's generator: an ordinary one, one with NULLs, one whose id
		// is above 2^53. The ids travel as BIGINT parameters, the largest as an exact JSON number.
		r := s.runSQL(t, alice, "", `{
			"statement": "SELECT order_id, quantity, amount, discount, region, express, order_date, created_at, tags, customer FROM main.sales.orders WHERE order_id IN (:plain, :nulls, :big) ORDER BY order_id",
			"warehouse_name": "shared sql",
			"parameters": [{"name": "plain", "value": 1001, "type": "BIGINT"}, {"name": "nulls", "value": 1018, "type": "BIGINT"},
			               {"name": "big", "value": 9007199254741192, "type": "BIGINT"}]}`, nil)
		a := decodeAs[sqlAnswer](t, r)
		if r.status != http.StatusOK || a.State != "SUCCEEDED" || !a.Succeeded || !a.Terminal || a.Error != nil {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		if a.RowCount != 3 || a.TotalRowCount != 3 || a.ChunkCount != 1 || a.Next != "" || a.Truncated || len(a.Rows) != 3 {
			t.Fatalf("want 3 rows in one chunk: %s", r.body)
		}
		wantColumns := []string{"order_id BIGINT LONG", "quantity INT INT", "amount DECIMAL(10,2) DECIMAL", "discount DOUBLE DOUBLE",
			"region STRING STRING", "express BOOLEAN BOOLEAN", "order_date DATE DATE", "created_at TIMESTAMP TIMESTAMP",
			"tags ARRAY<STRING> ARRAY", "customer STRUCT<id: INT, tier: STRING> STRUCT"}
		var gotColumns []string
		for i, c := range a.Columns {
			gotColumns = append(gotColumns, c.Name+" "+c.Type+" "+c.TypeName)
			if c.Position != i || c.Key != c.Name {
				t.Errorf("column %d: position %d key %q", i, c.Position, c.Key)
			}
		}
		if !slices.Equal(gotColumns, wantColumns) {
			t.Errorf("columns (name, type, type_name):\n got %q\nwant %q", gotColumns, wantColumns)
		}
		tests := []struct {
			row    int
			column string
			want   string // the value's JSON text
			why    string
		}{
			{0, "order_id", `1001`, "BIGINT within 2^53: a number"},
			{2, "order_id", `"9007199254741192"`, "BIGINT above 2^53: a string, no digit lost"},
			{0, "quantity", `1`, "INT: a number"},
			{0, "amount", `"5.00"`, "DECIMAL: always a string, scale kept"},
			{2, "amount", `"801.63"`, "DECIMAL: always a string"},
			{0, "discount", `0.0`, "DOUBLE: a number, as Databricks writes it"},
			{2, "discount", `0.2`, "DOUBLE: a number"},
			{0, "region", `"EMEA"`, "STRING"},
			{0, "express", `true`, "BOOLEAN: true/false"},
			{2, "express", `false`, "BOOLEAN: true/false"},
			{0, "order_date", `"2026-01-01"`, "DATE: ISO 8601"},
			{0, "created_at", `"2026-01-01T00:00:00.000Z"`, "TIMESTAMP: ISO 8601 as Databricks sends it"},
			{0, "tags", `["web"]`, "ARRAY: parsed JSON"},
			{2, "tags", `["store"]`, "ARRAY: parsed JSON"},
			{0, "customer", `{"id":1,"tier":"gold"}`, "STRUCT: parsed JSON"},
			{1, "customer", `null`, "NULL: null"},
		}
		for _, tt := range tests {
			raw, ok := a.Rows[tt.row][tt.column]
			if !ok {
				t.Errorf("rows[%d] has no %s: %s", tt.row, tt.column, r.body)
				continue
			}
			if got := jsonText(t, raw); got != tt.want {
				t.Errorf("rows[%d].%s = %s, want %s (%s)", tt.row, tt.column, got, tt.want, tt.why)
			}
		}
		rec := s.lastStatement(t)
		if rec.Principal != "alice@contoso.example" || rec.WarehouseID != s.warehouseID(t, sharedSQL) {
			t.Errorf("the statement ran as %s on %s, want alice on %s", rec.Principal, rec.WarehouseID, sharedSQL)
		}
		if !slices.ContainsFunc(rec.QueryTags, func(q fakeworkspace.QueryTag) bool { return q.Key == "flowbricks" }) {
			t.Errorf("query tags %+v lack flowbricks", rec.QueryTags)
		}
	})

	t.Run("bob is refused by Unity Catalog on orders", func(t *testing.T) {
		tests := []struct {
			name, query string
			status      int
			code        string
		}{
			{"without wait: 200 with state FAILED", "", http.StatusOK, ""},
			{"with wait: 424 statement_failed", "?wait=true", http.StatusFailedDependency, "statement_failed"},
			{"with wait and fail_on_failure=false: 200", "?wait=true&fail_on_failure=false", http.StatusOK, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := s.Workspace.Stats().StatementsExecuted
				r := s.runSQL(t, bob, tt.query, statementBody(t, ordersText, sharedSQL), nil)
				a := decodeAs[sqlAnswer](t, r)
				if r.status != tt.status || a.Code != tt.code || a.State != "FAILED" || a.Succeeded || !a.Terminal {
					t.Fatalf("got %d %s", r.status, r.body)
				}
				// Databricks executed it and Unity Catalog refused: its message and SQL state reach the flow.
				if a.Error == nil || !strings.HasPrefix(a.Error.Message, insufficientPermissions) ||
					!strings.Contains(a.Error.Message, "main.sales.orders") || a.Error.SQLState != sqlStateNoPrivilege || a.Error.Code == "" {
					t.Fatalf("Databricks' error is not in the answer: %s", r.body)
				}
				if len(a.Rows) != 0 || a.Columns == nil || a.Rows == nil {
					t.Errorf("a failed statement has no rows, as [] not null: %s", r.body)
				}
				if tt.code != "" && (a.Status != tt.status || !strings.Contains(a.Detail, insufficientPermissions) || r.str("request_id") == "") {
					t.Errorf("424 problem fields: %s", r.body)
				}
				if n := s.Workspace.Stats().StatementsExecuted - before; n != 1 {
					t.Errorf("%d executes reached Databricks, want 1", n)
				}
			})
		}
	})

	t.Run("bob reads regions", func(t *testing.T) {
		r := s.runSQL(t, bob, "", statementBody(t, "SELECT region, manager, active FROM main.sales.regions ORDER BY region", sharedSQL), nil)
		a := decodeAs[sqlAnswer](t, r)
		if r.status != http.StatusOK || !a.Succeeded || a.TotalRowCount != 5 || len(a.Rows) != 5 {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		for i, row := range a.Rows {
			var active bool
			if json.Unmarshal(row["active"], &active) != nil || len(row["region"]) < 3 || len(row["manager"]) < 3 {
				t.Errorf("rows[%d] = %v: want region, manager and a boolean active", i, row)
			}
		}
		if rec := s.lastStatement(t); rec.Principal != "bob@contoso.example" {
			t.Errorf("the statement ran as %s, want bob", rec.Principal)
		}
	})

	refusals := []struct {
		name, token, method, path, body string
		status                          int
		code, detail                    string
	}{
		{"bob has no CAN USE on Finance SQL", bob, http.MethodPost, "/api/sql/statements", statementBody(t, ordersText, financeSQL),
			http.StatusNotFound, "warehouse_not_found", financeSQL}, // bob cannot even see it
		{"bob has no CAN USE on Finance SQL, by id", bob, http.MethodPost, "/api/sql/statements",
			fmt.Sprintf(`{"statement": %q, "warehouse_id": %q}`, ordersText, s.warehouseID(t, financeSQL)),
			http.StatusForbidden, "forbidden", "CAN_USE"},
		{"carol is not in the workspace", carol, http.MethodPost, "/api/sql/statements", statementBody(t, ordersText, sharedSQL) /* resolves the name first */, http.StatusForbidden, "not_in_workspace", ""},
		{"carol is not in the workspace, by id", carol, http.MethodPost, "/api/sql/statements",
			fmt.Sprintf(`{"statement": %q, "warehouse_id": %q}`, ordersText, s.warehouseID(t, sharedSQL)), http.StatusForbidden, "not_in_workspace", ""},
		{"carol lists no warehouses", carol, http.MethodGet, "/api/sql/warehouses", "", http.StatusForbidden, "not_in_workspace", ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := s.call(t, apiCall{method: tt.method, path: tt.path, token: tt.token, body: tt.body})
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("detail"), tt.detail) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		})
	}

	t.Run("an app-only caller is refused before Databricks: SQL needs a user", func(t *testing.T) {
		app := s.appToken(t, fixtureApp(t, devstack.DefaultAppCaller).ClientID, fakeentra.MintOptions{})
		if r := s.call(t, apiCall{method: http.MethodGet, path: "/api/jobs?name=daily-sales-refresh", token: app}); r.status != http.StatusOK {
			t.Fatalf("the app may call flowbricks (jobs): %d %s", r.status, r.body)
		}
		before := s.Workspace.Stats()
		for _, c := range []apiCall{
			{method: http.MethodPost, path: "/api/sql/statements", token: app, body: statementBody(t, ordersText, sharedSQL)},
			{method: http.MethodGet, path: "/api/sql/warehouses", token: app},
			{method: http.MethodGet, path: "/api/sql/statements/01f0c2a4-0000-4000-8000-000000000001", token: app},
			{method: http.MethodPost, path: "/api/sql/statements/01f0c2a4-0000-4000-8000-000000000001/cancel", token: app},
		} {
			if r := s.call(t, c); r.status != http.StatusForbidden || r.str("code") != "user_required" {
				t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
			}
		}
		if after := s.Workspace.Stats(); after.RequestsTotal != before.RequestsTotal {
			t.Errorf("%d requests reached the workspace", after.RequestsTotal-before.RequestsTotal)
		}
	})

	t.Run("a spliced-looking parameter value is data", func(t *testing.T) {
		countOrders := func() string {
			t.Helper()
			r := s.runSQL(t, alice, "", statementBody(t, "SELECT COUNT(*) AS n FROM main.sales.orders", sharedSQL), nil)
			a := decodeAs[sqlAnswer](t, r)
			if r.status != http.StatusOK || !a.Succeeded || len(a.Rows) != 1 {
				t.Fatalf("counting orders: %d %s", r.status, r.body)
			}
			return string(a.Rows[0]["n"])
		}
		if n := countOrders(); n != "1200" {
			t.Fatalf("orders has %s rows before, want 1200", n)
		}
		tests := []struct {
			name, text string
			rows       int
		}{
			{"selected back", "SELECT :note AS note", 1},
			{"compared with a column", "SELECT order_id FROM main.sales.orders WHERE region = :note", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.runSQL(t, alice, "", statementBody(t, tt.text, sharedSQL, map[string]any{"name": "note", "value": injection}), nil)
				a := decodeAs[sqlAnswer](t, r)
				if r.status != http.StatusOK || !a.Succeeded || len(a.Rows) != tt.rows {
					t.Fatalf("got %d %s", r.status, r.body)
				}
				if tt.rows == 1 {
					var note string
					if json.Unmarshal(a.Rows[0]["note"], &note) != nil || note != injection {
						t.Errorf("note = %s, want the value itself", a.Rows[0]["note"])
					}
				}
				// Databricks received the text as written and the value as a parameter.
				rec := s.lastStatement(t)
				if rec.Statement != tt.text || len(rec.Parameters) != 1 || rec.Parameters[0].Value == nil || *rec.Parameters[0].Value != injection {
					t.Errorf("Databricks got %q with %+v", rec.Statement, rec.Parameters)
				}
			})
		}
		if n := countOrders(); n != "1200" {
			t.Fatalf("orders has %s rows after, want 1200", n)
		}
	})

	t.Run("paging walks every chunk with next", func(t *testing.T) {
		r := s.runSQL(t, alice, "", statementBody(t, "SELECT order_id FROM main.sales.orders ORDER BY order_id", sharedSQL), nil)
		first := decodeAs[sqlAnswer](t, r)
		if r.status != http.StatusOK || !first.Succeeded || first.TotalRowCount != 1200 || first.ChunkCount < 2 {
			t.Fatalf("got %d: %d rows in %d chunks", r.status, first.TotalRowCount, first.ChunkCount)
		}
		seen := map[string]bool{}
		var rows int64
		page := first
		for i := 0; ; i++ {
			if page.ChunkIndex != i || page.RowOffset != rows || page.RowCount != int64(len(page.Rows)) || page.StatementID != first.StatementID ||
				page.TotalRowCount != first.TotalRowCount || page.ChunkCount != first.ChunkCount {
				t.Fatalf("page %d: chunk %d at offset %d with %d rows (row_count %d), want offset %d", i, page.ChunkIndex, page.RowOffset, len(page.Rows), page.RowCount, rows)
			}
			for _, row := range page.Rows {
				seen[string(row["order_id"])] = true
			}
			rows += int64(len(page.Rows))
			if page.Next == "" {
				if i+1 != first.ChunkCount {
					t.Fatalf("next is missing after %d chunks of %d", i+1, first.ChunkCount)
				}
				break
			}
			if i+1 >= first.ChunkCount {
				t.Fatalf("chunk %d of %d still has next %s", i, first.ChunkCount, page.Next)
			}
			u, err := url.Parse(page.Next)
			if err != nil || !strings.HasPrefix(page.Next, s.Info.HandlerURL+"/api/sql/statements/"+first.StatementID) || u.Query().Get("chunk_index") != fmt.Sprint(i+1) {
				t.Fatalf("next %q is not the absolute URL of chunk %d", page.Next, i+1)
			}
			r := s.call(t, apiCall{method: http.MethodGet, path: page.Next, token: alice})
			if r.status != http.StatusOK {
				t.Fatalf("GET next: %d %s", r.status, r.body)
			}
			page = decodeAs[sqlAnswer](t, r)
		}
		if rows != first.TotalRowCount || len(seen) != int(rows) {
			t.Fatalf("walked %d rows (%d distinct), total_row_count %d", rows, len(seen), first.TotalRowCount)
		}
		past := fmt.Sprintf("/api/sql/statements/%s?chunk_index=%d", first.StatementID, first.ChunkCount)
		if r := s.call(t, apiCall{method: http.MethodGet, path: past, token: alice}); r.status != http.StatusBadRequest || r.str("code") != "invalid_request" {
			t.Errorf("one chunk past the last: %d %s", r.status, r.body)
		}
	})

	t.Run("row_limit cuts the result and says so", func(t *testing.T) {
		r := s.runSQL(t, alice, "", `{"statement": "SELECT order_id FROM main.sales.orders", "warehouse_name": "Shared SQL", "row_limit": 150}`, nil)
		a := decodeAs[sqlAnswer](t, r)
		if r.status != http.StatusOK || !a.Succeeded || !a.Truncated || a.TotalRowCount != 150 {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		if rec := s.lastStatement(t); rec.RowLimit != 150 {
			t.Errorf("row_limit %d reached Databricks, want 150", rec.RowLimit)
		}
	})

	t.Run("the logs hold no parameter value and no statement text", func(t *testing.T) {
		for _, secret := range []string{injection, "DROP TABLE", ordersText, "main.sales.orders"} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the handler logged %q", secret)
			}
		}
		audit := waitForLog(t, logs, "sql-execute audit", func(e logEntry) bool { return e.str("action") == "sql-execute" })
		if audit["audit"] != true || audit.str("statement_sha256") == "" || audit.str("warehouse_id") == "" || audit.str("statement_id") == "" {
			t.Errorf("audit line %v", audit)
		}
	})
}

func TestSQLLongStatementsWaitAndCancel(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})

	t.Run("wait mode answers 202 until the statement is over, then 200 with the rows", func(t *testing.T) {
		// Running for 30 s of the fake's clock: longer than the 10 s flowbricks lets Databricks wait.
		body := statementBody(t, "/* devstack:sleep=30 */ SELECT region, COUNT(*) AS n FROM main.sales.orders GROUP BY region ORDER BY region", sharedSQL)
		first := s.whileStatementWaits(t, func() apiResponse { return s.runSQL(t, alice, "?wait=true", body, nil) })
		if first.status != http.StatusAccepted {
			t.Fatalf("run?wait=true: %d %s", first.status, first.body)
		}
		started := decodeAs[sqlAnswer](t, first)
		if started.State != "RUNNING" || started.Terminal || started.StatementID == "" || len(started.Rows) != 0 {
			t.Fatalf("the 202 body is not the running statement's status: %s", first.body)
		}
		loc, _ := url.Parse(first.header.Get("Location"))
		if loc == nil || loc.Path != "/api/sql/statements/"+started.StatementID || loc.Query().Get("wait") != "true" {
			t.Fatalf("Location %q does not poll statement %s with wait", first.header.Get("Location"), started.StatementID)
		}
		tr := s.followAsync(t, alice, first)
		if len(tr.accepted) < 2 {
			t.Errorf("%d answers were 202, want the first and at least one poll", len(tr.accepted))
		}
		for i, a := range tr.accepted {
			if b := decodeAs[sqlAnswer](t, a); b.StatementID != started.StatementID || b.Terminal {
				t.Errorf("202 #%d is not the running statement's status: %s", i+1, a.body)
			}
		}
		final := decodeAs[sqlAnswer](t, tr.final)
		if tr.final.status != http.StatusOK || !final.Succeeded || final.StatementID != started.StatementID || len(final.Rows) != 5 {
			t.Fatalf("final answer: %d %s", tr.final.status, tr.final.body)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		body := statementBody(t, "/* devstack:sleep=3600 */ SELECT COUNT(*) AS n FROM main.sales.orders", sharedSQL)
		r := s.whileStatementWaits(t, func() apiResponse { return s.runSQL(t, alice, "", body, nil) })
		running := decodeAs[sqlAnswer](t, r)
		if r.status != http.StatusOK || running.State != "RUNNING" || len(running.Rows) != 0 {
			t.Fatalf("without wait a long statement answers 200 RUNNING after the short wait: %d %s", r.status, r.body)
		}
		path := "/api/sql/statements/" + running.StatementID

		// Databricks lets only the statement's owner read or cancel it; flowbricks asks with bob's token.
		for _, c := range []apiCall{{method: http.MethodGet, path: path, token: bob}, {method: http.MethodPost, path: path + "/cancel", token: bob}} {
			if r := s.call(t, c); r.status != http.StatusNotFound || r.str("code") != "statement_not_found" {
				t.Errorf("bob: %s %s: %d %s", c.method, c.path, r.status, r.body)
			}
		}

		before := s.Workspace.Stats().StatementsCanceled
		r = s.call(t, apiCall{method: http.MethodPost, path: path + "/cancel", token: alice})
		canceled := decodeAs[sqlAnswer](t, r)
		if r.status != http.StatusOK || canceled.State != "CANCELED" || !canceled.Terminal || canceled.Succeeded || canceled.StatementID != running.StatementID {
			t.Fatalf("cancel: %d %s", r.status, r.body)
		}
		if n := s.Workspace.Stats().StatementsCanceled - before; n != 1 {
			t.Errorf("%d cancels reached Databricks, want 1", n)
		}
		// A flow waiting on it sees its step fail, unless it asked not to.
		if r := s.call(t, apiCall{method: http.MethodGet, path: path + "?wait=true", token: alice}); r.status != http.StatusFailedDependency ||
			r.str("code") != "statement_failed" || r.str("state") != "CANCELED" {
			t.Errorf("waiting on a canceled statement: %d %s", r.status, r.body)
		}
		if r := s.call(t, apiCall{method: http.MethodGet, path: path + "?wait=true&fail_on_failure=false", token: alice}); r.status != http.StatusOK || r.str("state") != "CANCELED" {
			t.Errorf("fail_on_failure=false: %d %s", r.status, r.body)
		}
		if r := s.call(t, apiCall{method: http.MethodPost, path: "/api/sql/statements/01f0c2a4-0000-4000-8000-00000000dead/cancel", token: alice}); r.status != http.StatusNotFound ||
			r.str("code") != "statement_not_found" {
			t.Errorf("cancel of an unknown statement: %d %s", r.status, r.body)
		}
	})
}

func TestSQLNamedMode(t *testing.T) {
	t.Parallel()
	statements := filepath.Join(t.TempDir(), "statements.json")
	const ordersByRegion = "SELECT order_id, region, order_date FROM main.sales.orders WHERE region = :region AND order_date >= :since ORDER BY order_id LIMIT 5"
	fx, err := devstack.LoadFixture("")
	if err != nil {
		t.Fatal(err)
	}
	var sharedID, financeID string
	for _, w := range fx.Workspace.SQL.Warehouses {
		switch w.Name {
		case sharedSQL:
			sharedID = w.ID
		case financeSQL:
			financeID = w.ID
		}
	}
	defs, _ := json.Marshal(map[string]any{
		"orders_by_region": map[string]any{"statement": ordersByRegion, "parameters": map[string]string{"region": "STRING", "since": "DATE"},
			"warehouse_id": sharedID, "description": "Orders of one region since a date"},
	})
	if err := os.WriteFile(statements, defs, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startTestStack(t, devstack.Options{Env: []string{
		config.EnvSQL + "=named", config.EnvSQLStatements + "=" + statements, config.EnvWarehouses + "=" + sharedID,
	}})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})

	t.Run("the named statement runs with the caller's parameters", func(t *testing.T) {
		before := s.Workspace.Stats().StatementsExecuted
		r := s.runSQL(t, alice, "", `{"statement_name": "orders_by_region",
			"parameters": [{"name": "region", "value": "APAC"}, {"name": "since", "value": "2026-06-01"}]}`, nil)
		a := decodeAs[sqlAnswer](t, r)
		if r.status != http.StatusOK || !a.Succeeded || a.StatementName != "orders_by_region" || len(a.Rows) != 5 {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		for i, row := range a.Rows {
			var region, date string
			if json.Unmarshal(row["region"], &region) != nil || json.Unmarshal(row["order_date"], &date) != nil || region != "APAC" || date < "2026-06-01" {
				t.Errorf("rows[%d] = %v: not an APAC order since 2026-06-01", i, row)
			}
		}
		if n := s.Workspace.Stats().StatementsExecuted - before; n != 1 {
			t.Errorf("%d executes, want 1", n)
		}
		rec := s.lastStatement(t)
		tagged := slices.ContainsFunc(rec.QueryTags, func(q fakeworkspace.QueryTag) bool {
			return q.Key == "flowbricks_statement" && q.Value != nil && *q.Value == "orders_by_region"
		})
		if rec.Statement != ordersByRegion || rec.WarehouseID != sharedID || !tagged {
			t.Errorf("Databricks got %q on %s with tags %+v", rec.Statement, rec.WarehouseID, rec.QueryTags)
		}
		types := map[string]string{}
		for _, p := range rec.Parameters {
			types[p.Name] = p.Type
		}
		if types["region"] != "STRING" || types["since"] != "DATE" {
			t.Errorf("parameter types %v, want the definition's", types)
		}
	})

	tests := []struct {
		name, body   string
		status       int
		code, detail string
	}{
		{"free SQL is refused", statementBody(t, "SELECT 1 AS one", sharedSQL), http.StatusForbidden, "free_sql_not_allowed", "statement_name"},
		{"an unknown name", `{"statement_name": "drop_everything"}`, http.StatusNotFound, "statement_name_not_found", "drop_everything"},
		{"a missing parameter", `{"statement_name": "orders_by_region", "parameters": [{"name": "region", "value": "APAC"}]}`,
			http.StatusBadRequest, "invalid_request", "since"},
		{"a parameter of another type", `{"statement_name": "orders_by_region", "parameters": [{"name": "region", "value": "APAC"}, {"name": "since", "value": "2026-06-01", "type": "STRING"}]}`,
			http.StatusBadRequest, "invalid_request", "since"},
		{"a warehouse outside FLOWBRICKS_WAREHOUSES", fmt.Sprintf(`{"statement_name": "orders_by_region", "warehouse_id": %q, "parameters": [{"name": "region", "value": "APAC"}, {"name": "since", "value": "2026-06-01"}]}`, financeID),
			http.StatusForbidden, "warehouse_not_allowed", financeID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Workspace.Stats().StatementsExecuted
			r := s.runSQL(t, alice, "", tt.body, nil)
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("detail"), tt.detail) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if n := s.Workspace.Stats().StatementsExecuted - before; n != 0 {
				t.Errorf("%d executes reached Databricks", n)
			}
		})
	}

	t.Run("the picker lists only the allowed warehouses", func(t *testing.T) {
		r := s.call(t, apiCall{method: http.MethodGet, path: "/api/sql/warehouses", token: alice})
		var got []struct{ ID, Name, State string }
		if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK || len(got) != 1 || got[0].ID != sharedID {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

// TestSQLRetriedPostExecutesOnce: the Statement Execution API has no idempotency token, so
// flowbricks remembers which statement an action started (docs/sql.md, Retries). The platform's
// retries of one action, in sequence or at once, execute the statement once.
func TestSQLRetriedPostExecutesOnce(t *testing.T) {
	t.Parallel()
	s, logs := startCapturedStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	body := statementBody(t, "SELECT region, manager FROM main.sales.regions WHERE active = :active ORDER BY region", sharedSQL,
		map[string]any{"name": "active", "value": true, "type": "BOOLEAN"})
	const workflowRun = "08586611142736787787412824395CU31"

	before := s.Workspace.Stats()
	var ids []string
	for attempt := range 3 {
		r := s.runSQL(t, alice, "", body, recipes.WorkflowHeaders(workflowRun, "Query_regions", attempt))
		a := decodeAs[sqlAnswer](t, r)
		if r.status != http.StatusOK || !a.Succeeded || len(a.Rows) == 0 {
			t.Fatalf("attempt %d: %d %s", attempt, r.status, r.body)
		}
		ids = append(ids, a.StatementID)
	}
	after := s.Workspace.Stats()
	if n := after.StatementsExecuted - before.StatementsExecuted; n != 1 {
		t.Errorf("three attempts of one action executed %d statements, want 1", n)
	}
	if n := after.StatementsGet - before.StatementsGet; n != 2 {
		t.Errorf("the retries read the statement %d times, want 2", n)
	}
	if ids[1] != ids[0] || ids[2] != ids[0] {
		t.Errorf("the attempts answered statements %v, want one", ids)
	}
	rec := s.lastStatement(t)
	tags := map[string]string{}
	for _, q := range rec.QueryTags {
		if q.Value != nil {
			tags[q.Key] = *q.Value
		}
	}
	if tags["flowbricks_workflow_run"] != workflowRun || tags["flowbricks_action"] != "Query_regions" {
		t.Errorf("query tags %v do not name the workflow run and action", tags)
	}
	waitForLog(t, logs, "a replayed sql-execute audit line", func(e logEntry) bool {
		return e.str("action") == "sql-execute" && e["replayed"] == true && e.str("statement_id") == ids[0]
	})

	t.Run("another action of the run executes again", func(t *testing.T) {
		before := s.Workspace.Stats().StatementsExecuted
		r := s.runSQL(t, alice, "", body, recipes.WorkflowHeaders(workflowRun, "Query_regions_again", 0))
		if a := decodeAs[sqlAnswer](t, r); r.status != http.StatusOK || a.StatementID == ids[0] {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		if n := s.Workspace.Stats().StatementsExecuted - before; n != 1 {
			t.Errorf("%d executes, want 1", n)
		}
	})

	t.Run("concurrent attempts execute once", func(t *testing.T) {
		const n = 4
		before := s.Workspace.Stats().StatementsExecuted
		answers := concurrentRuns(t, s, alice, body, n, func(i int) map[string]string {
			return recipes.WorkflowHeaders(workflowRun, "Query_regions_at_once", i)
		})
		for i, a := range answers {
			if a.StatementID != answers[0].StatementID || !a.Succeeded {
				t.Errorf("attempt %d answered %+v, attempt 0 %s", i, a.StatementID, answers[0].StatementID)
			}
		}
		if got := s.Workspace.Stats().StatementsExecuted - before; got != 1 {
			t.Errorf("%d concurrent attempts executed %d statements, want 1", n, got)
		}
	})
}

// concurrentRuns posts body n times at once, with the headers of attempt i, and returns the
// answers; each must be 200. The requests are made here rather than with stack.call, which may
// only fail the test from the test's goroutine, on a client of their own whose idle connections
// are closed at the end: a connection dialled for a request that another one then carried stays
// new to the server, and a server's shutdown waits 5 s for such a connection.
func concurrentRuns(t *testing.T, s *stack, token, body string, n int, header func(i int) map[string]string) []sqlAnswer {
	t.Helper()
	ctx := testContext(t)
	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make([]result, n)
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for i := range n {
		h := header(i)
		sentTokens.addFrom(token, body)
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Info.HandlerURL+"/api/sql/statements", strings.NewReader(body))
			if err != nil {
				results[i].err = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range h {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			results[i].status = resp.StatusCode
			results[i].body, results[i].err = io.ReadAll(resp.Body)
		})
	}
	wg.Wait()
	out := make([]sqlAnswer, n)
	for i, r := range results {
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("attempt %d: %d %v %s", i, r.status, r.err, r.body)
		}
		if err := json.Unmarshal(r.body, &out[i]); err != nil {
			t.Fatalf("attempt %d: %v %s", i, err, r.body)
		}
	}
	return out
}

// TestSQLWarehouses: the picker, warehouses by name (exact, ignoring case; 404 and 409 like
// job_name), and a STOPPED warehouse that starts when a statement arrives. The workspace has a
// second warehouse named like Finance SQL, for the ambiguous case.
func TestSQLWarehouses(t *testing.T) {
	t.Parallel()
	const twinID = "7e7e7e7e7e7e7e7e"
	s := startTestStack(t, devstack.Options{Mutate: func(fx *devstack.Fixture) {
		fx.Workspace.SQL.Warehouses = append(fx.Workspace.SQL.Warehouses, fakeworkspace.Warehouse{
			ID: twinID, Name: strings.ToLower(financeSQL), State: "RUNNING",
			ACL: map[string]string{"alice@contoso.example": "CAN_USE"},
		})
	}})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})
	cold := s.warehouseID(t, coldWarehouse)

	picker := func(t *testing.T, token string) map[string]string {
		t.Helper()
		r := s.call(t, apiCall{method: http.MethodGet, path: "/api/sql/warehouses", token: token})
		var list []struct{ ID, Name, State string }
		if err := json.Unmarshal(r.body, &list); err != nil || r.status != http.StatusOK {
			t.Fatalf("picker: %d %s", r.status, r.body)
		}
		names := make([]string, len(list))
		state := map[string]string{}
		for i, w := range list {
			names[i] = strings.ToLower(w.Name)
			state[w.ID] = w.State
		}
		if !slices.IsSorted(names) {
			t.Errorf("the picker is not sorted by name: %s", r.body)
		}
		return state
	}

	t.Run("the picker lists what each user can see", func(t *testing.T) {
		if got := picker(t, alice); len(got) != 4 || got[cold] != "STOPPED" || got[s.warehouseID(t, sharedSQL)] != "RUNNING" {
			t.Errorf("alice's picker: %v", got)
		}
		if got := picker(t, bob); len(got) != 2 || got[s.warehouseID(t, financeSQL)] != "" {
			t.Errorf("bob's picker: %v, want Shared SQL and Cold Warehouse", got)
		}
	})

	tests := []struct {
		name, warehouse string
		status          int
		code, detail    string
	}{
		{"a name matches ignoring case", "SHARED sql", http.StatusOK, "", ""},
		{"no warehouse has the name", "Marketing SQL", http.StatusNotFound, "warehouse_not_found", "Marketing SQL"},
		{"two warehouses have the name", financeSQL, http.StatusConflict, "ambiguous_warehouse_name", twinID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Workspace.Stats().StatementsExecuted
			r := s.runSQL(t, alice, "", statementBody(t, "SELECT 1 AS one", tt.warehouse), nil)
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("detail"), tt.detail) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			want := int64(0)
			if tt.status == http.StatusOK {
				want = 1
			}
			if n := s.Workspace.Stats().StatementsExecuted - before; n != want {
				t.Errorf("%d executes, want %d", n, want)
			}
		})
	}

	t.Run("a STOPPED warehouse starts when a statement arrives", func(t *testing.T) {
		if got := picker(t, alice)[cold]; got != "STOPPED" {
			t.Fatalf("%s is %s before, want STOPPED", coldWarehouse, got)
		}
		first := s.whileStatementWaits(t, func() apiResponse {
			return s.runSQL(t, alice, "?wait=true", statementBody(t, "SELECT region FROM main.sales.regions ORDER BY region", coldWarehouse), nil)
		})
		tr := s.followAsync(t, alice, first)
		if a := decodeAs[sqlAnswer](t, tr.final); tr.final.status != http.StatusOK || !a.Succeeded || len(a.Rows) != 5 {
			t.Fatalf("on the cold warehouse: %d %s", tr.final.status, tr.final.body)
		}
		if rec := s.lastStatement(t); rec.WarehouseID != cold {
			t.Errorf("the statement ran on %s, want %s", rec.WarehouseID, cold)
		}
		if got := picker(t, alice)[cold]; got != "RUNNING" {
			t.Errorf("%s is %s after, want RUNNING", coldWarehouse, got)
		}
	})
}
