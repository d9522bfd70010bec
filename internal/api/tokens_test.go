package api

// The Databricks token a request acts with, end to end inside the handler: authenticate's token
// source, the real databricks.Client and a stand-in workspace that rejects tokens the way Azure
// Databricks does.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
)

// countingExchanger hands out "dbx-<oid>-0" and, per Refresh, "dbx-<oid>-<n>"; refreshErr makes
// Refresh fail.
type countingExchanger struct {
	mu         sync.Mutex
	refreshes  int
	rejected   []entra.Token
	refreshErr error
	tokenErr   error
}

func (x *countingExchanger) TokenFor(_ context.Context, p entra.Principal, _ entra.Token) (entra.Token, time.Time, error) {
	if x.tokenErr != nil {
		return "", time.Time{}, x.tokenErr
	}
	return entra.Token("dbx-" + p.ObjectID + "-0"), time.Now().Add(time.Hour), nil
}

func (x *countingExchanger) Refresh(_ context.Context, p entra.Principal, _, rejected entra.Token) (entra.Token, time.Time, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.refreshes++
	x.rejected = append(x.rejected, rejected)
	if x.refreshErr != nil {
		return "", time.Time{}, x.refreshErr
	}
	return entra.Token(fmt.Sprintf("dbx-%s-%d", p.ObjectID, x.refreshes)), time.Now().Add(time.Hour), nil
}

func (x *countingExchanger) count() int { x.mu.Lock(); defer x.mu.Unlock(); return x.refreshes }

// tokenWorkspace answers runs/get with a finished three-task run and get-output with each task's
// output, and answers every request for which rejects(path, token) with Databricks' 403
// {"error_code":403,"message":"JWT has expired"} (https://github.com/databricks/databricks-sdk-go/issues/1061).
type tokenWorkspace struct {
	srv     *httptest.Server
	rejects func(path, token string) bool
	mu      sync.Mutex
	seen    []string // the bearer token of every request
}

func newTokenWorkspace(t *testing.T, rejects func(path, token string) bool) *tokenWorkspace {
	t.Helper()
	ws := &tokenWorkspace{rejects: rejects}
	ws.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		ws.mu.Lock()
		ws.seen = append(ws.seen, tok)
		ws.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if ws.rejects(r.URL.Path, tok) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error_code":403,"message":"JWT has expired"}`)
			return
		}
		switch r.URL.Path {
		case "/api/2.2/jobs/runs/get":
			fmt.Fprint(w, `{"run_id":7002,"job_id":101,"state":{"life_cycle_state":"TERMINATED","result_state":"SUCCESS"},
				"tasks":[{"task_key":"a","run_id":11},{"task_key":"b","run_id":12},{"task_key":"c","run_id":13}]}`)
		case "/api/2.2/jobs/runs/get-output":
			fmt.Fprintf(w, `{"notebook_output":{"result":"out-%s"}}`, r.URL.Query().Get("run_id"))
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error_code":"ENDPOINT_NOT_FOUND","message":"no"}`)
		}
	}))
	t.Cleanup(ws.srv.Close)
	return ws
}

func (ws *tokenWorkspace) tokens() []string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return append([]string(nil), ws.seen...)
}

func newTokenServer(t *testing.T, host string, x *countingExchanger) *testServer {
	t.Helper()
	client, err := databricks.New(databricks.Options{Host: host, RequestTimeout: 5 * time.Second, RetryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, func(d *Deps) {
		d.Exchanger = x
		d.Workspaces = map[string]Workspace{"default": client}
	})
}

// The token expires between the calls of one request: the run is read with it, then the outputs
// of the run's three tasks — asked for in parallel — are all rejected. The request exchanges once
// more, not once per rejected call, and each call is repeated once with the fresh token.
func TestRejectedDatabricksTokenIsReplacedOncePerRequest(t *testing.T) {
	ws := newTokenWorkspace(t, func(path, tok string) bool {
		return path == "/api/2.2/jobs/runs/get-output" && strings.HasSuffix(tok, "-0")
	})
	x := &countingExchanger{}
	s := newTokenServer(t, ws.srv.URL, x)

	r := s.do(t, call{method: "GET", path: "/api/jobs/runs/7002/output", token: aliceToken})

	if r.status != 200 || !strings.Contains(r.body, "out-11") || !strings.Contains(r.body, "out-13") {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if n := x.count(); n != 1 {
		t.Errorf("refreshes = %d, want 1 for the whole request", n)
	}
	if x.rejected[0] != "dbx-oid-alice-0" {
		t.Error("Refresh was not told which token Databricks rejected")
	}
	count := map[string]int{}
	for _, tok := range ws.tokens() {
		count[tok]++
	}
	// runs/get and at least one output call used the first token; an output call that started
	// after the refresh used the fresh token straight away, so how many were rejected depends on
	// scheduling. Each task's output was read once with the fresh token.
	if first := count["dbx-oid-alice-0"]; first < 2 || first > 4 || count["dbx-oid-alice-1"] != 3 || len(count) != 2 {
		t.Errorf("tokens the workspace saw: %v; want the first token 2 to 4 times (runs/get and the rejected outputs), the fresh one 3 times", count)
	}
	if !strings.Contains(s.logs.String(), "exchanged again") {
		t.Error("the refresh is not logged")
	}
}

// Rejected again after the refresh: one refresh, one retry, a 502 the flow can tell apart.
func TestTokenRejectedAfterRefreshIsDatabricksTokenRejected(t *testing.T) {
	ws := newTokenWorkspace(t, func(string, string) bool { return true })
	x := &countingExchanger{}
	s := newTokenServer(t, ws.srv.URL, x)

	r := s.do(t, call{method: "GET", path: "/api/jobs/runs/7002", token: aliceToken})

	if r.status != 502 || r.json["code"] != "databricks_token_rejected" || !strings.Contains(detailOf(r), "JWT has expired") {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if n, seen := x.count(), len(ws.tokens()); n != 1 || seen != 2 {
		t.Errorf("refreshes = %d, workspace requests = %d; want 1 and 2", n, seen)
	}
}

// When the refresh itself fails, the caller hears why (here: the caller's exchange bound), not
// that Databricks rejected a token.
func TestFailedRefreshAnswersWithTheExchangeProblem(t *testing.T) {
	ws := newTokenWorkspace(t, func(string, string) bool { return true })
	x := &countingExchanger{refreshErr: &entra.ExchangeError{Kind: entra.Throttled, Description: "too many", RetryAfter: 3 * time.Second}}
	s := newTokenServer(t, ws.srv.URL, x)

	r := s.do(t, call{method: "GET", path: "/api/jobs/runs/7002", token: aliceToken})

	if r.status != 429 || r.json["code"] != "throttled" || r.header.Get("Retry-After") != "3" {
		t.Fatalf("got %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	if !strings.Contains(s.logs.String(), "JWT has expired") {
		t.Error("the log line does not keep Databricks' rejection")
	}
}

// A caller over its exchange bound gets 429 with Retry-After before anything else happens.
func TestExchangeBoundIsTooManyRequests(t *testing.T) {
	x := &countingExchanger{tokenErr: &entra.ExchangeError{Kind: entra.Throttled, Description: "too many", RetryAfter: 2400 * time.Millisecond}}
	s := newTestServer(t, func(d *Deps) { d.Exchanger = x })

	r := s.do(t, call{method: "GET", path: "/api/jobs", token: aliceToken})

	if r.status != 429 || r.json["code"] != "throttled" || r.header.Get("Retry-After") != "2" {
		t.Fatalf("got %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
}

// A connection failure tells the caller what happened, and only the log where.
func TestUnreachableWorkspaceAddressIsLoggedNotAnswered(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := newTokenServer(t, "http://"+addr, &countingExchanger{})

	r := s.do(t, call{method: "GET", path: "/api/jobs/runs/7002", token: aliceToken})

	if r.status != 503 || detailOf(r) == "" {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if strings.Contains(r.body, addr) || strings.Contains(r.body, "127.0.0.1") || strings.Contains(r.body, "dial tcp") {
		t.Errorf("the answer names the address: %s", r.body)
	}
	if !strings.Contains(detailOf(r), "connection refused") {
		t.Errorf("detail = %q, want it to say the connection was refused", detailOf(r))
	}
	if !strings.Contains(s.logs.String(), addr) {
		t.Errorf("the log does not have the address %s:\n%s", addr, s.logs.String())
	}
}

// Truncated outputs show at the run level too; a single task's result is one value in memory,
// however often the answer repeats it.
func TestRunOutputTruncatedFlag(t *testing.T) {
	tests := []struct {
		name    string
		outputs []databricks.TaskOutput
		want    bool
	}{
		{"complete", []databricks.TaskOutput{{TaskKey: "a", Result: "1"}, {TaskKey: "b", Result: "2"}}, false},
		{"one task cut", []databricks.TaskOutput{{TaskKey: "a", Result: "1"}, {TaskKey: "b", Result: "2", Truncated: true}}, true},
		{"single task cut", []databricks.TaskOutput{{TaskKey: "a", Result: `{"x":`, Truncated: true}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := newRunOutput(tt.outputs)
			if out.Truncated != tt.want {
				t.Errorf("Truncated = %v, want %v", out.Truncated, tt.want)
			}
		})
	}
	out := newRunOutput([]databricks.TaskOutput{{TaskKey: "a", Result: `{"rows": 1}`}})
	if &out.ResultJSON[0] != &out.Tasks[0].ResultJSON[0] || out.Result != out.Tasks[0].Result {
		t.Error("the run-level result_json is a second copy of the task's")
	}
}

func detailOf(r response) string { s, _ := r.json["detail"].(string); return s }
