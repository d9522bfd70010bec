package e2e

// End-to-end tests of upstream faults: the fake workspace misbehaves (429, 503, gateway errors
// with HTML bodies, a hung answer, a lost response) and flowbricks must answer the flow with the
// right status and Retry-After, retry only within its deadline, never start a run twice, and
// never hold a request past its deadline. The stack runs with a 3 s upstream timeout
// (FLOWBRICKS_UPSTREAM_TIMEOUT_SECONDS) so the deadline cases stay short.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
)

const faultsUpstreamTimeout = 3 * time.Second

func TestUpstreamFaults(t *testing.T) {
	t.Parallel() // its own stack; it mostly waits for upstream deadlines
	s, _ := startCapturedStack(t, devstack.Options{Env: []string{
		fmt.Sprintf("FLOWBRICKS_UPSTREAM_TIMEOUT_SECONDS=%d", int(faultsUpstreamTimeout/time.Second)),
	}})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	first := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101}`})
	if first.status != 200 {
		t.Fatalf("run-now before any fault: %d %s", first.status, first.body)
	}
	runPath := fmt.Sprintf("/api/jobs/runs/%.0f", first.json["run_id"])

	inject := func(t *testing.T, f fakeworkspace.Fault) {
		t.Helper()
		if err := s.Workspace.InjectFault(f); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Workspace.ClearFaults)
	}
	retryAfter := func(t *testing.T, r apiResponse) int {
		t.Helper()
		n, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || n < 1 {
			t.Fatalf("Retry-After = %q, want whole seconds ≥ 1", r.header.Get("Retry-After"))
		}
		return n
	}

	// Persistent 429 / 503: the SDK retries with backoff (1 s, 2 s, …) but only until the 3 s
	// deadline; without it, its default 20 s retry window would allow about six attempts.
	persistent := []struct {
		name, path, method, apiPath, body string
		status                            int
		wantStatus                        int
		wantCode                          string
	}{
		{"Databricks throttles (429) listing jobs", fakeworkspace.PathJobsList, "GET", "/api/jobs", "", 429, 429, "throttled"},
		{"Databricks throttles (429) run-now", fakeworkspace.PathRunNow, "POST", "/api/jobs/run-now", `{"job_id": 101}`, 429, 429, "throttled"},
		{"Databricks unavailable (503) reading a run", fakeworkspace.PathRunsGet, "GET", runPath, "", 503, 503, "upstream_unavailable"},
	}
	for _, tt := range persistent {
		t.Run(tt.name, func(t *testing.T) {
			inject(t, fakeworkspace.Fault{Path: tt.path, Status: tt.status})
			before := s.Workspace.Stats()
			r := s.call(t, apiCall{method: tt.method, path: tt.apiPath, token: alice, body: tt.body})
			if r.status != tt.wantStatus || r.str("code") != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tt.wantStatus, tt.wantCode)
			}
			retryAfter(t, r)
			// Only an upper bound: a loaded machine makes fewer attempts within the deadline, never
			// more. That a refused call is retried at all is shown by the transient 503 below.
			if served := s.Workspace.Stats().FaultsServed - before.FaultsServed; served > 4 {
				t.Errorf("the workspace saw %d attempts, want at most 4 (retries only within the %v deadline)", served, faultsUpstreamTimeout)
			}
			if created := s.Workspace.Stats().RunsCreated - before.RunsCreated; created != 0 {
				t.Errorf("%d runs created while Databricks refused every run-now", created)
			}
		})
	}

	t.Run("a transient 503 is retried and succeeds", func(t *testing.T) {
		inject(t, fakeworkspace.Fault{Path: fakeworkspace.PathRunNow, Status: 503, Count: 1})
		before := s.Workspace.Stats()
		r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101}`})
		if r.status != 200 || r.json["run_id"] == nil {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		after := s.Workspace.Stats()
		if after.RunNow-before.RunNow != 2 || after.RunsCreated-before.RunsCreated != 1 {
			t.Errorf("run-now requests %d, runs created %d; want 2 and 1", after.RunNow-before.RunNow, after.RunsCreated-before.RunsCreated)
		}
	})

	t.Run("a lost response (503 after the run started) does not start a second run", func(t *testing.T) {
		inject(t, fakeworkspace.Fault{Path: fakeworkspace.PathRunNow, Status: 503, Count: 1, AfterEffect: true})
		before := s.Workspace.Stats()
		r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101}`})
		if r.status != 200 || r.json["run_id"] == nil {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		after := s.Workspace.Stats()
		if after.RunsCreated-before.RunsCreated != 1 || after.IdempotentReplays-before.IdempotentReplays != 1 {
			t.Errorf("runs created %d, idempotent replays %d; want 1 and 1 (the retry carried the same idempotency token)",
				after.RunsCreated-before.RunsCreated, after.IdempotentReplays-before.IdempotentReplays)
		}
	})

	for _, status := range []int{500, 502, 504} {
		t.Run(fmt.Sprintf("a gateway %d with an HTML page is a 502 upstream_error, not retried", status), func(t *testing.T) {
			inject(t, fakeworkspace.Fault{Path: fakeworkspace.PathJobsList, Status: status, HTML: true})
			before := s.Workspace.Stats()
			r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: alice})
			if r.status != 502 || r.str("code") != "upstream_error" {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if strings.Contains(r.str("detail"), "<") {
				t.Errorf("the detail passes HTML through: %q", r.str("detail"))
			}
			if served := s.Workspace.Stats().FaultsServed - before.FaultsServed; served != 1 {
				t.Errorf("%d attempts, want 1 (%d is not retried)", served, status)
			}
		})
	}

	for _, c := range []struct{ name, path, method, apiPath, body string }{
		{"reading a run", fakeworkspace.PathRunsGet, "GET", runPath, ""},
		{"run-now", fakeworkspace.PathRunNow, "POST", "/api/jobs/run-now", `{"job_id": 101}`},
	} {
		t.Run("a hung upstream never holds the request past its deadline: "+c.name, func(t *testing.T) {
			inject(t, fakeworkspace.Fault{Path: c.path, LatencyMs: 120_000})
			// If flowbricks waited for the upstream, this client would give up first and fail the test.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, c.method, s.Info.HandlerURL+c.apiPath, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+alice)
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("the request was held past its deadline: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 503 || !strings.Contains(string(body), `"upstream_unavailable"`) || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("got %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
		})
	}

	t.Run("after the faults clear, the same user is served again", func(t *testing.T) {
		if r := s.call(t, apiCall{method: "GET", path: runPath, token: alice}); r.status != 200 {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}
