package fakeworkspace

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/testsupport"
)

func TestSQLStatementStatesFollowTheClock(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	sleepy := `"warehouse_id": "` + sharedWH + `", "wait_timeout": "0s", "statement": "SELECT region FROM main.sales.regions /* devstack:sleep=30 */"`

	t.Run("PENDING answer, RUNNING for the sleep, SUCCEEDED, CLOSED after the result TTL", func(t *testing.T) {
		a := h.execute("alice", sleepy)
		if a.Status.State != statePending || a.Manifest != nil || a.Result != nil || !strings.HasPrefix(a.StatementID, "01f0") {
			t.Fatalf("execute with wait_timeout 0s: %+v", a)
		}
		id := a.StatementID
		steps := []struct {
			advance   time.Duration
			state     string
			chunkCode int // GET …/result/chunks/0
		}{
			{0, stateRunning, 404},
			{29 * time.Second, stateRunning, 404},
			{time.Second, stateSucceeded, 200},
			{time.Hour - time.Millisecond, stateSucceeded, 200},
			{time.Millisecond, stateClosed, 404},
		}
		for _, s := range steps {
			h.clk.Advance(s.advance)
			got := h.statement("alice", id)
			if got.Status.State != s.state || (got.Manifest != nil) != (s.state == stateSucceeded) || (got.Result != nil) != (s.state == stateSucceeded) {
				t.Errorf("+%v: state %s manifest %v result %v; want %s", s.advance, got.Status.State, got.Manifest != nil, got.Result != nil, s.state)
			}
			if code, m := h.sqlDo("GET", PathStatements+"/"+id+"/result/chunks/0", "alice", "", nil); code != s.chunkCode {
				t.Errorf("+%v: chunk 0: %d %v, want %d", s.advance, code, m, s.chunkCode)
			}
		}
	})

	t.Run("cancel: a running statement is CANCELED, a finished one stays as it is", func(t *testing.T) {
		running := h.execute("alice", sleepy).StatementID
		done := h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT 1 AS one"`)
		if done.Status.State != stateSucceeded || *done.Result.DataArray[0][0] != "1" {
			t.Fatalf("SELECT 1: %+v", done)
		}
		for _, id := range []string{running, done.StatementID} {
			if code, m := h.sqlDo("POST", PathStatements+"/"+id+"/cancel", "alice", "", nil); code != 200 || len(m) != 0 {
				t.Fatalf("cancel %s: %d %v", id, code, m)
			}
		}
		h.clk.Advance(time.Minute)
		if s := h.statement("alice", running).Status.State; s != stateCanceled {
			t.Errorf("canceled while running: %s", s)
		}
		if s := h.statement("alice", done.StatementID).Status.State; s != stateSucceeded {
			t.Errorf("canceled after it finished: %s", s)
		}
	})

	t.Run("another user's statement is not found", func(t *testing.T) {
		id := h.execute("alice", sleepy).StatementID
		for _, p := range []struct{ method, path string }{
			{"GET", PathStatements + "/" + id}, {"GET", PathStatements + "/" + id + "/result/chunks/0"},
			{"POST", PathStatements + "/" + id + "/cancel"},
		} {
			if code, m := h.sqlDo(p.method, p.path, "bob", "", nil); code != 404 || m["error_code"] != "NOT_FOUND" {
				t.Errorf("bob %s %s: %d %v", p.method, p.path, code, m)
			}
		}
		if s := h.statement("alice", id).Status.State; s != stateRunning {
			t.Errorf("bob's cancel reached alice's statement: %s", s)
		}
	})

	t.Run("a STOPPED warehouse starts when a statement arrives", func(t *testing.T) {
		if st := h.warehouseState("alice", coldWH); st != warehouseStopped {
			t.Fatalf("cold warehouse before use: %s", st)
		}
		id := h.execute("alice", `"warehouse_id": "`+coldWH+`", "wait_timeout": "0s", "statement": "SELECT count(*) FROM main.sales.regions"`).StatementID
		if st, ws := h.statement("alice", id).Status.State, h.warehouseState("alice", coldWH); st != statePending || ws != warehouseStarting {
			t.Errorf("while starting: statement %s, warehouse %s", st, ws)
		}
		h.clk.Advance(1999 * time.Millisecond)
		if st := h.statement("alice", id).Status.State; st != statePending {
			t.Errorf("1.999 s later: %s", st)
		}
		h.clk.Advance(time.Millisecond)
		if a, ws := h.statement("alice", id), h.warehouseState("alice", coldWH); a.Status.State != stateSucceeded || *a.Result.DataArray[0][0] != "5" || ws != warehouseRunning {
			t.Errorf("2 s later: statement %+v, warehouse %s", a.Status, ws)
		}
	})

	t.Run("wait_timeout waits on the fake's clock; CANCEL cancels, CONTINUE leaves it running", func(t *testing.T) {
		for _, c := range []struct{ onTimeout, want string }{{"CANCEL", stateCanceled}, {"CONTINUE", stateRunning}} {
			body := `{"warehouse_id": "` + sharedWH + `", "wait_timeout": "5s", "on_wait_timeout": "` + c.onTimeout +
				`", "statement": "SELECT 1 /* devstack:sleep=600 */"}`
			answer := make(chan stmtAnswer, 1)
			go func() {
				var a stmtAnswer
				resp := h.raw("POST", PathStatements, "tok-alice", body)
				_ = json.NewDecoder(resp.Body).Decode(&a)
				answer <- a
			}()
			ctx := testsupport.Context(t)
			var a stmtAnswer
		wait:
			for {
				select {
				case a = <-answer:
					break wait
				case <-ctx.Done():
					t.Fatal("no answer before the test's deadline")
				case <-time.After(waitPoll):
					h.clk.Advance(time.Second) // the statement sleeps 600 s; the wait ends after 5
				}
			}
			if a.Status.State != c.want {
				t.Errorf("on_wait_timeout %s: %s, want %s", c.onTimeout, a.Status.State, c.want)
			}
		}
	})
}

func (h *harness) warehouseState(user, id string) string {
	h.t.Helper()
	var w struct {
		State string `json:"state"`
	}
	if code, m := h.sqlDo("GET", PathWarehouses+"/"+id, user, "", &w); code != 200 {
		h.t.Fatalf("get warehouse %s: %d %v", id, code, m)
	}
	return w.State
}

func TestSQLChunksWalkToTheEndAndLimitsTruncate(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	cases := []struct {
		name                string
		limits              string
		wantRows, wantCount int
		truncated           bool
	}{
		{"1,200 rows in 12 chunks of 100", ``, 1200, 12, false},
		{"row_limit cuts and says so", `, "row_limit": 250`, 250, 3, true},
		{"a row_limit above the result does not", `, "row_limit": 5000`, 1200, 12, false},
		{"byte_limit cuts and says so", `, "byte_limit": 2000`, 0, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT * FROM main.sales.orders ORDER BY order_id"`+c.limits)
			m := a.Manifest
			if a.Status.State != stateSucceeded || m.TotalChunkCount != c.wantCount || len(m.Chunks) != c.wantCount ||
				m.Truncated == nil || *m.Truncated != c.truncated {
				t.Fatalf("state %s, manifest chunks %d/%d truncated %v", a.Status.State, m.TotalChunkCount, len(m.Chunks), m.Truncated)
			}
			if c.wantRows == 0 { // the byte limit: some rows, fewer than all
				c.wantRows = int(m.TotalRowCount)
				if c.wantRows == 0 || c.wantRows >= 100 {
					t.Fatalf("byte_limit 2000 kept %d rows", c.wantRows)
				}
			}
			rows, chunk, seen := 0, a.Result, 0
			for {
				if *chunk.ChunkIndex != seen || *chunk.RowOffset != int64(rows) || int(chunk.RowCount) != len(chunk.DataArray) ||
					*m.Chunks[seen].RowOffset != rows || m.Chunks[seen].RowCount != len(chunk.DataArray) {
					t.Fatalf("chunk %d: index %d offset %d count %d rows %d", seen, *chunk.ChunkIndex, *chunk.RowOffset, chunk.RowCount, len(chunk.DataArray))
				}
				rows += len(chunk.DataArray)
				seen++
				if chunk.NextChunkIndex == nil {
					if chunk.NextChunkInternalLink != "" {
						t.Errorf("last chunk has a link %q", chunk.NextChunkInternalLink)
					}
					break
				}
				if *chunk.NextChunkIndex != seen || chunk.NextChunkInternalLink != PathStatements+"/"+a.StatementID+"/result/chunks/"+itoa(seen) {
					t.Fatalf("next %d %q", *chunk.NextChunkIndex, chunk.NextChunkInternalLink)
				}
				var next chunkAnswer
				if code, e := h.sqlDo("GET", chunk.NextChunkInternalLink, "alice", "", &next); code != 200 {
					t.Fatalf("chunk %d: %d %v", seen, code, e)
				}
				chunk = &next
			}
			if rows != c.wantRows || int(m.TotalRowCount) != rows || seen != c.wantCount {
				t.Errorf("%d rows in %d chunks, manifest %d; want %d", rows, seen, m.TotalRowCount, c.wantRows)
			}
			if code, e := h.sqlDo("GET", PathStatements+"/"+a.StatementID+"/result/chunks/"+itoa(seen), "alice", "", nil); code != 400 || e["error_code"] != "INVALID_PARAMETER_VALUE" {
				t.Errorf("chunk past the end: %d %v", code, e)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSQLParametersAreDataNeverText(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	evil := `'; DROP TABLE main.sales.orders; --`
	cases := []struct {
		name, params, want string
	}{
		{"an injection attempt comes back as data", `[{"name": "v", "value": ` + q(evil) + `}]`, evil},
		{"a missing value is NULL", `[{"name": "v"}]`, "null"},
		{"an explicit null is NULL", `[{"name": "v", "value": null}]`, "null"},
		{"an empty string stays one", `[{"name": "v", "value": ""}]`, ""},
		{"a typed DATE", `[{"name": "v", "value": "2026-01-05", "type": "DATE"}]`, "2026-01-05"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT :v AS v", "parameters": `+c.params)
			got := "null"
			if v := a.Result.DataArray[0][0]; v != nil {
				got = *v
			}
			if a.Status.State != stateSucceeded || got != c.want {
				t.Errorf("state %s value %q, want %q", a.Status.State, got, c.want)
			}
		})
	}
	t.Run("as a filter it matches nothing and the table stays whole", func(t *testing.T) {
		a := h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT order_id FROM main.sales.orders WHERE region = :region", "parameters": [{"name": "region", "value": `+q(evil)+`}]`)
		if a.Status.State != stateSucceeded || a.Manifest.TotalRowCount != 0 || len(a.Result.DataArray) != 0 {
			t.Errorf("filter: %+v", a)
		}
		a = h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT count(*) FROM main.sales.orders WHERE order_date >= :since AND express = :express", "parameters": [{"name": "since", "value": "2026-11-01", "type": "DATE"}, {"name": "express", "value": "true", "type": "BOOLEAN"}]`)
		if a.Status.State != stateSucceeded || *a.Result.DataArray[0][0] != "24" {
			t.Errorf("typed parameters: %+v %v", a.Status, a.Result)
		}
		a = h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT count(*) FROM main.sales.orders"`)
		if *a.Result.DataArray[0][0] != "1200" {
			t.Errorf("orders has %s rows", *a.Result.DataArray[0][0])
		}
	})
	t.Run("the fake records the text, the parameters and the query tags apart", func(t *testing.T) {
		h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT :v AS v", "parameters": [{"name": "v", "value": `+q(evil)+`}], "query_tags": [{"key": "flowbricks"}, {"key": "flowbricks_action", "value": "Run_a_SQL_statement"}]`)
		var got struct {
			Statements []StatementRecord `json:"statements"`
		}
		resp := h.raw("GET", "/devstack/statements", "", "")
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got.Statements) == 0 {
			t.Fatalf("/devstack/statements: %v %+v", err, got)
		}
		r := got.Statements[len(got.Statements)-1]
		if r.Statement != "SELECT :v AS v" || len(r.Parameters) != 1 || *r.Parameters[0].Value != evil || r.Principal != aliceUPN ||
			len(r.QueryTags) != 2 || r.QueryTags[0].Value != nil || *r.QueryTags[1].Value != "Run_a_SQL_statement" {
			t.Errorf("record %+v", r)
		}
	})
}

func TestSQLWarehouseListIsFilteredByPermission(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	cases := []struct {
		user   string
		status int
		want   string
	}{
		{"alice", 200, "Shared SQL:RUNNING,Cold Warehouse:STOPPED,Finance SQL:RUNNING"},
		{"bob", 200, "Shared SQL:RUNNING,Cold Warehouse:STOPPED"},
		{"sp", 200, ""},
		{"carol", 403, ""},
	}
	for _, c := range cases {
		t.Run(c.user, func(t *testing.T) {
			var got struct {
				Warehouses []struct {
					ID, Name, State string
					OdbcParams      struct{ Path string } `json:"odbc_params"`
				}
			}
			code, _ := h.sqlDo("GET", PathWarehouses, c.user, "", &got)
			var names []string
			for _, w := range got.Warehouses {
				names = append(names, w.Name+":"+w.State)
				if w.OdbcParams.Path != "/sql/1.0/warehouses/"+w.ID {
					t.Errorf("odbc path %q", w.OdbcParams.Path)
				}
			}
			if code != c.status || strings.Join(names, ",") != c.want {
				t.Errorf("%d %v, want %d %s", code, names, c.status, c.want)
			}
		})
	}
	if code, m := h.sqlDo("GET", PathWarehouses+"/"+financeWH, "bob", "", nil); code != 403 || m["error_code"] != "PERMISSION_DENIED" {
		t.Errorf("bob gets Finance SQL: %d %v", code, m)
	}
}

func TestSQLStatsAndFaultsByPathPrefix(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	id := h.execute("alice", `"warehouse_id": "`+sharedWH+`", "statement": "SELECT * FROM main.sales.orders"`).StatementID
	if err := h.ws.InjectFault(Fault{Path: PathStatements + "/*", Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.sqlDo("GET", PathStatements+"/"+id, "alice", "", nil); code != 503 {
		t.Errorf("faulted get: %d", code)
	}
	h.statement("alice", id)
	h.sqlDo("GET", PathStatements+"/"+id+"/result/chunks/3", "alice", "", nil)
	h.sqlDo("POST", PathStatements+"/"+id+"/cancel", "alice", "", nil)
	h.sqlDo("GET", PathWarehouses, "alice", "", nil)
	h.sqlDo("GET", PathWarehouses+"/"+sharedWH, "alice", "", nil)
	st := h.ws.Stats()
	got := []int64{st.StatementsExecuted, st.StatementsGet, st.StatementChunks, st.StatementsCanceled, st.WarehousesList, st.WarehousesGet, st.FaultsServed, st.EndpointNotFound}
	want := []int64{1, 2, 1, 1, 1, 1, 1, 0}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("counters executed/get/chunks/canceled/list/get-warehouse/faults/not-found = %v, want %v", got, want)
			break
		}
	}
	var m map[string]any
	b, _ := json.Marshal(st)
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"statements_executed", "statements_get", "statement_chunks", "statements_canceled", "warehouses_list"} {
		if _, ok := m[k]; !ok {
			t.Errorf("/devstack/stats has no %s", k)
		}
	}
}

// A client that gives up on an execute that waits (wait_timeout) ends the wait: nothing of the fake is
// left running once the server has shut down and the engine is closed.
func TestSQLWaitsEndWithTheClientAndLeaveNoGoroutines(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))
	ctx, cancel := context.WithCancel(testsupport.Context(t))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+PathStatements, strings.NewReader(
		`{"warehouse_id": "`+sharedWH+`", "wait_timeout": "50s", "statement": "SELECT 1 /* devstack:sleep=3600 */"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok-alice")
	done := make(chan error, 1)
	go func() {
		resp, err := h.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Cancel once the statement exists, i.e. the handler is waiting.
	for len(h.ws.Statements()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the statement never arrived")
		case <-time.After(waitPoll):
		}
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the waiting execute was answered")
	}
	h.srv.Close() // waits for every handler: returns only once the wait has ended
	if err := h.ws.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := testsupport.Context(t)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		// The test's own goroutine is in fakeworkspace.Test…; the fake's are in its methods.
		if !strings.Contains(stacks, "fakeworkspace.(*") && !strings.Contains(stacks, "modernc.org/sqlite") {
			return
		}
		select {
		case <-deadline.Done():
			t.Fatalf("goroutines left behind:\n%s", stacks)
		case <-time.After(waitPoll):
		}
	}
}

// Only the devstack may embed SQLite: the handler that ships must not link it.
func TestTheHandlerDoesNotLinkSQLite(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testsupport.Context(t), "go", "list", "-deps", "./handler/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./handler/...: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list found only %v", deps)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "modernc.org/") {
			t.Errorf("the handler depends on %s", d)
		}
	}
}
