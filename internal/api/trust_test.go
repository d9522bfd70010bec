package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
	"github.com/flowbricks/flowbricks/internal/redact"
)

// longToken is shaped like an Entra ID access token: a header longer than 40 characters (so a cut
// at 40 has no dot), a payload and a long signature.
var longToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImZiLXRlc3Qta2V5In0." +
	"eyJhdWQiOiJhcGk6Ly9mbG93YnJpY2tzIiwib2lkIjoib2lkLWFsaWNlIiwidGlkIjoidGlkIn0." +
	strings.Repeat("U2lnbmF0dXJlLWJ5dGVz", 17)

// leakedPiece returns the first 20-character piece of secret found in s, or "".
func leakedPiece(s, secret string) string {
	for i := 0; i+20 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+20]) {
			return secret[i : i+20]
		}
	}
	return ""
}

// withApps adds two app callers: both act as flowbricks' own Databricks principal, which the fake
// workspace models by keying idempotency tokens on the token alone.
func withApps(d *Deps) {
	fa := d.Auth.(fakeAuth)
	fa.principals["token-app-1"] = entra.Principal{Kind: entra.App, ObjectID: "sp-oid-1", TenantID: "tid", AppID: "app-1"}
	fa.principals["token-app-2"] = entra.Principal{Kind: entra.App, ObjectID: "sp-oid-2", TenantID: "tid", AppID: "app-2"}
}

// TestIdempotencyKeysAreScopedToCallerJobAndRequest: the token sent to Databricks is derived from
// the caller, the job and the request, so a key shared by accident (or on purpose) never hands one
// caller the run of another, or one job the run of another, or a request the run of other
// parameters. A retry of the same request still gets the same run.
func TestIdempotencyKeysAreScopedToCallerJobAndRequest(t *testing.T) {
	type send struct {
		token, body string
		headers     map[string]string
	}
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	tests := []struct {
		name      string
		first     send
		second    send
		sameRun   bool
		secondJob float64
	}{
		{"one user retrying with a header key: one run",
			send{aliceToken, `{"job_id":101}`, key("nightly-1")}, send{aliceToken, `{"job_id":101}`, key("nightly-1")}, true, 101},
		{"one user retrying with a body key: one run",
			send{aliceToken, `{"job_id":101,"idempotency_token":"nightly-1"}`, nil}, send{aliceToken, `{"job_id":101,"idempotency_token":"nightly-1"}`, nil}, true, 101},
		{"two app callers, one Databricks principal, same key: two runs",
			send{"token-app-1", `{"job_id":101}`, key("nightly-1")}, send{"token-app-2", `{"job_id":101}`, key("nightly-1")}, false, 101},
		{"two users, same key: two runs",
			send{aliceToken, `{"job_id":101}`, key("nightly-1")}, send{"token-bob", `{"job_id":101}`, key("nightly-1")}, false, 101},
		{"a user and an app, same key: two runs",
			send{"token-app-1", `{"job_id":101}`, key("nightly-1")}, send{aliceToken, `{"job_id":101}`, key("nightly-1")}, false, 101},
		{"same key, job 102 then 101: the run of job 101",
			send{aliceToken, `{"job_id":102}`, key("nightly-1")}, send{aliceToken, `{"job_id":101}`, key("nightly-1")}, false, 101},
		{"same key, other parameters: another run",
			send{aliceToken, `{"job_id":101,"job_parameters":{"date":"2026-11-28"}}`, key("nightly-1")},
			send{aliceToken, `{"job_id":101,"job_parameters":{"date":"2026-11-29"}}`, key("nightly-1")}, false, 101},
		{"same workflow action, two app callers: two runs",
			send{"token-app-1", `{"job_id":101}`, map[string]string{headerWorkflowRunID: "RUN1", headerWorkflowOperation: "Run_job"}},
			send{"token-app-2", `{"job_id":101}`, map[string]string{headerWorkflowRunID: "RUN1", headerWorkflowOperation: "Run_job"}}, false, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, withApps)
			var answers []response
			for _, c := range []send{tt.first, tt.second} {
				r := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: c.token, body: c.body, headers: c.headers})
				if r.status != 200 {
					t.Fatalf("run-now: %d %s", r.status, r.body)
				}
				answers = append(answers, r)
			}
			if same := answers[0].json["run_id"] == answers[1].json["run_id"]; same != tt.sameRun {
				t.Fatalf("runs %v and %v, want the same run: %v", answers[0].json["run_id"], answers[1].json["run_id"], tt.sameRun)
			}
			if answers[1].json["job_id"] != tt.secondJob {
				t.Fatalf("the second answer is a run of job %v, want %v", answers[1].json["job_id"], tt.secondJob)
			}
			for i, req := range s.jobs.requests {
				tok := req.IdempotencyToken
				if len(tok) > 64 || strings.Contains(tok, "nightly") || !strings.HasPrefix(tok, "fb-") {
					t.Errorf("upstream token %d %q: not a derived token within 64 characters", i, tok)
				}
			}
			if h := tt.first.headers; h != nil && h["Idempotency-Key"] != "" && answers[0].json["idempotency_token"] != h["Idempotency-Key"] {
				t.Errorf("the answer shows %v, want the caller's own key", answers[0].json["idempotency_token"])
			}
		})
	}
}

// A caller may put anything into its key, a piece of a token included; the answer shows the key's
// label then, never the token (docs/security.md, Threat model row 11), and the retry is still the
// same run.
func TestATokenShapedKeyIsAnsweredAsItsLabel(t *testing.T) {
	s := newTestServer(t, withApps)
	key := "eyJhbGciOiJSUzI1NiIsImtpZCI6IkZQZXZsMlpHSjZGaE9UX1ZQdW10T2NxZS1n" // 64 characters of a JWT
	var runs []any
	for range 2 {
		r := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101}`,
			headers: map[string]string{"Idempotency-Key": key}})
		if r.status != 200 || r.json["idempotency_token"] != redact.Label(key) || strings.Contains(r.body, key[:20]) {
			t.Fatalf("got %d %s, want the key's label %s", r.status, r.body, redact.Label(key))
		}
		runs = append(runs, r.json["run_id"])
	}
	if runs[0] != runs[1] {
		t.Errorf("runs %v, want one run for the retried key", runs)
	}
}

// TestLoopIterationsAndRetries: Logic Apps sends the same x-ms-workflow-run-id and operation name
// for every iteration of a For each or Until loop; the action tracking id and the repetition
// headers tell iterations apart, and they stay the same on a retry of one iteration (only
// x-ms-client-request-id changes per attempt). See docs/connector.md, "Loops and retries".
func TestLoopIterationsAndRetries(t *testing.T) {
	iteration := func(i, attempt int, tracking, repetition bool) map[string]string {
		h := map[string]string{
			headerWorkflowRunID: "08586611142736787787412824395CU21", headerWorkflowOperation: "Run_job",
			"x-ms-client-request-id": fmt.Sprintf("attempt-%d-%d", i, attempt),
		}
		if tracking {
			h[headerActionTrackingID] = fmt.Sprintf("0d8152bb-e198-44a9-bde8-%012d", i)
		}
		if repetition {
			h["x-ms-workflow-repeatitem-scope-name"] = "For_each"
			h["x-ms-workflow-repeatitem-index"] = fmt.Sprint(i)
			h["x-ms-workflow-repeatitem-batch-index"] = "0"
		}
		return h
	}
	for _, tt := range []struct{ tracking, repetition bool }{{true, true}, {true, false}, {false, true}} {
		t.Run(fmt.Sprintf("tracking id %v, repetition headers %v", tt.tracking, tt.repetition), func(t *testing.T) {
			s := newTestServer(t, nil)
			runs := map[any]int{}
			for i := range 3 {
				var first any
				for attempt := range 3 {
					r := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101}`, headers: iteration(i, attempt, tt.tracking, tt.repetition)})
					if r.status != 200 {
						t.Fatalf("iteration %d attempt %d: %d %s", i, attempt, r.status, r.body)
					}
					if attempt == 0 {
						first = r.json["run_id"]
					} else if r.json["run_id"] != first {
						t.Fatalf("iteration %d: the retry got run %v, the first attempt %v", i, r.json["run_id"], first)
					}
				}
				runs[first]++
			}
			if len(runs) != 3 {
				t.Fatalf("3 iterations got %d runs: %v", len(runs), runs)
			}
		})
	}
}

// sameRunJobs answers every run-now with one existing run, the way Databricks answers an
// idempotency token it has seen: whatever job the request names.
type sameRunJobs struct {
	*fakeJobs
	runID int64
}

func (j sameRunJobs) RunNow(context.Context, databricks.RunNowRequest) (int64, error) {
	return j.runID, nil
}

func TestRunNowRefusesARunOfAnotherJob(t *testing.T) {
	tests := []struct {
		name   string
		jobs   []int64 // FLOWBRICKS_JOBS
		body   string
		runID  int64
		status int
		code   string
	}{
		{"a run of job 999, outside the allow-list, for job 101", []int64{101}, `{"job_id":101}`, 7010, 409, "idempotency_conflict"},
		{"a run of job 999 for job 101, no allow-list", nil, `{"job_id":101,"idempotency_token":"k"}`, 7010, 409, "idempotency_conflict"},
		{"a run of job 102 for job 101 named by name", nil, `{"job_name":"daily-sales-refresh"}`, 7004, 409, "idempotency_conflict"},
		{"a run of the requested job is fine", nil, `{"job_id":101}`, 7001, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(d *Deps) {
				d.Config.Jobs = tt.jobs
				d.Workspaces["default"] = sameRunJobs{newFakeJobs(), tt.runID}
			})
			r := s.do(t, call{method: "POST", path: "/api/jobs/run-now?wait=true", token: aliceToken, body: tt.body})
			if r.status != tt.status || (tt.code != "" && r.json["code"] != tt.code) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
			logs := s.logs.String()
			if tt.status == 202 {
				if !strings.Contains(logs, `"audit":true`) || !strings.Contains(logs, `"job_id":101,"run_id":7001`) {
					t.Fatalf("no audit line naming job 101 and run 7001:\n%s", logs)
				}
				return
			}
			// Neither the other run nor its job is shown; nothing is audited as triggered for job 101.
			if strings.Contains(r.body, fmt.Sprint(tt.runID)) || r.header.Get("Location") != "" {
				t.Fatalf("the refusal shows the other run: %v %s", r.header, r.body)
			}
			if strings.Contains(logs, `"audit":true`) {
				t.Fatalf("a refused run-now was audited as a triggered run:\n%s", logs)
			}
			if !strings.Contains(logs, fmt.Sprintf(`"run_id":%d`, tt.runID)) {
				t.Fatalf("the log does not name the other run:\n%s", logs)
			}
		})
	}
}

// failingGetRun starts runs but cannot read them back.
type failingGetRun struct{ *fakeJobs }

func (failingGetRun) GetRun(context.Context, int64) (databricks.Run, error) {
	return databricks.Run{}, &databricks.Error{Kind: databricks.ErrUnavailable, Detail: "timeout"}
}

// When the new run cannot be read back, its job cannot be checked. A fresh random token cannot
// name an earlier run, so the placeholder answer is truthful and keeps the run id; a key or a
// workflow token may name an earlier run of any job, so the caller gets a retryable 503 and its
// retry (same token, same run) reads the run then.
func TestRunNowWhenTheRunCannotBeReadBack(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		headers map[string]string
		status  int
	}{
		{"random token: the placeholder", `{"job_id":101}`, nil, 200},
		{"caller's key: 503, retry", `{"job_id":101,"idempotency_token":"k-1"}`, nil, 503},
		{"workflow token: 503, retry", `{"job_id":101}`, map[string]string{headerWorkflowRunID: "RUN", headerWorkflowOperation: "Run_job"}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(d *Deps) { d.Workspaces["default"] = failingGetRun{newFakeJobs()} })
			r := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: tt.body, headers: tt.headers})
			if r.status != tt.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tt.status)
			}
			if tt.status == 200 && (r.json["run_id"] != 8001.0 || r.json["state"] != databricks.StateUnknown) {
				t.Fatalf("placeholder %s", r.body)
			}
			if tt.status == 503 && r.header.Get("Retry-After") == "" {
				t.Fatalf("a 503 without Retry-After: %s", r.body)
			}
			if logs := s.logs.String(); !strings.Contains(logs, `"job_verified":false`) || !strings.Contains(logs, `"run_id":8001`) {
				t.Fatalf("the audit line does not say the run's job is unverified:\n%s", logs)
			}
		})
	}
}

// TestRequestDataIsRedactedInLogsAndProblems sends a token wherever a caller can put one: the
// path, the method, a run id, the workflow headers, the Idempotency-Key header and the body's
// idempotency_token (both cut to the 64 characters allowed), a field name, a parameter name, a
// workspace name. No log line and no answer may carry any 20-character piece of it.
func TestRequestDataIsRedactedInLogsAndProblems(t *testing.T) {
	s := newTestServer(t, nil)
	tok := longToken
	cut := tok[:64]
	calls := []call{
		{method: "GET", path: "/api/" + tok},
		{method: "GET", path: "/api/jobs/runs/" + tok, token: aliceToken},
		{method: "GET", path: "/api/jobs/runs/" + tok[:40], token: aliceToken},
		{method: "POST", path: "/api/jobs/runs/" + tok + "/cancel", token: aliceToken},
		{method: tok, path: "/api/jobs"},
		{method: tok, path: "/api/nowhere"},
		{method: "GET", path: "/api/jobs?workspace=" + tok, token: aliceToken},
		{method: "GET", path: "/api/jobs?wait=" + tok[:40], token: aliceToken},
		{method: "GET", path: "/api/jobs", token: aliceToken, headers: map[string]string{headerWorkflowRunID: tok, headerWorkflowOperation: tok}},
		{method: "GET", path: "/api/jobs", token: aliceToken, headers: map[string]string{headerWorkflowRunID: cut, headerWorkflowOperation: tok[:40]}},
		{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101}`, headers: map[string]string{"Idempotency-Key": cut}},
		{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101,"idempotency_token":"` + cut + `"}`},
		{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101}`, headers: map[string]string{"Idempotency-Key": tok}},
		{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101,"` + tok + `":1}`},
		{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101,"` + tok[:40] + `":1}`},
		{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101,"job_parameters":{"` + tok + `":"1","` + tok + `":"2"}}`},
		{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_id":101,"job_parameters":{"` + tok[:40] + `":"1","` + tok[:40] + `":"2"}}`},
		{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_name":"` + tok + `"}`},
	}
	for _, c := range calls {
		r := s.do(t, c)
		if r.json["idempotency_token"] == cut {
			// The caller's own key comes back to the caller, in its own answer; nowhere else.
			r.body = strings.ReplaceAll(r.body, cut, "")
		}
		if p := leakedPiece(r.body, tok); p != "" {
			t.Errorf("%.20s %.40s: the answer carries %q: %s", c.method, c.path, p, r.body)
		}
		for k, v := range r.header {
			if p := leakedPiece(strings.Join(v, " "), tok); p != "" {
				t.Errorf("%.20s %.40s: header %s carries %q", c.method, c.path, k, p)
			}
		}
	}
	logs := s.logs.String()
	if p := leakedPiece(logs, tok); p != "" {
		t.Fatalf("the logs carry %q:\n%s", p, logs)
	}
	// The redacted values are still there to correlate, as labels.
	for _, want := range []string{`"path":"/api/` + redact.Label(tok) + `"`, `"workflow_run_id":"` + redact.Label(tok) + `"`,
		`"idempotency_key":"` + redact.Label(cut) + `"`, `"method":"` + redact.Label(tok) + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s", want)
		}
	}
}

// TestDuplicateKeysAnywhereInTheBody: encoding/json keeps the last of two equal keys in any
// object; another parser in front of flowbricks may keep the first, so a flow's author could
// read one value while the run gets the other.
func TestDuplicateKeysAnywhereInTheBody(t *testing.T) {
	tests := []struct {
		name, body string
		detail     string // "" = accepted
	}{
		{"distinct keys", `{"job_id":101,"job_parameters":{"a":"1","b":"2"}}`, ""},
		{"the same key in two objects", `{"job_id":101,"notebook_params":{"a":"1"},"python_named_params":{"a":"1"}}`, ""},
		{"job_parameters", `{"job_id":101,"job_parameters":{"date":"2026-11-28","date":"2026-11-29"}}`, `"job_parameters.date" is given more than once`},
		{"notebook_params", `{"job_id":101,"notebook_params":{"a":"1","b":"2","a":"3"}}`, `"notebook_params.a" is given more than once`},
		{"python_named_params", `{"job_id":101,"python_named_params":{"k":"1","k":"1"}}`, `"python_named_params.k"`},
		{"sql_params", `{"job_id":101,"sql_params":{"p":"1","p":"2"}}`, `"sql_params.p"`},
		{"an escaped spelling of the same key", `{"job_id":101,"job_parameters":{"a":"1","\u0061":"2"}}`, `"job_parameters.a"`},
		{"the top level", `{"job_id":101,"job_id":102}`, `"job_id" is given more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, nil)
			r := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: tt.body})
			switch {
			case tt.detail == "" && r.status != 200:
				t.Fatalf("refused: %d %s", r.status, r.body)
			case tt.detail != "" && (r.status != 400 || r.json["code"] != "invalid_request" || !strings.Contains(fmt.Sprint(r.json["detail"]), tt.detail)):
				t.Fatalf("got %d %s, want 400 naming %s", r.status, r.body, tt.detail)
			case tt.detail != "" && len(s.jobs.requests) != 0:
				t.Fatal("a refused body reached Databricks")
			}
		})
	}
}

// checkFieldNames is generic: nested objects in arrays are checked too, and nesting is bounded.
func TestCheckUniqueKeysFollowsEveryObject(t *testing.T) {
	type anyBody struct {
		X any `json:"x"`
	}
	deep := strings.Repeat(`[`, maxNesting+1) + strings.Repeat(`]`, maxNesting+1)
	tests := []struct{ name, body, detail string }{
		{"objects in an array", `{"x":[{"a":1},{"b":{"c":1,"c":2}}]}`, `"x[1].b.c" is given more than once`},
		{"fine", `{"x":[{"a":1},{"a":2}]}`, ""},
		{"too deep", `{"x":` + deep + `}`, "levels deep"},
		{"a token as the repeated key", `{"x":{"` + longToken + `":1,"` + longToken + `":2}}`, `"x.` + redact.Label(longToken) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkFieldNames[anyBody]([]byte(tt.body))
			if tt.detail == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(problemFor(err).Detail, tt.detail) {
				t.Fatalf("got %v, want a refusal naming %s", err, tt.detail)
			}
		})
	}
}

// The 404 for an unknown route quotes the method and path, redacted.
func TestNotFoundQuotesThePathRedacted(t *testing.T) {
	srv := newFuzzServer(&fuzzJobs{})
	for _, path := range []string{"/api/" + longToken, "/api/x/" + longToken[:40] + "/y"} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var p problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 404 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if leakedPiece(p.Detail, longToken) != "" || !strings.Contains(p.Detail, "No such endpoint: GET /api/") || !strings.Contains(p.Detail, "[sha256:") {
			t.Fatalf("detail %q", p.Detail)
		}
	}
}
