package databricks

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Answers in the shape the Statement Execution API reference documents
// (docs/architecture.md, Databricks SQL Statement Execution API): zero values are left out, a
// SQL NULL is JSON null in data_array, the manifest's columns need not come in position order.
const (
	succeededJSON = `{
	  "statement_id": "01f0c2a4-5b6c-1d2e-9f00-0123456789ab",
	  "status": {"state": "SUCCEEDED"},
	  "manifest": {
	    "format": "JSON_ARRAY",
	    "schema": {"column_count": 4, "columns": [
	      {"name": "amount", "type_text": "DECIMAL(10,2)", "type_name": "DECIMAL", "position": 1, "type_precision": 10, "type_scale": 2},
	      {"name": "order_id", "type_text": "BIGINT", "type_name": "LONG"},
	      {"name": "note", "type_text": "STRING", "type_name": "STRING", "position": 3},
	      {"name": "tags", "type_text": "ARRAY<STRING>", "type_name": "ARRAY", "position": 2}
	    ]},
	    "total_chunk_count": 3, "total_row_count": 250, "truncated": true,
	    "chunks": [{"row_count": 100}, {"chunk_index": 1, "row_offset": 100, "row_count": 100}, {"chunk_index": 2, "row_offset": 200, "row_count": 50}]
	  },
	  "result": {
	    "row_count": 2, "next_chunk_index": 1, "next_chunk_internal_link": "/api/2.0/sql/statements/01f0c2a4-5b6c-1d2e-9f00-0123456789ab/result/chunks/1",
	    "data_array": [["9007199254740993", "129.90", "[\"web\",\"promo\"]", null], ["1002", "5.00", "[]", ""]]
	  }
	}`
	failedJSON = `{
	  "statement_id": "01f0c2a4-0000-1d2e-9f00-0123456789ab",
	  "status": {"state": "FAILED", "sql_state": "42501",
	    "error": {"error_code": "BAD_REQUEST", "message": "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on Table 'main.sales.orders'. token=TOKEN"}}
	}`
	pendingJSON = `{"statement_id": "01f0c2a4-1111-1d2e-9f00-0123456789ab", "status": {"state": "PENDING"}}`
)

func str(s string) *string { return &s }

func TestStatementMapping(t *testing.T) {
	const token = "user-token-sql-1"
	tests := []struct {
		name string
		body string
		want Statement
	}{
		{
			name: "succeeded: columns in position order, totals, first chunk with NULL kept apart from empty",
			body: succeededJSON,
			want: Statement{
				ID: "01f0c2a4-5b6c-1d2e-9f00-0123456789ab", State: StatementSucceeded,
				Columns: []Column{
					{Name: "order_id", Position: 0, TypeName: "LONG", TypeText: "BIGINT"},
					{Name: "amount", Position: 1, TypeName: "DECIMAL", TypeText: "DECIMAL(10,2)", Precision: 10, Scale: 2},
					{Name: "tags", Position: 2, TypeName: "ARRAY", TypeText: "ARRAY<STRING>"},
					{Name: "note", Position: 3, TypeName: "STRING", TypeText: "STRING"},
				},
				TotalRows: 250, TotalChunks: 3, Truncated: true,
				Chunk: &Chunk{Index: 0, RowOffset: 0, RowCount: 2, NextIndex: 1, Rows: [][]*string{
					{str("9007199254740993"), str("129.90"), str(`["web","promo"]`), nil},
					{str("1002"), str("5.00"), str("[]"), str("")},
				}},
			},
		},
		{
			name: "failed: Databricks' error code, message (token scrubbed) and SQL state; no result",
			body: strings.ReplaceAll(failedJSON, "TOKEN", token),
			want: Statement{
				ID: "01f0c2a4-0000-1d2e-9f00-0123456789ab", State: StatementFailed,
				Error: &StatementError{Code: "BAD_REQUEST", SQLState: "42501",
					Message: "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have SELECT on Table 'main.sales.orders'. token=[REDACTED]"},
			},
		},
		{
			name: "pending: no columns, no chunk",
			body: pendingJSON,
			want: Statement{ID: "01f0c2a4-1111-1d2e-9f00-0123456789ab", State: StatementPending},
		},
		{
			name: "succeeded without rows: an empty (not nil) first chunk that is the last",
			body: `{"statement_id":"s1","status":{"state":"SUCCEEDED"},"manifest":{"schema":{"column_count":1,"columns":[{"name":"x","type_text":"INT","type_name":"INT"}]},"total_chunk_count":1},"result":{}}`,
			want: Statement{ID: "s1", State: StatementSucceeded, Columns: []Column{{Name: "x", TypeName: "INT", TypeText: "INT"}},
				TotalChunks: 1, Chunk: &Chunk{Rows: [][]*string{}, NextIndex: -1}},
		},
		{
			name: "succeeded without a result at all: the same empty chunk",
			body: `{"statement_id":"s2","status":{"state":"SUCCEEDED"},"manifest":{"schema":{}}}`,
			want: Statement{ID: "s2", State: StatementSucceeded, Columns: []Column{}, Chunk: &Chunk{Rows: [][]*string{}, NextIndex: -1}},
		},
		{
			name: "int64 counts as proto-JSON strings",
			body: `{"statement_id":"s3","status":{"state":"SUCCEEDED"},"manifest":{"total_row_count":"9007199254740993","total_chunk_count":2},"result":{"chunk_index":0,"row_offset":"0","row_count":"1","next_chunk_index":1,"data_array":[["1"]]}}`,
			want: Statement{ID: "s3", State: StatementSucceeded, Columns: []Column{}, TotalRows: 9007199254740993, TotalChunks: 2,
				Chunk: &Chunk{RowCount: 1, NextIndex: 1, Rows: [][]*string{{str("1")}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, tt.body) })
			c := newTestClient(t, u.srv.URL)
			ctx := userCtx(t, token)

			got, err := c.GetStatement(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GetStatement =\n %s\nwant\n %s", dumpStatement(got), dumpStatement(tt.want))
			}
			// ExecuteStatement maps the same answer the same way.
			got, err = c.ExecuteStatement(ctx, StatementRequest{WarehouseID: "wh", Statement: "SELECT 1"})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ExecuteStatement =\n %s\nwant\n %s", dumpStatement(got), dumpStatement(tt.want))
			}
		})
	}
}

func dumpStatement(s Statement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v", s)
	if s.Error != nil {
		fmt.Fprintf(&b, " Error=%+v", *s.Error)
	}
	if s.Chunk != nil {
		fmt.Fprintf(&b, " Chunk={Index:%d RowOffset:%d RowCount:%d NextIndex:%d Rows:", s.Chunk.Index, s.Chunk.RowOffset, s.Chunk.RowCount, s.Chunk.NextIndex)
		for _, r := range s.Chunk.Rows {
			b.WriteString("[")
			for _, v := range r {
				if v == nil {
					b.WriteString("NULL ")
				} else {
					fmt.Fprintf(&b, "%q ", *v)
				}
			}
			b.WriteString("]")
		}
		fmt.Fprintf(&b, " nil=%v}", s.Chunk.Rows == nil)
	}
	return b.String()
}

func TestExecuteStatementSendsWhatTheAPIExpects(t *testing.T) {
	tests := []struct {
		name     string
		req      StatementRequest
		wantBody string
	}{
		{
			name:     "minimal: INLINE, JSON_ARRAY, CONTINUE always; no wait is 0s",
			req:      StatementRequest{WarehouseID: "5f3c0a1b2c3d4e5f", Statement: "SELECT 1"},
			wantBody: `{"warehouse_id":"5f3c0a1b2c3d4e5f","statement":"SELECT 1","disposition":"INLINE","format":"JSON_ARRAY","on_wait_timeout":"CONTINUE","wait_timeout":"0s"}`,
		},
		{
			name: "every field: a nil value is NULL (no value), an empty one is sent as \"\"",
			req: StatementRequest{
				WarehouseID: "5f3c0a1b2c3d4e5f",
				Statement:   "SELECT * FROM orders WHERE region = :region AND order_date >= :since AND note <=> :note AND code = :code",
				Parameters: []StatementParameter{
					{Name: "region", Value: str("'; DROP TABLE orders; --")},
					{Name: "since", Type: "DATE", Value: str("2026-01-01")},
					{Name: "note", Value: nil},
					{Name: "code", Type: "STRING", Value: str("")},
				},
				Catalog: "main", Schema: "sales", RowLimit: 1000, ByteLimit: 4 << 20, Wait: 10 * time.Second,
				QueryTags: []QueryTag{{Key: "flowbricks"}, {Key: "flowbricks_workflow_run", Value: "08584712345678901234567890CU00"},
					{Key: "flowbricks_action", Value: "Run_a_SQL_statement"}},
			},
			wantBody: `{"warehouse_id":"5f3c0a1b2c3d4e5f",
				"statement":"SELECT * FROM orders WHERE region = :region AND order_date >= :since AND note <=> :note AND code = :code",
				"parameters":[{"name":"region","value":"'; DROP TABLE orders; --"},{"name":"since","type":"DATE","value":"2026-01-01"},
					{"name":"note"},{"name":"code","type":"STRING","value":""}],
				"catalog":"main","schema":"sales","row_limit":1000,"byte_limit":4194304,
				"disposition":"INLINE","format":"JSON_ARRAY","on_wait_timeout":"CONTINUE","wait_timeout":"10s",
				"query_tags":[{"key":"flowbricks"},{"key":"flowbricks_workflow_run","value":"08584712345678901234567890CU00"},
					{"key":"flowbricks_action","value":"Run_a_SQL_statement"}]}`,
		},
		{
			name:     "the wait is rounded to whole seconds (4.6 s is 5 s)",
			req:      StatementRequest{WarehouseID: "w", Statement: "SELECT 1", Wait: 4600 * time.Millisecond},
			wantBody: `{"warehouse_id":"w","statement":"SELECT 1","disposition":"INLINE","format":"JSON_ARRAY","on_wait_timeout":"CONTINUE","wait_timeout":"5s"}`,
		},
		{
			name:     "the longest wait",
			req:      StatementRequest{WarehouseID: "w", Statement: "SELECT 1", Wait: 50*time.Second + 400*time.Millisecond},
			wantBody: `{"warehouse_id":"w","statement":"SELECT 1","disposition":"INLINE","format":"JSON_ARRAY","on_wait_timeout":"CONTINUE","wait_timeout":"50s"}`,
		},
		{
			name: "query tag values are made acceptable on the wire",
			req: StatementRequest{WarehouseID: "w", Statement: "SELECT 1", QueryTags: []QueryTag{
				{Key: "flowbricks_action", Value: "  Run\tthe\nquery  "},
				{Key: "flowbricks_statement", Value: "   "},
			}},
			wantBody: `{"warehouse_id":"w","statement":"SELECT 1","disposition":"INLINE","format":"JSON_ARRAY","on_wait_timeout":"CONTINUE","wait_timeout":"0s",
				"query_tags":[{"key":"flowbricks_action","value":"Runthequery"},{"key":"flowbricks_statement"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var contentLength int64
			var chunked []string
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				contentLength, chunked = r.ContentLength, r.TransferEncoding
				mu.Unlock()
				writeJSON(w, 200, pendingJSON)
			})
			c := newTestClient(t, u.srv.URL)

			st, err := c.ExecuteStatement(userCtx(t, "tok"), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if st.ID == "" || st.State != StatementPending {
				t.Errorf("statement = %+v", st)
			}
			reqs := u.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/api/2.0/sql/statements" || r.Query != "" {
				t.Errorf("request = %s %s?%s", r.Method, r.Path, r.Query)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			mu.Lock()
			if contentLength != int64(len(r.Body)) || len(chunked) != 0 {
				t.Errorf("Content-Length = %d, Transfer-Encoding = %v; want %d and none", contentLength, chunked, len(r.Body))
			}
			mu.Unlock()
			jsonEqual(t, r.Body, tt.wantBody)
		})
	}
}

func TestExecuteStatementRejectsBeforeSending(t *testing.T) {
	ok := StatementRequest{WarehouseID: "w", Statement: "SELECT 1"}
	with := func(f func(*StatementRequest)) StatementRequest { r := ok; f(&r); return r }
	tags := func(n int) []QueryTag {
		out := make([]QueryTag, n)
		for i := range out {
			out[i] = QueryTag{Key: fmt.Sprintf("k%d", i)}
		}
		return out
	}
	tests := []struct {
		name       string
		req        StatementRequest
		wantDetail string
	}{
		{"no warehouse", with(func(r *StatementRequest) { r.WarehouseID = " " }), "warehouse_id"},
		{"no statement", with(func(r *StatementRequest) { r.Statement = "\n\t " }), "statement is empty"},
		{"statement over 16 MiB", with(func(r *StatementRequest) { r.Statement = strings.Repeat("x", MaxStatementBytes+1) }), "at most 16777216"},
		{"wait below 5 s", with(func(r *StatementRequest) { r.Wait = 4 * time.Second }), "wait"},
		{"wait that rounds to 4 s", with(func(r *StatementRequest) { r.Wait = 4400 * time.Millisecond }), "wait"},
		{"wait above 50 s", with(func(r *StatementRequest) { r.Wait = 51 * time.Second }), "wait"},
		{"negative wait", with(func(r *StatementRequest) { r.Wait = -time.Second }), "wait"},
		{"negative row limit", with(func(r *StatementRequest) { r.RowLimit = -1 }), "row_limit"},
		{"negative byte limit", with(func(r *StatementRequest) { r.ByteLimit = -1 }), "byte_limit"},
		{"21 query tags", with(func(r *StatementRequest) { r.QueryTags = tags(MaxQueryTags + 1) }), "at most 20"},
		{"empty tag key", with(func(r *StatementRequest) { r.QueryTags = []QueryTag{{Key: " ", Value: "x"}} }), "empty key"},
		{"tag key with a control character", with(func(r *StatementRequest) { r.QueryTags = []QueryTag{{Key: "a\nb"}} }), "control"},
		{"tag key too long", with(func(r *StatementRequest) { r.QueryTags = []QueryTag{{Key: strings.Repeat("k", 129)}} }), "128"},
		{"parameter name with a space", with(func(r *StatementRequest) { r.Parameters = []StatementParameter{{Name: "a b"}} }), "identifier"},
		{"parameter name starting with a digit", with(func(r *StatementRequest) { r.Parameters = []StatementParameter{{Name: "1a"}} }), "identifier"},
		{"parameter with a colon", with(func(r *StatementRequest) { r.Parameters = []StatementParameter{{Name: ":a"}} }), "identifier"},
		{"empty parameter name", with(func(r *StatementRequest) { r.Parameters = []StatementParameter{{Name: ""}} }), "identifier"},
		{"parameter given twice", with(func(r *StatementRequest) {
			r.Parameters = []StatementParameter{{Name: "a", Value: str("1")}, {Name: "a", Value: str("2")}}
		}), "twice"},
	}
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, pendingJSON) })
	c := newTestClient(t, u.srv.URL)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ExecuteStatement(userCtx(t, "tok"), tt.req)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalidRequest) || e.Op != OpExecuteStatement {
				t.Fatalf("err = %v, want ErrInvalidRequest for %s", err, OpExecuteStatement)
			}
			if !strings.Contains(e.Detail, tt.wantDetail) {
				t.Errorf("Detail = %q, want it to mention %q", e.Detail, tt.wantDetail)
			}
		})
	}
	if n := u.count(); n != 0 {
		t.Errorf("upstream got %d requests, want 0", n)
	}
}

// The statement id goes into the path: only what can be one segment is sent.
func TestStatementIDAndChunkIndexAreCheckedBeforeSending(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, pendingJSON) })
	c := newTestClient(t, u.srv.URL)
	ctx := userCtx(t, "tok")
	ops := map[string]func(id string) error{
		OpGetStatement:    func(id string) error { _, err := c.GetStatement(ctx, id); return err },
		OpStatementChunk:  func(id string) error { _, err := c.StatementChunk(ctx, id, 1); return err },
		OpCancelStatement: func(id string) error { return c.CancelStatement(ctx, id) },
	}
	for _, id := range []string{"", "../warehouses", "a/b", "a b", "a%2Fb", "a?x=1", "é", strings.Repeat("a", 129)} {
		for op, call := range ops {
			if err := call(id); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("%s(%q): err = %v, want ErrInvalidRequest", op, id, err)
			}
		}
	}
	if _, err := c.StatementChunk(ctx, "01f0c2a4-5b6c", -1); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("chunk -1: err = %v, want ErrInvalidRequest", err)
	}
	if n := u.count(); n != 0 {
		t.Errorf("upstream got %d requests, want 0", n)
	}
}

func TestStatementChunk(t *testing.T) {
	tests := []struct {
		name  string
		index int
		body  string
		want  Chunk
	}{
		{
			name: "a middle chunk", index: 1,
			body: `{"chunk_index":1,"row_offset":100,"row_count":2,"next_chunk_index":2,"next_chunk_internal_link":"/api/2.0/sql/statements/s/result/chunks/2","data_array":[["a",null],[null,""]]}`,
			want: Chunk{Index: 1, RowOffset: 100, RowCount: 2, NextIndex: 2, Rows: [][]*string{{str("a"), nil}, {nil, str("")}}},
		},
		{
			name: "the last chunk has no next_chunk_index", index: 2,
			body: `{"chunk_index":2,"row_offset":200,"row_count":1,"data_array":[["z","y"]]}`,
			want: Chunk{Index: 2, RowOffset: 200, RowCount: 1, NextIndex: -1, Rows: [][]*string{{str("z"), str("y")}}},
		},
		{
			name: "a chunk without rows", index: 0,
			body: `{}`,
			want: Chunk{Rows: [][]*string{}, NextIndex: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, tt.body) })
			c := newTestClient(t, u.srv.URL)
			got, err := c.StatementChunk(userCtx(t, "tok"), "01f0c2a4-5b6c-1d2e", tt.index)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("chunk = %+v, want %+v", got, tt.want)
			}
			r := u.requests()[0]
			if want := fmt.Sprintf("/api/2.0/sql/statements/01f0c2a4-5b6c-1d2e/result/chunks/%d", tt.index); r.Method != http.MethodGet || r.Path != want {
				t.Errorf("request = %s %s, want GET %s", r.Method, r.Path, want)
			}
		})
	}
}

func TestGetAndCancelStatementRequests(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/cancel") {
			writeJSON(w, 200, `{}`)
			return
		}
		writeJSON(w, 200, `{"status":{"state":"RUNNING"}}`)
	})
	c := newTestClient(t, u.srv.URL)
	ctx := userCtx(t, "tok")

	st, err := c.GetStatement(ctx, "01f0-AB_c")
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "01f0-AB_c" || st.State != StatementRunning || st.Chunk != nil || st.Columns != nil {
		t.Errorf("statement = %+v; an answer without statement_id keeps the id asked for", st)
	}
	if err := c.CancelStatement(ctx, "01f0-AB_c"); err != nil {
		t.Fatal(err)
	}
	reqs := u.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d", len(reqs))
	}
	if r := reqs[0]; r.Method != http.MethodGet || r.Path != "/api/2.0/sql/statements/01f0-AB_c" || r.Query != "" {
		t.Errorf("get = %s %s?%s", r.Method, r.Path, r.Query)
	}
	if r := reqs[1]; r.Method != http.MethodPost || r.Path != "/api/2.0/sql/statements/01f0-AB_c/cancel" {
		t.Errorf("cancel = %s %s", r.Method, r.Path)
	} else {
		jsonEqual(t, r.Body, `{}`)
	}
}

// A statement answer without its status is not a statement.
func TestStatementAnswerWithoutStatusIsUpstreamError(t *testing.T) {
	for _, body := range []string{`{"statement_id":"s"}`, `{"statement_id":"s","status":{}}`, `{"status":{"state":"PENDING"}}`} {
		u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, body) })
		c := newTestClient(t, u.srv.URL)
		if _, err := c.ExecuteStatement(userCtx(t, "tok"), StatementRequest{WarehouseID: "w", Statement: "SELECT 1"}); !errors.Is(err, ErrUpstream) {
			t.Errorf("execute answered %s: err = %v, want ErrUpstream", body, err)
		}
	}
}

func TestListWarehousesFollowsPages(t *testing.T) {
	pages := map[string]string{
		"":   `{"warehouses":[{"id":"5f3c0a1b2c3d4e5f","name":"Shared SQL","state":"RUNNING","cluster_size":"Small","num_clusters":1}],"next_page_token":"p2"}`,
		"p2": `{"warehouses":[{"id":"9a8b7c6d5e4f3a2b","name":"Cold Warehouse","state":"STOPPED"}],"next_page_token":"p3"}`,
		"p3": `{"warehouses":[{"id":"0f1e2d3c4b5a6978","name":"Finance SQL","state":"RUNNING"}]}`,
	}
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, pages[r.URL.Query().Get("page_token")])
	})
	c := newTestClient(t, u.srv.URL)

	got, err := c.ListWarehouses(userCtx(t, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Warehouse{
		{ID: "5f3c0a1b2c3d4e5f", Name: "Shared SQL", State: "RUNNING"},
		{ID: "9a8b7c6d5e4f3a2b", Name: "Cold Warehouse", State: "STOPPED"},
		{ID: "0f1e2d3c4b5a6978", Name: "Finance SQL", State: "RUNNING"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warehouses = %+v, want %+v", got, want)
	}
	var queries []string
	for _, r := range u.requests() {
		if r.Method != http.MethodGet || r.Path != "/api/2.0/sql/warehouses" {
			t.Errorf("request = %s %s", r.Method, r.Path)
		}
		queries = append(queries, r.Query)
	}
	if want := []string{"", "page_token=p2", "page_token=p3"}; !reflect.DeepEqual(queries, want) {
		t.Errorf("queries = %q, want %q", queries, want)
	}
}

func TestListWarehousesEdgeCases(t *testing.T) {
	t.Run("none: an empty list, not nil", func(t *testing.T) {
		u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, `{}`) })
		got, err := newTestClient(t, u.srv.URL).ListWarehouses(userCtx(t, "tok"))
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("ListWarehouses = %#v, %v; want [] and no error", got, err)
		}
	})
	t.Run("endless pages stop at the bound", func(t *testing.T) {
		u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 200, `{"warehouses":[{"id":"a","name":"a","state":"RUNNING"}],"next_page_token":"again"}`)
		})
		_, err := newTestClient(t, u.srv.URL).ListWarehouses(userCtx(t, "tok"))
		if !errors.Is(err, ErrUpstream) {
			t.Fatalf("err = %v, want ErrUpstream", err)
		}
		if n := u.count(); n != maxWarehousePages {
			t.Errorf("requests = %d, want %d", n, maxWarehousePages)
		}
	})
}

// Execute is not idempotent: the SDK's own retries (429, 503, connection resets) would run the
// statement again, so they are off for it and the failure goes to the caller after one request.
func TestExecuteStatementIsNotRepeatedOnThrottlingOrUnavailability(t *testing.T) {
	tests := []struct {
		status   int
		body     string
		wantKind error
	}{
		{429, `{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"Too many requests"}`, ErrThrottled},
		{503, `{"error_code":"TEMPORARILY_UNAVAILABLE","message":"try later"}`, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, tt.status, tt.body) })
			c := newTestClient(t, u.srv.URL)
			_, err := c.ExecuteStatement(userCtx(t, "tok"), StatementRequest{WarehouseID: "w", Statement: "INSERT INTO t VALUES (1)"})
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.wantKind) || e.RetryAfter == 0 {
				t.Fatalf("err = %v, want %v with RetryAfter", err, tt.wantKind)
			}
			if n := u.count(); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

// A statement or chunk answer may be larger than the 8 MiB other answers are read to: a flow may
// ask Databricks for up to 25 MiB of rows.
func TestStatementAnswersHaveTheirOwnBound(t *testing.T) {
	rows := make([]string, 0, 100_000)
	for i := range cap(rows) {
		rows = append(rows, fmt.Sprintf(`["%d","%s"]`, i, strings.Repeat("v", 90)))
	}
	body := `{"chunk_index":1,"row_count":100000,"data_array":[` + strings.Join(rows, ",") + `]}`
	if len(body) <= maxResponseBytes {
		t.Fatalf("the test body has %d bytes; it must be larger than %d", len(body), maxResponseBytes)
	}
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, body) })
	ch, err := newTestClient(t, u.srv.URL).StatementChunk(userCtx(t, "tok"), "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Rows) != 100_000 {
		t.Errorf("rows = %d, want 100000", len(ch.Rows))
	}

	tests := []struct {
		path string
		want int64
	}{
		{"/api/2.0/sql/statements", maxStatementResponseBytes},
		{"/api/2.0/sql/statements/s", maxStatementResponseBytes},
		{"/api/2.0/sql/statements/s/result/chunks/3", maxStatementResponseBytes},
		{"/api/2.0/sql/warehouses", maxResponseBytes},
		{"/api/2.2/jobs/runs/get", maxResponseBytes},
		{"/api/2.0/sql/statementsX", maxResponseBytes},
	}
	for _, tt := range tests {
		if got := readLimit(t, tt.path); got != tt.want {
			t.Errorf("%s: read up to %d bytes, want %d", tt.path, got, tt.want)
		}
	}
}

// readLimit reports how many bytes boundedTransport lets a caller read of an endless answer to path.
func readLimit(t *testing.T, path string) int64 {
	t.Helper()
	next := roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(zeros{})}, nil
	})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1"+path, nil)
	resp, err := boundedTransport{next: next}.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		t.Fatalf("%s: reading stopped with %v, want *http.MaxBytesError", path, err)
	}
	return n
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestQueryTagValuesAreCutToWhatDatabricksAccepts(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"short value unchanged", "Run_a_SQL_statement", "Run_a_SQL_statement"},
		{"exactly 128", strings.Repeat("a", 128), strings.Repeat("a", 128)},
		{"129 is cut to 128", strings.Repeat("a", 129), strings.Repeat("a", 128)},
		{"characters the key:value form escapes count twice", strings.Repeat(":", 65), strings.Repeat(":", 64)},
		{"a cut never splits a character", strings.Repeat("é", 130), strings.Repeat("é", 128)},
		{"control characters and invalid UTF-8 are dropped", "a\x00b\x7fc\xffd\u0085e", "abcde"},
		{"surrounding white space is trimmed, also after a cut", strings.Repeat("a", 127) + " b", strings.Repeat("a", 127)},
		{"white space only is a key-only tag", " \t ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := queryTags([]QueryTag{{Key: "k", Value: tt.value}})
			if err != nil {
				t.Fatal(err)
			}
			if v := got[0].Value; v != tt.want {
				t.Errorf("value = %q (%d characters), want %q", v, utf8.RuneCountInString(v), tt.want)
			}
			if !utf8.ValidString(got[0].Value) || tagLength(got[0].Value) > MaxQueryTagLength {
				t.Errorf("value %q is not acceptable", got[0].Value)
			}
		})
	}
}

// ExecuteStatement's deadline grows by the wait Databricks holds the answer for; the other
// calls keep Options.RequestTimeout. The execute below is still waiting after a get-statement
// made later with the same client has run out of its deadline, and then succeeds.
func TestExecuteStatementDeadlineCoversTheWait(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			close(arrived)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			writeJSON(w, 200, pendingJSON)
			return
		}
		<-r.Context().Done() // get-statement never answers
	})
	c := newTestClient(t, u.srv.URL, func(o *Options) { o.RequestTimeout = 100 * time.Millisecond })
	ctx := userCtx(t, "tok")

	done := make(chan error, 1)
	go func() {
		_, err := c.ExecuteStatement(ctx, StatementRequest{WarehouseID: "w", Statement: "SELECT 1", Wait: MaxStatementWait})
		done <- err
	}()
	select {
	case <-arrived:
	case err := <-done:
		t.Fatalf("execute ended before it reached the upstream: %v", err)
	}
	if _, err := c.GetStatement(ctx, "s"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("get-statement: err = %v, want ErrUnavailable (its deadline)", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("execute: err = %v; its deadline must cover the wait", err)
	}
}
