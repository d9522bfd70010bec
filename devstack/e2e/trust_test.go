package e2e

// End-to-end tests of what callers can do to each other and to the logs: idempotency keys are
// scoped to the caller, the job and the request (app callers all act as flowbricks' one
// Databricks principal), loop iterations of one workflow action are runs of their own while
// retries of one iteration are not, and tokens sent anywhere in a request never reach the log.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/devstack/stack/stacktest"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/redact"
	"github.com/flowbricks/flowbricks/recipes"
)

// secondLogicApp is a second allow-listed app caller with the Jobs.Run role. Like logic-app it
// reaches Databricks as flowbricks' own service principal.
var secondLogicApp = fakeentra.App{Name: "second-logic-app", ClientID: "1091c0de-0000-4000-8000-00000000b003", Roles: []string{"Jobs.Run"}}

// startTrustStack starts a stack with two app callers and bob allowed to run job 101 too.
func startTrustStack(t *testing.T) (*stack, *lockedBuffer) {
	t.Helper()
	logicApp := fixtureApp(t, "logic-app")
	return startCapturedStack(t, devstack.Options{
		Env: []string{config.EnvAppCallers + "=" + logicApp.ClientID + "," + secondLogicApp.ClientID},
		Mutate: func(fx *devstack.Fixture) {
			fx.Entra.Apps = append(fx.Entra.Apps, secondLogicApp)
			for i := range fx.Workspace.Jobs {
				if fx.Workspace.Jobs[i].JobID == 101 {
					fx.Workspace.Jobs[i].ACL["bob@contoso.example"] = "CAN_MANAGE_RUN"
				}
			}
		},
	})
}

func TestIdempotencyKeysAreScopedToTheCaller(t *testing.T) {
	t.Parallel()
	s, _ := startTrustStack(t)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})
	app1 := s.appToken(t, fixtureApp(t, "logic-app").ClientID, fakeentra.MintOptions{})
	app2 := s.appToken(t, secondLogicApp.ClientID, fakeentra.MintOptions{})

	type send struct {
		token, body, key string
	}
	tests := []struct {
		name     string
		sends    []send
		runs     int64 // runs created
		distinct int   // distinct run ids in the answers
		lastJob  float64
		replays  int64 // run-now calls Databricks answered with an existing run
	}{
		{"two app callers (one Databricks principal), one key: two runs",
			[]send{{app1, `{"job_id": 101}`, "nightly-a"}, {app2, `{"job_id": 101}`, "nightly-a"}}, 2, 2, 101, 0},
		{"two users, one key: two runs",
			[]send{{alice, `{"job_id": 101}`, "nightly-b"}, {bob, `{"job_id": 101}`, "nightly-b"}}, 2, 2, 101, 0},
		{"one caller retrying: one run",
			[]send{{app1, `{"job_id": 101}`, "nightly-c"}, {app1, `{"job_id": 101}`, "nightly-c"}, {app1, `{"job_id": 101}`, "nightly-c"}}, 1, 1, 101, 2},
		{"one key for job 102, then for job 101: the run of job 101",
			[]send{{alice, `{"job_id": 102}`, "nightly-d"}, {alice, `{"job_id": 101}`, "nightly-d"}}, 2, 2, 101, 0},
		{"one key in the body, other parameters: another run",
			[]send{{alice, `{"job_id": 101, "idempotency_token": "nightly-e", "job_parameters": {"date": "2026-11-28"}}`, ""},
				{alice, `{"job_id": 101, "idempotency_token": "nightly-e", "job_parameters": {"date": "2026-11-29"}}`, ""}}, 2, 2, 101, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Workspace.Stats()
			ids := map[float64]bool{}
			var last apiResponse
			for _, c := range tt.sends {
				var h map[string]string
				if c.key != "" {
					h = map[string]string{"Idempotency-Key": c.key}
				}
				last = s.runNow(t, c.token, "", c.body, h)
				if last.status != http.StatusOK {
					t.Fatalf("run-now: %d %s", last.status, last.body)
				}
				if c.key != "" && last.str("idempotency_token") != c.key {
					t.Errorf("the answer shows %q, want the caller's own key %q", last.str("idempotency_token"), c.key)
				}
				ids[last.json["run_id"].(float64)] = true
			}
			after := s.Workspace.Stats()
			if n := after.RunsCreated - before.RunsCreated; n != tt.runs || len(ids) != tt.distinct {
				t.Errorf("%d runs created, %d distinct in the answers; want %d and %d", n, len(ids), tt.runs, tt.distinct)
			}
			if n := after.IdempotentReplays - before.IdempotentReplays; n != tt.replays {
				t.Errorf("%d idempotent replays, want %d", n, tt.replays)
			}
			if last.json["job_id"] != tt.lastJob {
				t.Errorf("the last answer is a run of job %v, want %v", last.json["job_id"], tt.lastJob)
			}
		})
	}
}

// iterationHeaders are the headers of one attempt of one loop iteration of the action Run_job:
// the run id and action name are those of every iteration; the action tracking id and the
// repetition headers name the iteration and stay the same on a retry; the client request id
// changes per attempt (docs/connector.md, "Loops and retries").
func iterationHeaders(run string, iteration, attempt int, repetition bool) map[string]string {
	h := recipes.WorkflowHeaders(run, "Run_job", attempt)
	h["x-ms-action-tracking-id"] = fmt.Sprintf("0d8152bb-e198-44a9-bde8-%012d", iteration)
	h["x-ms-client-request-id"] = fmt.Sprintf("3b2f6a4e-0000-4000-8000-%06d%06d", iteration, attempt)
	if repetition {
		h["x-ms-workflow-repeatitem-scope-name"] = "For_each"
		h["x-ms-workflow-repeatitem-index"] = fmt.Sprint(iteration)
		h["x-ms-workflow-repeatitem-batch-index"] = "0"
	}
	return h
}

func TestLoopIterationsGetOneRunEachAndRetriesNone(t *testing.T) {
	t.Parallel()
	s := shared(t)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	for _, repetition := range []bool{true, false} {
		t.Run(fmt.Sprintf("repetition headers %v", repetition), func(t *testing.T) {
			const iterations, attempts = 4, 3
			run := fmt.Sprintf("08586611142736787787412824395CU%02d", map[bool]int{true: 31, false: 32}[repetition])
			before := s.Workspace.Stats()
			runOf := map[int]float64{}
			for i := range iterations {
				for a := range attempts {
					// Every iteration sends the same body: only the headers tell them apart.
					r := s.runNow(t, alice, "", `{"job_id": 101, "job_parameters": {"date": "2026-11-28"}}`, iterationHeaders(run, i, a, repetition))
					if r.status != http.StatusOK {
						t.Fatalf("iteration %d attempt %d: %d %s", i, a, r.status, r.body)
					}
					id := r.json["run_id"].(float64)
					if a == 0 {
						runOf[i] = id
					} else if id != runOf[i] {
						t.Fatalf("iteration %d: retry %d got run %.0f, the first attempt run %.0f", i, a, id, runOf[i])
					}
				}
			}
			distinct := map[float64]bool{}
			for _, id := range runOf {
				distinct[id] = true
			}
			after := s.Workspace.Stats()
			if n := after.RunsCreated - before.RunsCreated; n != iterations || len(distinct) != iterations {
				t.Errorf("%d iterations created %d runs (%d distinct), want one each", iterations, n, len(distinct))
			}
			if n := after.IdempotentReplays - before.IdempotentReplays; n != iterations*(attempts-1) {
				t.Errorf("%d idempotent replays, want %d (every retry)", n, iterations*(attempts-1))
			}
		})
	}
}

// TestTokensInRequestsNeverReachTheLogs sends a valid access token wherever a caller can put one.
// This test's own log must hold no 20-character piece of it (every request's access line is there
// to prove the requests were logged); TestMain scans every handler log the same way for every
// token any test sent (sentTokens).
func TestTokensInRequestsNeverReachTheLogs(t *testing.T) {
	t.Parallel()
	s, logs := startTrustStack(t)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	secret := s.userToken(t, "alice", fakeentra.MintOptions{TTL: 7 * time.Minute}) // another valid token of hers
	cut := secret[:64]                                                             // keys are at most 64 characters
	run := s.runNow(t, alice, "", `{"job_id": 101}`, nil)
	if run.status != http.StatusOK {
		t.Fatalf("run-now: %d %s", run.status, run.body)
	}
	calls := []apiCall{
		// The host stand-in, like the Functions host, answers methods function.json does not list
		// itself; the handler's own redaction of the method is a unit test.
		{method: secret, path: "/api/jobs"},
		{method: "GET", path: "/api/" + secret},
		{method: "GET", path: "/api/jobs/runs/" + secret, token: alice},
		{method: "GET", path: "/api/jobs/runs/" + secret[:40], token: alice},
		{method: "POST", path: "/api/jobs/runs/" + secret + "/cancel", token: alice},
		{method: "GET", path: fmt.Sprintf("/api/jobs/runs/%.0f", run.json["run_id"]), token: alice,
			header: map[string]string{"x-ms-workflow-run-id": secret, "x-ms-workflow-operation-name": secret}},
		{method: "GET", path: "/api/jobs", token: alice, header: map[string]string{"x-ms-workflow-run-id": cut, "x-ms-workflow-operation-name": secret[:40]}},
		{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101}`, header: map[string]string{"Idempotency-Key": cut}},
		{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101, "idempotency_token": "` + cut + `"}`},
		{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101}`, header: map[string]string{"Idempotency-Key": secret}},
		{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101, "` + secret + `": 1}`},
		{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101, "job_parameters": {"` + secret[:40] + `": "1", "` + secret[:40] + `": "2"}}`},
		{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_name": "` + secret + `"}`},
		{method: "GET", path: "/api/jobs?workspace=" + secret, token: alice},
	}
	var ids []string
	for _, c := range calls {
		r := s.call(t, c)
		if r.status >= 500 {
			t.Errorf("%.10s %.50s: %d %s", c.method, c.path, r.status, r.body)
		}
		body := string(r.body)
		if r.str("idempotency_token") == cut {
			body = strings.ReplaceAll(body, cut, "") // the caller's own key, back to the caller only
		}
		if p := stacktest.FirstPiece(body, []string{secret}); p != "" {
			t.Errorf("%.10s %.50s: the answer carries %q", c.method, c.path, p)
		}
		ids = append(ids, r.header.Get("X-Request-Id"))
	}
	last := ids[len(ids)-1]
	waitForLog(t, logs, "the access line of the last request", func(e logEntry) bool {
		return e.str("message") == "request" && e.str("request_id") == last
	})
	if p := stacktest.FirstPiece(logs.String(), []string{secret}); p != "" {
		t.Fatalf("the handler log carries %q of a token the test sent", p)
	}
	for _, want := range []string{`"path":"/api/` + redact.Label(secret) + `"`, `"workflow_run_id":"` + redact.Label(secret) + `"`,
		`"idempotency_key":"` + redact.Label(cut) + `"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %s: the redacted value is gone rather than labelled", want)
		}
	}
}
