package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
	"github.com/flowbricks/flowbricks/internal/testsupport"
)

// The tokens the fakes hand out; the leak test looks for these in every response and log line.
const (
	aliceToken = "eyJhbGice.SECRET-INCOMING-TOKEN.sig"
	dbxPrefix  = "SECRET-DATABRICKS-TOKEN-"
)

// fakeAuth accepts "Bearer <token>" for the tokens it knows.
type fakeAuth struct {
	principals map[string]entra.Principal
	errs       map[string]error
}

func (f fakeAuth) Validate(_ context.Context, header string) (entra.Principal, entra.Token, error) {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return entra.Principal{}, "", entra.ErrNoCredentials
	}
	if err := f.errs[token]; err != nil {
		return entra.Principal{}, "", err
	}
	p, ok := f.principals[token]
	if !ok {
		return entra.Principal{}, "", &entra.InvalidTokenError{Reason: "signature invalid"}
	}
	return p, entra.Token(token), nil
}

type fakeExchanger struct{ errs map[string]error }

func (f fakeExchanger) TokenFor(_ context.Context, p entra.Principal, incoming entra.Token) (entra.Token, time.Time, error) {
	if err := f.errs[p.ObjectID]; err != nil {
		return "", time.Time{}, err
	}
	return entra.Token(dbxPrefix + p.ObjectID), time.Now().Add(time.Hour), nil
}

func (f fakeExchanger) Refresh(_ context.Context, p entra.Principal, _, _ entra.Token) (entra.Token, time.Time, error) {
	if err := f.errs[p.ObjectID]; err != nil {
		return "", time.Time{}, err
	}
	return entra.Token(dbxPrefix + p.ObjectID + "-fresh"), time.Now().Add(time.Hour), nil
}

// fakeJobs is an in-memory workspace that records what it was asked.
type fakeJobs struct {
	mu       sync.Mutex
	runs     map[int64]databricks.Run
	outputs  map[int64][]databricks.TaskOutput
	jobs     []databricks.Job
	requests []databricks.RunNowRequest
	tokens   map[string]int64 // idempotency token → run id
	listMax  []int            // the max of every ListJobs call
	err      error            // returned by every call when set
	nextID   int64
	*fakeSQL // the workspace's SQL warehouses (sqlfake_test.go)

	listRuns  []databricks.ListRunsRequest // every ListRuns call
	repairs   []databricks.RepairRequest   // every RepairRun call
	repairErr error                        // returned by RepairRun when set
	// onRepair, when set, replaces what RepairRun does to the run (under mu).
	onRepair func(r databricks.RepairRequest) (int64, error)
}

func newFakeJobs() *fakeJobs {
	return &fakeJobs{
		runs: map[int64]databricks.Run{
			7001: {RunID: 7001, JobID: 101, State: "RUNNING", Tasks: []databricks.TaskRun{}},
			7002: {RunID: 7002, JobID: 101, State: "TERMINATED", Result: "SUCCESS", Terminal: true, Succeeded: true,
				Tasks: []databricks.TaskRun{{TaskKey: "refresh", RunID: 7003}}},
			7004: {RunID: 7004, JobID: 102, State: "TERMINATED", Result: "RUN_EXECUTION_ERROR", Terminal: true,
				Message: "Task ingest failed", Tasks: []databricks.TaskRun{{TaskKey: "ingest", RunID: 7005}}},
			7010: {RunID: 7010, JobID: 999, State: "RUNNING", Tasks: []databricks.TaskRun{}},
		},
		outputs: map[int64][]databricks.TaskOutput{
			7002: {{TaskKey: "refresh", RunID: 7003, Result: `{"rows_written": 1234}`}},
			7004: {{TaskKey: "ingest", RunID: 7005, Error: "RuntimeException: no such path", ErrorTrace: "at line 1"}},
		},
		jobs: []databricks.Job{
			{JobID: 101, Name: "daily-sales-refresh"}, {JobID: 102, Name: "nightly-ingest"},
			{JobID: 201, Name: "duplicate-name"}, {JobID: 202, Name: "Duplicate-Name"}, {JobID: 999, Name: "secret-job"},
		},
		tokens:  map[string]int64{},
		nextID:  8000,
		fakeSQL: newFakeSQL(),
	}
}

func (f *fakeJobs) RunNow(_ context.Context, r databricks.RunNowRequest) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	f.requests = append(f.requests, r)
	if id, ok := f.tokens[r.IdempotencyToken]; ok {
		return id, nil
	}
	f.nextID++
	f.tokens[r.IdempotencyToken] = f.nextID
	f.runs[f.nextID] = databricks.Run{RunID: f.nextID, JobID: r.JobID, State: "QUEUED", Tasks: []databricks.TaskRun{}}
	return f.nextID, nil
}

func (f *fakeJobs) GetRun(_ context.Context, id int64) (databricks.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return databricks.Run{}, f.err
	}
	r, ok := f.runs[id]
	if !ok {
		return r, &databricks.Error{Kind: databricks.ErrRunNotFound, Detail: fmt.Sprintf("Run %d does not exist.", id)}
	}
	return r, nil
}

func (f *fakeJobs) RunOutputs(_ context.Context, run databricks.Run) ([]databricks.TaskOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.outputs[run.RunID], f.err
}

func (f *fakeJobs) CancelRun(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.runs[id]
	r.State, r.Result, r.Terminal = "TERMINATED", "USER_CANCELED", true
	f.runs[id] = r
	return f.err
}

func (f *fakeJobs) ListJobs(_ context.Context, name string, max int) ([]databricks.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listMax = append(f.listMax, max)
	var out []databricks.Job
	for _, j := range f.jobs {
		if (name == "" || strings.EqualFold(j.Name, name)) && len(out) < max {
			out = append(out, j)
		}
	}
	return out, f.err
}

// ListRuns lists the runs as runs/list does: newest start first, filtered by job, completion and
// start time (StartTime, to the second), at most Max.
func (f *fakeJobs) ListRuns(_ context.Context, r databricks.ListRunsRequest) ([]databricks.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listRuns = append(f.listRuns, r)
	if f.err != nil {
		return nil, f.err
	}
	out := []databricks.Run{}
	for _, run := range f.runs {
		start, _ := time.Parse(time.RFC3339, run.StartTime)
		switch {
		case r.JobID != 0 && run.JobID != r.JobID, r.CompletedOnly && !run.Terminal,
			!r.StartFrom.IsZero() && start.Before(r.StartFrom.Truncate(time.Second)):
			continue
		}
		out = append(out, run)
	}
	slices.SortFunc(out, func(a, b databricks.Run) int {
		return cmp.Or(strings.Compare(b.StartTime, a.StartTime), cmp.Compare(b.RunID, a.RunID))
	})
	if r.Max > 0 && len(out) > r.Max {
		out = out[:r.Max]
	}
	return out, nil
}

// RepairRun starts a repair as Databricks does: the run is running again, with one more repair.
func (f *fakeJobs) RepairRun(_ context.Context, r databricks.RepairRequest) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repairs = append(f.repairs, r)
	if f.onRepair != nil {
		return f.onRepair(r)
	}
	if f.err != nil || f.repairErr != nil {
		return 0, cmp.Or(f.err, f.repairErr)
	}
	return f.startRepair(r.RunID), nil
}

// startRepair makes run id's next repair (under mu) and returns its id.
func (f *fakeJobs) startRepair(id int64) int64 {
	run := f.runs[id]
	run.LatestRepairID = max(run.LatestRepairID, 9000) + 1
	run.RepairCount++
	run.State, run.Result, run.Terminal, run.Succeeded, run.EndTime, run.EndTimeMs = "RUNNING", "", false, false, "", 0
	f.runs[id] = run
	return run.LatestRepairID
}

// setRun adds or replaces a run.
func (f *fakeJobs) setRun(run databricks.Run) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if run.Tasks == nil {
		run.Tasks = []databricks.TaskRun{}
	}
	f.runs[run.RunID] = run
}

type testServer struct {
	handler http.Handler
	jobs    *fakeJobs
	logs    *syncBuffer
}

type syncBuffer = testsupport.Buffer

func newTestServer(t *testing.T, mutate func(*Deps)) *testServer {
	t.Helper()
	jobs := newFakeJobs()
	logs := &syncBuffer{}
	d := Deps{
		Config: config.Config{PublicURL: "https://flowbricks.example", PollInterval: 7 * time.Second},
		Logger: zerolog.New(logs).Level(zerolog.TraceLevel),
		Auth: fakeAuth{principals: map[string]entra.Principal{
			aliceToken:    {Kind: entra.User, ObjectID: "oid-alice", TenantID: "tid", Name: "alice@contoso.example"},
			"token-bob":   {Kind: entra.User, ObjectID: "oid-bob", TenantID: "tid"},
			"token-dave":  {Kind: entra.User, ObjectID: "oid-dave", TenantID: "tid"},
			"token-erin":  {Kind: entra.User, ObjectID: "oid-erin", TenantID: "tid"},
			"token-frank": {Kind: entra.User, ObjectID: "oid-frank", TenantID: "tid"},
		}, errs: map[string]error{
			"token-expired": &entra.InvalidTokenError{Reason: "token expired"},
			"token-noscope": &entra.ForbiddenError{Code: entra.CodeInsufficientScope, Reason: "scope user_impersonation missing"},
			"token-app":     &entra.ForbiddenError{Code: entra.CodeAppCallerNotAllowed, Reason: "app 123 is not allow-listed"},
			"token-down":    entra.ErrUnavailable,
		}},
		Exchanger: fakeExchanger{errs: map[string]error{
			"oid-dave":  &entra.ExchangeError{Kind: entra.ConsentRequired, AADSTS: "AADSTS65001", Description: "AADSTS65001: The user or administrator has not consented"},
			"oid-erin":  &entra.ExchangeError{Kind: entra.InteractionRequired, AADSTS: "AADSTS50076", Description: "AADSTS50076: MFA", Claims: `{"access_token":{"capolids":{"essential":true}}}`},
			"oid-frank": &entra.ExchangeError{Kind: entra.Misconfigured, AADSTS: "AADSTS7000215", Description: "AADSTS7000215: Invalid client secret provided."},
		}},
		Workspaces:     map[string]Workspace{"default": jobs},
		RequestTimeout: 5 * time.Second,
	}
	if mutate != nil {
		mutate(&d)
	}
	return &testServer{handler: NewServer(d), jobs: jobs, logs: logs}
}

type call struct {
	method, path, token, body string
	headers                   map[string]string
}

type response struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (s *testServer) do(t *testing.T, c call) response {
	t.Helper()
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.headers {
		if k == "Host" {
			req.Host = v // as net/http's server does with the Host header
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &res.json)
	if strings.Contains(res.body, aliceToken) || strings.Contains(res.body, dbxPrefix) {
		t.Fatalf("response leaks a token: %s", res.body)
	}
	return res
}

func TestRunNowValidation(t *testing.T) {
	s := newTestServer(t, nil)
	long := strings.Repeat("x", 10_001)
	tests := []struct {
		name, body, contentType string
		status                  int
		code, detail            string
		query                   string
	}{
		{"unknown field", `{"job_id":101,"jobid":1}`, "", 400, "invalid_request", `"jobid"`, ""},
		{"wrong type", `{"job_id":"101"}`, "", 400, "invalid_request", `"job_id" must be an integer`, ""},
		{"fractional id", `{"job_id":10.5}`, "", 400, "invalid_request", `"job_id"`, ""},
		{"missing job", `{}`, "", 400, "invalid_request", "job_id", ""},
		{"negative job", `{"job_id":-1}`, "", 400, "invalid_request", "job_id must be a positive", ""},
		{"id and name", `{"job_id":1,"job_name":"x"}`, "", 400, "invalid_request", "not both", ""},
		{"empty body", ``, "", 400, "invalid_request", "empty", ""},
		{"not json", `job_id=1`, "", 400, "invalid_request", "not valid JSON", ""},
		{"array body", `[1]`, "", 400, "invalid_request", "JSON object", ""},
		{"trailing data", `{"job_id":1}{}`, "", 400, "invalid_request", "after the JSON", ""},
		{"wrong content type", `{"job_id":1}`, "text/plain", 415, "unsupported_media_type", "application/json", ""},
		{"too large", `{"job_id":1,"job_name":"` + strings.Repeat("a", 70_000) + `"}`, "", 413, "payload_too_large", "larger than", ""},
		{"params too large", `{"job_id":1,"notebook_params":{"a":"` + long + `"}}`, "", 400, "invalid_request", "notebook_params is", ""},
		{"token too long", `{"job_id":1,"idempotency_token":"` + strings.Repeat("t", 65) + `"}`, "", 400, "invalid_request", "idempotency_token", ""},
		{"job params with task params", `{"job_id":1,"job_parameters":{"a":"1"},"python_params":["x"]}`, "", 400, "invalid_request", "job_parameters cannot be combined with python_params", ""},
		{"notebook with jar", `{"job_id":1,"notebook_params":{"a":"1"},"jar_params":["x"]}`, "", 400, "invalid_request", "jar_params", ""},
		{"non-ascii python", `{"job_id":1,"python_params":["grüße"]}`, "", 400, "invalid_request", "ASCII", ""},
		{"empty only", `{"job_id":1,"only":[""]}`, "", 400, "invalid_request", "only[0]", ""},
		{"empty param name", `{"job_id":1,"job_parameters":{"":"x"}}`, "", 400, "invalid_request", "empty parameter name", ""},
		{"bad wait", `{"job_id":101}`, "", 400, "invalid_request", "wait", "?wait=maybe"},
		// Only the polls use these two, but a bad value must not start a run whose first poll fails.
		{"bad include_output", `{"job_id":101}`, "", 400, "invalid_request", "include_output", "?wait=true&include_output=yes-please"},
		{"bad fail_on_run_failure", `{"job_id":101}`, "", 400, "invalid_request", "fail_on_run_failure", "?wait=true&fail_on_run_failure=nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := call{method: "POST", path: "/api/jobs/run-now" + tt.query, token: aliceToken, body: tt.body}
			if tt.contentType != "" {
				req.headers = map[string]string{"Content-Type": tt.contentType}
			}
			res := s.do(t, req)
			if res.status != tt.status || res.json["code"] != tt.code {
				t.Fatalf("got %d %v, want %d %s: %s", res.status, res.json["code"], tt.status, tt.code, res.body)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if !strings.Contains(fmt.Sprint(res.json["detail"]), tt.detail) {
				t.Fatalf("detail %q does not mention %q", res.json["detail"], tt.detail)
			}
		})
	}
	if n := len(s.jobs.requests); n != 0 {
		t.Fatalf("invalid requests reached Databricks %d times", n)
	}
}

func TestRunNowAnswersTheRunStatus(t *testing.T) {
	s := newTestServer(t, nil)
	res := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: aliceToken,
		body: `{"job_id":101,"job_parameters":{"date":"2026-11-28"},"only":["ingest"],"queue":true}`})
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	for _, field := range []string{"run_id", "job_id", "run_name", "state", "result", "terminal", "succeeded", "message",
		"run_page_url", "start_time", "end_time", "duration_ms", "tasks", "idempotency_token"} {
		v, ok := res.json[field]
		if !ok || v == nil {
			t.Errorf("field %s missing or null", field)
		}
	}
	got := s.jobs.requests[0]
	if got.JobID != 101 || got.JobParameters["date"] != "2026-11-28" || got.Only[0] != "ingest" || !*got.Queue {
		t.Fatalf("upstream request %+v", got)
	}
	if !strings.HasPrefix(got.IdempotencyToken, "fb-rq-") || res.json["idempotency_token"] != got.IdempotencyToken {
		t.Fatalf("idempotency token %q / %v", got.IdempotencyToken, res.json["idempotency_token"])
	}
	if !strings.Contains(s.logs.String(), `"audit":true`) {
		t.Fatal("no audit line for run-now")
	}
}

func TestIdempotencyTokenChoice(t *testing.T) {
	workflow := func(run, op string) map[string]string {
		return map[string]string{headerWorkflowRunID: run, headerWorkflowOperation: op}
	}
	tests := []struct {
		name    string
		body    string
		headers map[string]string
		want    string // exact token, or a prefix ending in "-"
	}{
		{"body token wins", `{"job_id":101,"idempotency_token":"mine"}`, map[string]string{"Idempotency-Key": "hdr"}, "mine"},
		{"header next", `{"job_id":101}`, map[string]string{"Idempotency-Key": "hdr-key"}, "hdr-key"},
		{"derived from workflow", `{"job_id":101}`, workflow("0858RUN", "Run_job"), "fb-wf-"},
		{"random otherwise", `{"job_id":101}`, nil, "fb-rq-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, nil)
			res := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: tt.body, headers: tt.headers})
			got, _ := res.json["idempotency_token"].(string)
			if strings.HasSuffix(tt.want, "-") && !strings.HasPrefix(got, tt.want) || !strings.HasSuffix(tt.want, "-") && got != tt.want {
				t.Fatalf("token %q, want %q", got, tt.want)
			}
			if len(got) > 64 {
				t.Fatalf("token longer than 64: %d", len(got))
			}
		})
	}

	t.Run("a retried action starts one run; other actions or inputs start their own", func(t *testing.T) {
		s := newTestServer(t, nil)
		send := func(h map[string]string, body, token string) float64 {
			res := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: token, body: body, headers: h})
			return res.json["run_id"].(float64)
		}
		first := send(workflow("RUN1", "Run_job"), `{"job_id":101}`, aliceToken)
		for range 4 {
			if again := send(workflow("RUN1", "Run_job"), `{"job_id":101}`, aliceToken); again != first {
				t.Fatalf("retry started run %v, first was %v", again, first)
			}
		}
		others := map[string]float64{
			"other action":  send(workflow("RUN1", "Run_job_2"), `{"job_id":101}`, aliceToken),
			"other run":     send(workflow("RUN2", "Run_job"), `{"job_id":101}`, aliceToken),
			"other inputs":  send(workflow("RUN1", "Run_job"), `{"job_id":101,"job_parameters":{"a":"1"}}`, aliceToken),
			"other caller":  send(workflow("RUN1", "Run_job"), `{"job_id":101}`, "token-bob"),
			"no headers #1": send(nil, `{"job_id":101}`, aliceToken),
			"no headers #2": send(nil, `{"job_id":101}`, aliceToken),
		}
		seen := map[float64]string{first: "first"}
		for name, id := range others {
			if prev, dup := seen[id]; dup {
				t.Fatalf("%s collapsed into the run of %s", name, prev)
			}
			seen[id] = name
		}
	})
}

func TestAsynchronousPattern(t *testing.T) {
	s := newTestServer(t, nil)

	res := s.do(t, call{method: "POST", path: "/api/jobs/run-now?wait=true&include_output=true", token: aliceToken, body: `{"job_id":101}`})
	if res.status != 202 {
		t.Fatalf("run-now?wait=true: %d %s", res.status, res.body)
	}
	loc := res.header.Get("Location")
	wantPrefix := fmt.Sprintf("https://flowbricks.example/api/jobs/runs/%v?", res.json["run_id"])
	if !strings.HasPrefix(loc, wantPrefix) || !strings.Contains(loc, "wait=true") || !strings.Contains(loc, "include_output=true") {
		t.Fatalf("Location %q, want prefix %q with wait and include_output", loc, wantPrefix)
	}
	if res.header.Get("Retry-After") != "7" {
		t.Fatalf("Retry-After %q", res.header.Get("Retry-After"))
	}

	tests := []struct {
		name   string
		path   string
		status int
		check  func(response) string
	}{
		{"running → 202 with the same URL", "/api/jobs/runs/7001?wait=true", 202, func(r response) string {
			if r.header.Get("Location") != "https://flowbricks.example/api/jobs/runs/7001?wait=true" {
				return "Location " + r.header.Get("Location")
			}
			return ""
		}},
		{"succeeded → 200 with output", "/api/jobs/runs/7002?wait=true&include_output=true", 200, func(r response) string {
			out, _ := r.json["output"].(map[string]any)
			if out["result"] != `{"rows_written": 1234}` || out["result_json"].(map[string]any)["rows_written"] != 1234.0 {
				return fmt.Sprint("output ", out)
			}
			return ""
		}},
		{"failed → 424 run_failed with the run", "/api/jobs/runs/7004?wait=true", 424, func(r response) string {
			if r.json["code"] != "run_failed" || r.json["run_id"] != 7004.0 || r.json["result"] != "RUN_EXECUTION_ERROR" {
				return r.body
			}
			return ""
		}},
		{"failed, fail_on_run_failure=false → 200", "/api/jobs/runs/7004?wait=true&fail_on_run_failure=false", 200, nil},
		{"failed without wait → 200", "/api/jobs/runs/7004", 200, nil},
		{"running without wait → 200", "/api/jobs/runs/7001", 200, nil},
		{"output of a running run not included", "/api/jobs/runs/7001?include_output=true", 200, func(r response) string {
			if _, ok := r.json["output"]; ok {
				return "output present"
			}
			return ""
		}},
		{"bad run id", "/api/jobs/runs/abc", 400, nil},
		{"unknown run", "/api/jobs/runs/4242", 404, func(r response) string {
			if r.json["code"] != "run_not_found" {
				return r.body
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, call{method: "GET", path: tt.path, token: aliceToken})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.check != nil {
				if msg := tt.check(r); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}
}

// The 202's Location is built from configuration only: the request's Host and forwarding
// headers are the client's to choose, and the platform polls Location with the flow's token.
// Without configuration Location is relative (RFC 9110, section 10.2.2).
func TestPublicBase(t *testing.T) {
	forged := map[string]string{"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
	tests := []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"FLOWBRICKS_PUBLIC_URL wins", config.Config{PublicURL: "https://fb.contoso.example", WebsiteHostname: "app.azurewebsites.net"}, "https://fb.contoso.example/api/"},
		{"WEBSITE_HOSTNAME on Azure", config.Config{WebsiteHostname: "app.azurewebsites.net"}, "https://app.azurewebsites.net/api/"},
		{"neither: relative", config.Config{}, "/api/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(d *Deps) { d.Config = tt.cfg; d.Config.PollInterval = time.Second })
			for _, h := range []map[string]string{nil, forged} {
				for _, c := range []call{
					{method: "GET", path: "/api/jobs/runs/7001?wait=true", token: aliceToken, headers: h},
					{method: "POST", path: "/api/jobs/run-now?wait=true", token: aliceToken, body: `{"job_id":101}`, headers: h},
				} {
					r := s.do(t, c)
					if loc := r.header.Get("Location"); r.status != 202 || !strings.HasPrefix(loc, tt.want) || strings.Contains(loc, "evil") {
						t.Errorf("%s %s with headers %v: %d Location %q, want prefix %q", c.method, c.path, h, r.status, loc, tt.want)
					}
				}
			}
		})
	}
}

func TestJobByName(t *testing.T) {
	s := newTestServer(t, nil)
	tests := []struct {
		name, jobName string
		status        int
		code, detail  string
	}{
		{"found, case-insensitive", "DAILY-SALES-REFRESH", 200, "", ""},
		{"missing", "no-such-job", 404, "job_not_found", "no-such-job"},
		{"ambiguous", "duplicate-name", 409, "ambiguous_job_name", "201, 202"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: aliceToken, body: `{"job_name":"` + tt.jobName + `"}`})
			if r.status != tt.status || (tt.code != "" && r.json["code"] != tt.code) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if !strings.Contains(fmt.Sprint(r.json["detail"]), tt.detail) {
				t.Fatalf("detail %v lacks %q", r.json["detail"], tt.detail)
			}
		})
	}
	if got := s.jobs.requests[0].JobID; got != 101 {
		t.Fatalf("ran job %d, want 101", got)
	}
}

func TestOutputCancelAndList(t *testing.T) {
	s := newTestServer(t, nil)
	out := s.do(t, call{method: "GET", path: "/api/jobs/runs/7004/output", token: aliceToken})
	tasks, _ := out.json["tasks"].([]any)
	if out.status != 200 || len(tasks) != 1 || tasks[0].(map[string]any)["error"] != "RuntimeException: no such path" {
		t.Fatalf("output: %d %s", out.status, out.body)
	}

	c := s.do(t, call{method: "POST", path: "/api/jobs/runs/7001/cancel", token: aliceToken})
	if c.status != 200 || c.json["result"] != "USER_CANCELED" {
		t.Fatalf("cancel: %d %s", c.status, c.body)
	}
	if !strings.Contains(s.logs.String(), `"action":"cancel"`) {
		t.Fatal("no audit line for cancel")
	}

	l := s.do(t, call{method: "GET", path: "/api/jobs", token: aliceToken})
	var list []map[string]any
	if err := json.Unmarshal([]byte(l.body), &list); err != nil || len(list) != 5 || list[0]["job_id"] != 101.0 || list[0]["name"] != "daily-sales-refresh" {
		t.Fatalf("list: %d %s", l.status, l.body)
	}
	if r := s.do(t, call{method: "GET", path: "/api/jobs?limit=0", token: aliceToken}); r.status != 400 {
		t.Fatalf("limit=0: %d", r.status)
	}
}

func TestListJobsLimit(t *testing.T) {
	tests := []struct {
		query   string
		status  int
		wantMax int // what ListJobs is asked for; 0 = not called
		count   int
	}{
		// The connector's dropdown sends no limit: it must get every job, not the first page.
		{"", 200, 1000, 5},
		{"?limit=2", 200, 2, 2},
		{"?limit=1000", 200, 1000, 5},
		{"?limit=1001", 400, 0, 0},
		{"?limit=0", 400, 0, 0},
		{"?limit=ten", 400, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			s := newTestServer(t, nil)
			r := s.do(t, call{method: "GET", path: "/api/jobs" + tt.query, token: aliceToken})
			var list []map[string]any
			_ = json.Unmarshal([]byte(r.body), &list)
			if r.status != tt.status || len(list) != tt.count {
				t.Fatalf("got %d with %d jobs: %s", r.status, len(list), r.body)
			}
			var want []int
			if tt.wantMax != 0 {
				want = []int{tt.wantMax}
			}
			if fmt.Sprint(s.jobs.listMax) != fmt.Sprint(want) {
				t.Fatalf("ListJobs was asked for %v, want %v", s.jobs.listMax, want)
			}
		})
	}
}

func TestJobAllowList(t *testing.T) {
	s := newTestServer(t, func(d *Deps) { d.Config.Jobs = []int64{101, 102} })
	tests := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/api/jobs/run-now", `{"job_id":999}`, 403},
		{"POST", "/api/jobs/run-now", `{"job_name":"secret-job"}`, 404},
		{"GET", "/api/jobs/runs/7010", "", 403},
		{"POST", "/api/jobs/runs/7010/cancel", "", 403},
		{"POST", "/api/jobs/run-now", `{"job_id":101}`, 200},
	}
	for _, tt := range tests {
		r := s.do(t, call{method: tt.method, path: tt.path, token: aliceToken, body: tt.body})
		if r.status != tt.status {
			t.Errorf("%s %s %s: %d, want %d: %s", tt.method, tt.path, tt.body, r.status, tt.status, r.body)
		}
	}
	l := s.do(t, call{method: "GET", path: "/api/jobs", token: aliceToken})
	if strings.Contains(l.body, "secret-job") {
		t.Fatalf("list shows a job outside the allow-list: %s", l.body)
	}
}

func TestWorkspaceSelection(t *testing.T) {
	other := newFakeJobs()
	other.runs[7001] = databricks.Run{RunID: 7001, JobID: 5, State: "PENDING", Tasks: []databricks.TaskRun{}}
	s := newTestServer(t, func(d *Deps) { d.Workspaces["sales"] = other })
	if r := s.do(t, call{method: "GET", path: "/api/jobs/runs/7001?workspace=sales", token: aliceToken}); r.json["state"] != "PENDING" {
		t.Fatalf("sales workspace not used: %s", r.body)
	}
	// An unknown name is refused without naming the configured ones (a caller learns nothing
	// by guessing); the operator's log has them.
	r := s.do(t, call{method: "GET", path: "/api/jobs/runs/7001?workspace=https://evil.example", token: aliceToken})
	if r.status != 400 || r.json["code"] != "invalid_request" || !strings.Contains(r.body, "not configured") ||
		strings.Contains(r.body, "sales") || strings.Contains(r.body, "default") {
		t.Fatalf("unknown workspace: %d %s", r.status, r.body)
	}
	if !strings.Contains(s.logs.String(), "configured workspaces: default, sales") {
		t.Fatalf("the log lacks the configured workspaces:\n%s", s.logs.String())
	}
}

func TestErrorMapping(t *testing.T) {
	dbx := func(kind error, detail string) error {
		return &databricks.Error{Kind: kind, Detail: detail, RetryAfter: 30 * time.Second}
	}
	tests := []struct {
		name       string
		token      string
		upstream   error
		status     int
		code       string
		wwwAuth    string
		retryAfter string
		detail     string
	}{
		{"no token", "", nil, 401, "unauthenticated", "Bearer", "", "Authorization"},
		{"bad token", "garbage", nil, 401, "unauthenticated", `Bearer error="invalid_token", error_description="signature invalid"`, "", "signature invalid"},
		{"expired", "token-expired", nil, 401, "unauthenticated", `error="invalid_token"`, "", "token expired"},
		{"missing scope", "token-noscope", nil, 401, "unauthenticated", `error="insufficient_scope"`, "", "user_impersonation"},
		{"app caller", "token-app", nil, 403, "app_caller_not_allowed", "", "", "not allow-listed"},
		{"entra down", "token-down", nil, 503, "upstream_unavailable", "", "10", "Entra"},
		{"consent", "token-dave", nil, 403, "consent_required", "", "", "AADSTS65001"},
		{"mfa", "token-erin", nil, 401, "interaction_required", `claims="eyJhY2Nlc3NfdG9rZW4iOnsiY2Fwb2xpZHMiOnsiZXNzZW50aWFsIjp0cnVlfX19"`, "", "AADSTS50076"},
		{"bad secret", "token-frank", nil, 500, "misconfigured", "", "", "AADSTS7000215"},
		{"permission", aliceToken, dbx(databricks.ErrPermissionDenied, "User bob does not have Manage Run permissions on job 101"), 403, "forbidden", "", "", "does not have Manage Run"},
		{"not in workspace", aliceToken, dbx(databricks.ErrNotInWorkspace, "User not authorized"), 403, "not_in_workspace", "", "", "not a member"},
		{"job not found", aliceToken, dbx(databricks.ErrJobNotFound, "Job 101 does not exist."), 404, "job_not_found", "", "", "does not exist"},
		{"throttled", aliceToken, dbx(databricks.ErrThrottled, ""), 429, "throttled", "", "30", "rate-limiting"},
		{"unavailable", aliceToken, dbx(databricks.ErrUnavailable, ""), 503, "upstream_unavailable", "", "30", "Databricks"},
		{"upstream 500", aliceToken, dbx(databricks.ErrUpstream, "Internal error"), 502, "upstream_error", "", "", "Internal error"},
		{"bad request", aliceToken, dbx(databricks.ErrInvalidRequest, "Task xyz not found"), 400, "invalid_request", "", "", "Task xyz"},
		{"dbx token rejected twice", aliceToken, dbx(databricks.ErrTokenRejected, "JWT has expired"), 502, "databricks_token_rejected", "", "", "also a newly obtained one (Databricks said: JWT has expired)"},
		{"unexpected", aliceToken, errors.New("boom"), 500, "internal_error", "", "", "unexpectedly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, nil)
			s.jobs.err = tt.upstream
			r := s.do(t, call{method: "POST", path: "/api/jobs/run-now", token: tt.token, body: `{"job_id":101}`})
			if r.status != tt.status || r.json["code"] != tt.code {
				t.Fatalf("got %d %v, want %d %s: %s", r.status, r.json["code"], tt.status, tt.code, r.body)
			}
			if !strings.Contains(r.header.Get("WWW-Authenticate"), tt.wwwAuth) {
				t.Fatalf("WWW-Authenticate %q lacks %q", r.header.Get("WWW-Authenticate"), tt.wwwAuth)
			}
			if r.header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("Retry-After %q, want %q", r.header.Get("Retry-After"), tt.retryAfter)
			}
			if !strings.Contains(fmt.Sprint(r.json["detail"]), tt.detail) {
				t.Fatalf("detail %q lacks %q", r.json["detail"], tt.detail)
			}
			if r.json["request_id"] == "" || r.json["type"] == "" || r.json["title"] == "" {
				t.Fatalf("problem fields missing: %s", r.body)
			}
		})
	}
}

func TestHealthAndRoutes(t *testing.T) {
	s := newTestServer(t, nil)
	for _, p := range []string{"/", "/api/health"} {
		if r := s.do(t, call{method: "GET", path: p}); r.status != 200 || r.json["status"] != "ok" {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
	}
	if r := s.do(t, call{method: "GET", path: "/api/nope"}); r.status != 404 || r.json["code"] != "not_found" {
		t.Fatalf("unknown route: %d %s", r.status, r.body)
	}
	if r := s.do(t, call{method: "DELETE", path: "/api/jobs", token: aliceToken}); r.status != 405 {
		t.Fatalf("wrong method: %d %s", r.status, r.body)
	}
}

type panickingJobs struct{ *fakeJobs }

func (panickingJobs) GetRun(context.Context, int64) (databricks.Run, error) {
	panic("secret state " + aliceToken)
}

func TestPanicsBecomeProblems(t *testing.T) {
	s := newTestServer(t, func(d *Deps) { d.Workspaces["default"] = panickingJobs{newFakeJobs()} })
	r := s.do(t, call{method: "GET", path: "/api/jobs/runs/1", token: aliceToken})
	if r.status != 500 || r.json["code"] != "internal_error" || strings.Contains(r.body, "secret state") {
		t.Fatalf("panic: %d %s", r.status, r.body)
	}
	logs := s.logs.String()
	if strings.Contains(logs, "secret state") || strings.Contains(logs, aliceToken) {
		t.Fatalf("the panic value reached the logs:\n%s", logs)
	}
	id, _ := r.json["request_id"].(string)
	if id == "" || !strings.Contains(logs, `"request_id":"`+id+`"`) || !strings.Contains(logs, `"status":500`) {
		t.Fatalf("the panic's log lines lack its request id %q or the access line:\n%s", id, logs)
	}
}

func TestNoTokenInLogs(t *testing.T) {
	s := newTestServer(t, nil)
	for _, c := range []call{
		{method: "POST", path: "/api/jobs/run-now?wait=true", token: aliceToken, body: `{"job_id":101}`},
		{method: "GET", path: "/api/jobs/runs/7004?wait=true&include_output=true", token: aliceToken},
		{method: "GET", path: "/api/jobs/runs/4242", token: aliceToken},
		{method: "GET", path: "/api/jobs", token: aliceToken, headers: map[string]string{headerWorkflowRunID: "RUN"}},
		{method: "GET", path: "/api/jobs", token: "token-dave"},
		{method: "GET", path: "/api/jobs?code=" + aliceToken, token: "garbage"},
	} {
		s.do(t, c)
	}
	logs := s.logs.String()
	if strings.Contains(logs, aliceToken) || strings.Contains(logs, dbxPrefix) {
		t.Fatalf("logs leak a token:\n%s", logs)
	}
	if !strings.Contains(logs, `"workflow_run_id":"RUN"`) || !strings.Contains(logs, `"request_id"`) {
		t.Fatalf("logs lack request or workflow ids:\n%s", logs)
	}
}
