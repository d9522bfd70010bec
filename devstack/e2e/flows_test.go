package e2e

// End-to-end tests of what flows need: the asynchronous 202 pattern followed the way
// Logic Apps follows it, run outputs, cancel, the job picker, jobs by name, parameter validation
// before any upstream call, idempotent retries of one workflow action, and a replay of every
// recipe in ../recipes the way its platform runs it. Everything goes through the host stand-in
// over HTTP; the fakes' counters prove what reached Databricks.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/recipes"
)

// runBody is the run status flowbricks answers (docs/architecture.md, Run status), plus the problem fields of a 424.
type runBody struct {
	RunID            int64  `json:"run_id"`
	JobID            int64  `json:"job_id"`
	RunName          string `json:"run_name"`
	State            string `json:"state"`
	Result           string `json:"result"`
	Terminal         bool   `json:"terminal"`
	Succeeded        bool   `json:"succeeded"`
	Message          string `json:"message"`
	RunPageURL       string `json:"run_page_url"`
	IdempotencyToken string `json:"idempotency_token"`
	Tasks            []struct {
		TaskKey string `json:"task_key"`
		RunID   int64  `json:"run_id"`
		State   string `json:"state"`
		Result  string `json:"result"`
	} `json:"tasks"`
	Output *outputBody `json:"output"`

	// Only in the 424 of wait mode.
	Code   string `json:"code"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// outputBody is the answer of GET …/output and the "output" of include_output=true.
type outputBody struct {
	Result     string          `json:"result"`
	ResultJSON json.RawMessage `json:"result_json"`
	Tasks      []struct {
		TaskKey    string          `json:"task_key"`
		RunID      int64           `json:"run_id"`
		Result     string          `json:"result"`
		ResultJSON json.RawMessage `json:"result_json"`
		Truncated  bool            `json:"truncated"`
		Error      string          `json:"error"`
		ErrorTrace string          `json:"error_trace"`
	} `json:"tasks"`
}

func decodeAs[T any](t *testing.T, r apiResponse) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("answer %d is not the expected JSON (%v): %s", r.status, err, r.body)
	}
	return v
}

// noNulls fails when a JSON answer holds a null anywhere: flows' Parse JSON action breaks on
// null, so the run status promises "" / 0 / [] instead.
func noNulls(t *testing.T, r apiResponse) {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("not JSON: %s", r.body)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			t.Errorf("%s is null in %s", path, r.body)
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("$", v)
}

// asyncTrace is what following the asynchronous pattern saw.
type asyncTrace struct {
	final    apiResponse
	accepted []apiResponse // every 202, the first answer included
}

// followAsync does what the Logic Apps engine does for an HTTP action with the asynchronous
// pattern on: while the answer is 202 it waits Retry-After seconds and GETs Location, sending the
// action's authentication again, until an answer that is not 202. Every 202 must carry an
// absolute Location on the stack's public URL and a Retry-After in whole seconds. The wait is
// the fake workspace's clock moved on by Retry-After, not a sleep; the loop is bounded by the
// test's deadline.
func (s *stack) followAsync(t *testing.T, token string, first apiResponse) asyncTrace {
	t.Helper()
	var tr asyncTrace
	r := first
	ctx := testContext(t)
	for r.status == http.StatusAccepted {
		tr.accepted = append(tr.accepted, r)
		loc := r.header.Get("Location")
		if u, err := url.Parse(loc); err != nil || !u.IsAbs() || !strings.HasPrefix(loc, s.Info.HandlerURL+"/api/") {
			t.Fatalf("202 #%d: Location %q is not an absolute URL under %s", len(tr.accepted), loc, s.Info.HandlerURL)
		}
		wait, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || wait < 1 {
			t.Fatalf("202 #%d: Retry-After %q is not a positive number of seconds", len(tr.accepted), r.header.Get("Retry-After"))
		}
		if ctx.Err() != nil {
			t.Fatalf("still 202 after %d polls at the test's deadline: %s", len(tr.accepted), r.body)
		}
		s.Clock.Advance(time.Duration(wait) * time.Second)
		r = s.call(t, apiCall{method: http.MethodGet, path: loc, token: token})
	}
	tr.final = r
	return tr
}

func (s *stack) fixtureJob(t *testing.T, id int64) fakeworkspace.Job {
	t.Helper()
	for _, j := range s.Fixture.Workspace.Jobs {
		if j.JobID == id {
			return j
		}
	}
	t.Fatalf("job %d is not in the fixture", id)
	return fakeworkspace.Job{}
}

// workspaceRun reads a run straight from the fake workspace (runs/get) with a Databricks token for
// user, bypassing flowbricks: what Databricks itself holds.
func (s *stack) workspaceRun(t *testing.T, user string, runID int64) map[string]any {
	t.Helper()
	return s.workspaceRunWith(t, user, runID, "")
}

// runNow posts a run-now body (path may carry a query) and returns the answer.
func (s *stack) runNow(t *testing.T, token, query, body string, header map[string]string) apiResponse {
	t.Helper()
	return s.call(t, apiCall{method: http.MethodPost, path: "/api/jobs/run-now" + query, token: token, body: body, header: header})
}

func TestWaitModeToSuccess(t *testing.T) {
	t.Parallel()
	s := shared(t)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	job := s.fixtureJob(t, 101)
	exit := job.Tasks[0].NotebookOutput

	first := s.runNow(t, alice, "?wait=true&include_output=true", `{"job_id": 101, "job_parameters": {"date": "2026-11-28"}}`, nil)
	if first.status != http.StatusAccepted {
		t.Fatalf("run-now?wait=true: %d %s", first.status, first.body)
	}
	started := decodeAs[runBody](t, first)
	if started.RunID == 0 || started.JobID != 101 || started.Terminal {
		t.Fatalf("the 202 body is not the new run's status: %s", first.body)
	}
	loc, _ := url.Parse(first.header.Get("Location"))
	if loc == nil || loc.Path != fmt.Sprintf("/api/jobs/runs/%d", started.RunID) || loc.Query().Get("wait") != "true" ||
		loc.Query().Get("include_output") != "true" {
		t.Fatalf("Location %q does not poll run %d with wait and include_output", first.header.Get("Location"), started.RunID)
	}

	tr := s.followAsync(t, alice, first)
	for i, a := range tr.accepted { // run-now's 202, then those of the polls while the run goes on
		if b := decodeAs[runBody](t, a); b.RunID != started.RunID || b.Terminal || b.Output != nil {
			t.Errorf("202 #%d is not the running run's status: %s", i+1, a.body)
		}
	}
	if tr.final.status != http.StatusOK {
		t.Fatalf("final answer: %d %s", tr.final.status, tr.final.body)
	}
	noNulls(t, tr.final)
	final := decodeAs[runBody](t, tr.final)
	if !final.Succeeded || final.Result != "SUCCESS" || final.State != "TERMINATED" || final.RunID != started.RunID || final.JobID != 101 {
		t.Fatalf("final status: %s", tr.final.body)
	}
	if final.Output == nil || final.Output.Result != exit || len(final.Output.Tasks) != 1 || final.Output.Tasks[0].Result != exit {
		t.Fatalf("output: want the exit value %q at the top and in tasks[0]: %s", exit, tr.final.body)
	}
	var parsed struct {
		RowsWritten int    `json:"rows_written"`
		Date        string `json:"date"`
	}
	if err := json.Unmarshal(final.Output.ResultJSON, &parsed); err != nil || parsed.RowsWritten != 1234 || parsed.Date != "2026-11-28" {
		t.Fatalf("output.result_json = %s (%v), want the exit value parsed", final.Output.ResultJSON, err)
	}

	t.Run("without include_output the final answer has no output", func(t *testing.T) {
		r := s.call(t, apiCall{method: http.MethodGet, path: fmt.Sprintf("/api/jobs/runs/%d?wait=true", started.RunID), token: alice})
		if r.status != http.StatusOK || r.json["output"] != nil || r.json["succeeded"] != true {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("the single-task output endpoint exposes the exit value at the top level", func(t *testing.T) {
		r := s.call(t, apiCall{method: http.MethodGet, path: fmt.Sprintf("/api/jobs/runs/%d/output", started.RunID), token: alice})
		out := decodeAs[outputBody](t, r)
		if r.status != http.StatusOK || out.Result != exit || len(out.Tasks) != 1 || out.Tasks[0].TaskKey != "refresh" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

func TestWaitModeToFailure(t *testing.T) {
	t.Parallel()
	s := shared(t)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	want := s.fixtureJob(t, 102).Tasks[0]

	tests := []struct {
		name, query string
		status      int
	}{
		{"a failed run fails the action with 424 run_failed", "?wait=true&include_output=true", http.StatusFailedDependency},
		{"fail_on_run_failure=false answers 200 with succeeded false", "?wait=true&include_output=true&fail_on_run_failure=false", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first := s.runNow(t, alice, tt.query, `{"job_id": 102}`, nil)
			if first.status != http.StatusAccepted {
				t.Fatalf("run-now: %d %s", first.status, first.body)
			}
			runID := decodeAs[runBody](t, first).RunID
			tr := s.followAsync(t, alice, first)
			if tr.final.status != tt.status {
				t.Fatalf("final answer %d, want %d: %s", tr.final.status, tt.status, tr.final.body)
			}
			noNulls(t, tr.final)
			b := decodeAs[runBody](t, tr.final)
			if b.RunID != runID || b.JobID != 102 || !b.Terminal || b.Succeeded || b.State != "TERMINATED" ||
				b.Result == "" || b.Result == "SUCCESS" || !strings.Contains(b.Message, "ingest") {
				t.Fatalf("not the failed run's status: %s", tr.final.body)
			}
			if tt.status == http.StatusFailedDependency {
				if b.Code != "run_failed" || b.Status != http.StatusFailedDependency || !strings.Contains(b.Detail, strconv.FormatInt(runID, 10)) ||
					!strings.Contains(b.Detail, b.Result) || tr.final.str("request_id") == "" {
					t.Fatalf("424 problem fields: %s", tr.final.body)
				}
			} else if b.Code != "" {
				t.Fatalf("a 200 must not carry a problem code: %s", tr.final.body)
			}
			if b.Output == nil || len(b.Output.Tasks) != 1 {
				t.Fatalf("no output: %s", tr.final.body)
			}
			task := b.Output.Tasks[0]
			if task.TaskKey != "ingest" || !strings.Contains(task.Error, "does not exist") || task.Error != want.Error ||
				task.ErrorTrace != want.ErrorTrace || b.Output.Result != "" {
				t.Fatalf("the run's error is not reachable: %s", tr.final.body)
			}
		})
	}
}

func TestOutputsOfAMultiTaskRun(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	job := s.fixtureJob(t, 103)

	r := s.runNow(t, alice, "", `{"job_id": 103}`, nil)
	if r.status != http.StatusOK {
		t.Fatalf("run-now: %d %s", r.status, r.body)
	}
	final := decodeAs[runBody](t, s.waitFor(t, alice, r.json["run_id"]))
	if !final.Succeeded || len(final.Tasks) != len(job.Tasks) {
		t.Fatalf("run: %+v", final)
	}

	before := s.Workspace.Stats()
	out := s.call(t, apiCall{method: http.MethodGet, path: fmt.Sprintf("/api/jobs/runs/%d/output", final.RunID), token: alice})
	after := s.Workspace.Stats()
	if out.status != http.StatusOK {
		t.Fatalf("output: %d %s", out.status, out.body)
	}
	noNulls(t, out)
	got := decodeAs[outputBody](t, out)
	if got.Result != "" || got.ResultJSON != nil {
		t.Errorf("a multi-task run has no top-level result: %s", out.body)
	}
	if len(got.Tasks) != len(job.Tasks) {
		t.Fatalf("%d task outputs, want %d: %s", len(got.Tasks), len(job.Tasks), out.body)
	}
	for i, task := range job.Tasks {
		o := got.Tasks[i]
		if o.TaskKey != task.TaskKey || o.RunID != final.Tasks[i].RunID || o.Result != task.NotebookOutput || o.Truncated || o.Error != "" {
			t.Errorf("tasks[%d] = %+v, want %s with %q (task run %d)", i, o, task.TaskKey, task.NotebookOutput, final.Tasks[i].RunID)
		}
		var a, b any
		if json.Unmarshal(o.ResultJSON, &a) != nil || json.Unmarshal([]byte(task.NotebookOutput), &b) != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("tasks[%d].result_json = %s, want %s parsed", i, o.ResultJSON, task.NotebookOutput)
		}
	}
	if n := after.RunsGetOutput - before.RunsGetOutput; n != int64(len(job.Tasks)) {
		t.Errorf("get-output was called %d times, want once per task (%d)", n, len(job.Tasks))
	}
}

func TestCancelTheLongRunningJob(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})

	first := s.runNow(t, alice, "?wait=true", `{"job_id": 104}`, nil)
	if first.status != http.StatusAccepted {
		t.Fatalf("run-now: %d %s", first.status, first.body)
	}
	runID := decodeAs[runBody](t, first).RunID
	cancelPath := fmt.Sprintf("/api/jobs/runs/%d/cancel", runID)

	if r := s.call(t, apiCall{method: http.MethodPost, path: cancelPath, token: bob}); r.status != http.StatusForbidden || r.str("code") != "forbidden" {
		t.Fatalf("bob (CAN_VIEW) cancels: %d %s", r.status, r.body)
	}
	before := s.Workspace.Stats()
	r := s.call(t, apiCall{method: http.MethodPost, path: cancelPath, token: alice})
	if r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if n := s.Workspace.Stats().RunsCancel - before.RunsCancel; n != 1 {
		t.Errorf("runs/cancel was called %d times, want 1", n)
	}
	noNulls(t, r)
	after := decodeAs[runBody](t, r)
	if after.RunID != runID || after.JobID != 104 || after.State == "" || after.Succeeded {
		t.Fatalf("cancel did not answer the run status: %s", r.body)
	}

	final := decodeAs[runBody](t, s.waitFor(t, alice, float64(runID)))
	if final.Result != "USER_CANCELED" || final.Succeeded || final.State != "TERMINATED" {
		t.Fatalf("canceled run: %+v", final)
	}
	// The flow that was waiting on the run sees its step fail, not succeed.
	tr := s.followAsync(t, alice, first)
	if tr.final.status != http.StatusFailedDependency || tr.final.str("code") != "run_failed" || tr.final.str("result") != "USER_CANCELED" {
		t.Fatalf("waiting on a canceled run: %d %s", tr.final.status, tr.final.body)
	}
}

// visibleJobs is what the fixture says principal may see: the jobs whose ACL names it or the
// built-in users group, plus the filler jobs (users: CAN_VIEW).
func visibleJobs(fx devstack.Fixture, principal string) (named map[int64]string, fillers int) {
	named = map[int64]string{}
	admin := slices.ContainsFunc(fx.Workspace.Admins, func(a string) bool { return strings.EqualFold(a, principal) })
	for _, j := range fx.Workspace.Jobs {
		for p := range j.ACL {
			if admin || strings.EqualFold(p, principal) || p == fakeworkspace.AllUsersGroup {
				named[j.JobID] = j.Name
			}
		}
	}
	return named, fx.Workspace.FillerJobs
}

type jobEntry struct {
	JobID int64  `json:"job_id"`
	Name  string `json:"name"`
}

// checkJobList compares a job list with what the fixture says the principal sees.
func checkJobList(t *testing.T, fx devstack.Fixture, principal string, got []jobEntry) {
	t.Helper()
	named, fillers := visibleJobs(fx, principal)
	seen := map[int64]bool{}
	gotFillers := 0
	for _, j := range got {
		if seen[j.JobID] {
			t.Errorf("job %d is listed twice", j.JobID)
		}
		seen[j.JobID] = true
		if strings.HasPrefix(j.Name, "filler-job-") {
			gotFillers++
			continue
		}
		if name, ok := named[j.JobID]; !ok || name != j.Name {
			t.Errorf("%s may not see job %d %q (or it has another name)", principal, j.JobID, j.Name)
		}
	}
	for id, name := range named {
		if !seen[id] {
			t.Errorf("job %d %q is missing for %s", id, name, principal)
		}
	}
	if gotFillers != fillers || len(got) != len(named)+fillers {
		t.Errorf("%s: %d jobs (%d fillers), want %d (%d fillers)", principal, len(got), gotFillers, len(named)+fillers, fillers)
	}
}

func TestJobPicker(t *testing.T) {
	t.Parallel()
	s := shared(t)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})

	for name, tok := range map[string]string{"alice@contoso.example": alice, "bob@contoso.example": bob} {
		r := s.call(t, apiCall{method: http.MethodGet, path: "/api/jobs", token: tok})
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
		checkJobList(t, s.Fixture, name, decodeAs[[]jobEntry](t, r))
	}

	tests := []struct {
		query  string
		status int
		want   []jobEntry // nil: only the count is checked
		count  int
	}{
		{"?name=daily-sales-refresh", 200, []jobEntry{{101, "daily-sales-refresh"}}, 1},
		{"?name=DAILY-Sales-Refresh", 200, []jobEntry{{101, "daily-sales-refresh"}}, 1},
		{"?name=duplicate-name", 200, []jobEntry{{201, "duplicate-name"}, {202, "duplicate-name"}}, 2},
		{"?name=no-such-job", 200, []jobEntry{}, 0},
		{"?limit=5", 200, nil, 5},
		{"?limit=1", 200, nil, 1},
		{"?limit=0", 400, nil, 0},
		{"?limit=lots", 400, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := s.call(t, apiCall{method: http.MethodGet, path: "/api/jobs" + tt.query, token: alice})
			if r.status != tt.status {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if tt.status != 200 {
				if r.str("code") != "invalid_request" || !strings.Contains(r.str("detail"), "limit") {
					t.Fatalf("got %s", r.body)
				}
				return
			}
			got := decodeAs[[]jobEntry](t, r)
			if len(got) != tt.count || (tt.want != nil && !slices.Equal(got, tt.want)) {
				t.Fatalf("got %s, want %v", r.body, tt.want)
			}
		})
	}
}

// TestJobPickerPagesThroughTheAPI uses a workspace with more jobs than fit on one jobs/list page
// (100): the picker must still list all of them.
func TestJobPickerPagesThroughTheAPI(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{Mutate: func(f *devstack.Fixture) { f.Workspace.FillerJobs = 230 }})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	named, fillers := visibleJobs(s.Fixture, "alice@contoso.example")
	total := len(named) + fillers

	for _, query := range []string{"", "?limit=1000"} {
		t.Run("/api/jobs"+query, func(t *testing.T) {
			before := s.Workspace.Stats().JobsList
			r := s.call(t, apiCall{method: http.MethodGet, path: "/api/jobs" + query, token: alice})
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			checkJobList(t, s.Fixture, "alice@contoso.example", decodeAs[[]jobEntry](t, r))
			if pages, want := s.Workspace.Stats().JobsList-before, int64((total+99)/100); pages != want {
				t.Errorf("%d jobs/list calls for %d jobs, want %d pages of 100", pages, total, want)
			}
		})
	}
	t.Run("limit stops the paging early", func(t *testing.T) {
		before := s.Workspace.Stats().JobsList
		r := s.call(t, apiCall{method: http.MethodGet, path: "/api/jobs?limit=150", token: alice})
		if got := decodeAs[[]jobEntry](t, r); r.status != http.StatusOK || len(got) != 150 {
			t.Fatalf("got %d, %d jobs", r.status, len(got))
		}
		if pages := s.Workspace.Stats().JobsList - before; pages != 2 {
			t.Errorf("%d jobs/list calls, want 2", pages)
		}
	})
}

// TestJobNamesAndValidation needs clean counters: every case says how many run-now calls
// reached the fake workspace.
func TestJobNamesAndValidation(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})

	t.Run("a job name that matches one job runs that job", func(t *testing.T) {
		before := s.Workspace.Stats()
		r := s.runNow(t, alice, "", `{"job_name": "daily-sales-refresh", "job_parameters": {"date": "2026-11-29"}}`, nil)
		if r.status != http.StatusOK {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		b := decodeAs[runBody](t, r)
		if b.JobID != 101 || b.RunName != "daily-sales-refresh" {
			t.Fatalf("got %s", r.body)
		}
		if n := s.Workspace.Stats().RunsCreated - before.RunsCreated; n != 1 {
			t.Fatalf("%d runs created, want 1", n)
		}
		run := s.workspaceRun(t, "alice", b.RunID)
		params, _ := json.Marshal(run["job_parameters"])
		if run["job_id"] != 101.0 || run["creator_user_name"] != "alice@contoso.example" || !strings.Contains(string(params), `"value":"2026-11-29"`) {
			t.Fatalf("the workspace's run: job %v by %v with %s", run["job_id"], run["creator_user_name"], params)
		}
	})

	tests := []struct {
		name, query, body string
		status            int
		code, detail      string
		upstreamRunNow    int64 // run-now calls that may reach Databricks (it alone can judge some requests)
	}{
		{"missing job name", "", `{"job_name": "no-such-job"}`, 404, "job_not_found", "no-such-job", 0},
		{"ambiguous job name", "", `{"job_name": "duplicate-name"}`, 409, "ambiguous_job_name", "201, 202", 0},
		{"job_id and job_name", "", `{"job_id": 101, "job_name": "daily-sales-refresh"}`, 400, "invalid_request", "job_name", 0},
		{"job_parameters with notebook_params", "", `{"job_id": 101, "job_parameters": {"a": "1"}, "notebook_params": {"b": "2"}}`,
			400, "invalid_request", "notebook_params", 0},
		{"notebook_params with jar_params", "", `{"job_id": 101, "notebook_params": {"b": "2"}, "jar_params": ["x"]}`,
			400, "invalid_request", "jar_params", 0},
		{"oversized notebook_params", "", `{"job_id": 101, "notebook_params": {"blob": "` + strings.Repeat("x", 10_000) + `"}}`,
			400, "invalid_request", "notebook_params", 0},
		{"oversized job_parameters", "", `{"job_id": 101, "job_parameters": {"blob": "` + strings.Repeat("x", 10_000) + `"}}`,
			400, "invalid_request", "job_parameters", 0},
		{"non-ASCII python_params", "", `{"job_id": 101, "python_params": ["--city", "Zürich"]}`, 400, "invalid_request", "python_params", 0},
		{"empty task key in only", "", `{"job_id": 103, "only": [""]}`, 400, "invalid_request", "only", 0},
		{"only is not a list", "", `{"job_id": 103, "only": "ingest"}`, 400, "invalid_request", "only", 0},
		{"idempotency_token too long", "", `{"job_id": 101, "idempotency_token": "` + strings.Repeat("t", 65) + `"}`,
			400, "invalid_request", "idempotency_token", 0},
		{"wait is not a boolean", "?wait=soon", `{"job_id": 101}`, 400, "invalid_request", "wait", 0},
		{"include_output is not a boolean", "?wait=true&include_output=yes-please", `{"job_id": 101}`, 400, "invalid_request", "include_output", 0},
		{"fail_on_run_failure is not a boolean", "?wait=true&fail_on_run_failure=nope", `{"job_id": 101}`, 400, "invalid_request", "fail_on_run_failure", 0},
		{"unknown task key in only (Databricks says so)", "", `{"job_id": 103, "only": ["no-such-task"]}`, 400, "invalid_request", "no-such-task", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Workspace.Stats()
			r := s.runNow(t, alice, tt.query, tt.body, nil)
			after := s.Workspace.Stats()
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("detail"), tt.detail) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if n := after.RunNow - before.RunNow; n != tt.upstreamRunNow {
				t.Errorf("the workspace saw %d run-now calls, want %d", n, tt.upstreamRunNow)
			}
			if n := after.RunsCreated - before.RunsCreated; n != 0 {
				t.Errorf("%d runs were created", n)
			}
		})
	}
}

// TestRetryStormCreatesOneRun re-sends one Logic Apps action six times, the way the platform's
// retry policy would, while the workspace loses answers and answers 503. Exactly one run may
// exist at the end, and every successful answer names it.
func TestRetryStormCreatesOneRun(t *testing.T) {
	t.Parallel()
	// A short upstream timeout bounds the SDK's retries of the lost answers: the outcome is the
	// same as with the default, in seconds instead of half a minute.
	s := startTestStack(t, devstack.Options{Env: []string{config.EnvUpstreamTimeout + "=3"}})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	const body = `{"job_id": 101, "job_parameters": {"date": "2026-11-28"}}`
	runNowPath := fakeworkspace.PathRunNow

	attempts := []struct {
		name  string
		fault *fakeworkspace.Fault
		// ok: the SDK's own retries get through and flowbricks answers 200; otherwise 503.
		ok bool
	}{
		// The run is created but no answer ever comes back: after the SDK's retries (each one
		// replayed by the idempotency token) flowbricks answers 503 + Retry-After, and Logic Apps retries.
		{"every answer lost", &fakeworkspace.Fault{Path: runNowPath, Status: 503, AfterEffect: true}, false},
		{"one answer lost", &fakeworkspace.Fault{Path: runNowPath, Status: 503, AfterEffect: true, Count: 1}, true},
		{"a plain 503", &fakeworkspace.Fault{Path: runNowPath, Status: 503, Count: 1}, true},
		{"a gateway's HTML 503", &fakeworkspace.Fault{Path: runNowPath, Status: 503, HTML: true, Count: 1}, true},
		{"no fault", nil, true},
		{"no fault again", nil, true},
	}
	before := s.Workspace.Stats()
	var runIDs []int64
	var tokens []string
	for i, a := range attempts {
		s.Workspace.ClearFaults()
		if a.fault != nil {
			if err := s.Workspace.InjectFault(*a.fault); err != nil {
				t.Fatal(err)
			}
		}
		r := s.runNow(t, alice, "", body, recipes.WorkflowHeaders("08586611142736787787412824395CU21", "Run_daily_sales", i))
		s.Workspace.ClearFaults()
		if i == 0 {
			// The dangerous case really happened: the run exists although the caller got no run id.
			if n := s.Workspace.Stats().RunsCreated - before.RunsCreated; n != 1 {
				t.Fatalf("after the lost answers %d runs exist, want 1", n)
			}
		}
		switch {
		case a.ok && r.status == http.StatusOK:
			b := decodeAs[runBody](t, r)
			runIDs = append(runIDs, b.RunID)
			tokens = append(tokens, b.IdempotencyToken)
		case !a.ok && r.status == http.StatusServiceUnavailable:
			if r.str("code") != "upstream_unavailable" || r.header.Get("Retry-After") == "" {
				t.Errorf("attempt %d (%s): a 503 Logic Apps retries needs Retry-After and code upstream_unavailable: %q %s",
					i+1, a.name, r.header.Get("Retry-After"), r.body)
			}
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("attempt %d: Retry-After %q is not whole seconds", i+1, r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("attempt %d (%s): %d %s", i+1, a.name, r.status, r.body)
		}
	}
	after := s.Workspace.Stats()
	if n := after.RunsCreated - before.RunsCreated; n != 1 {
		t.Errorf("%d runs were created for one action, want 1", n)
	}
	if after.FaultsServed-before.FaultsServed < int64(len(attempts)-2) {
		t.Errorf("only %d faults were served; the storm did not happen", after.FaultsServed-before.FaultsServed)
	}
	if len(runIDs) != len(attempts)-1 {
		t.Fatalf("%d successful answers, want %d", len(runIDs), len(attempts)-1)
	}
	for i := range runIDs {
		if runIDs[i] != runIDs[0] || tokens[i] != tokens[0] || !strings.HasPrefix(tokens[i], "fb-wf-") {
			t.Fatalf("answers name different runs or tokens: %v %v", runIDs, tokens)
		}
	}
}

// TestDistinctActionsCreateDistinctRuns: different actions of one workflow run, or the same
// action with other inputs, are different runs, even when each is retried.
func TestDistinctActionsCreateDistinctRuns(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	const workflowRun = "08586611142736787787412824395CU22"
	const n = 6

	before := s.Workspace.Stats()
	runOf := map[string]int64{}
	send := func(operation, body string, attempt int) int64 {
		t.Helper()
		r := s.runNow(t, alice, "", body, recipes.WorkflowHeaders(workflowRun, operation, attempt))
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", operation, r.status, r.body)
		}
		return decodeAs[runBody](t, r).RunID
	}
	for i := range n {
		op := fmt.Sprintf("Run_job_%d", i+1)
		runOf[op] = send(op, `{"job_id": 101}`, 0)
	}
	for i := range n { // the platform retries each action once: same runs
		op := fmt.Sprintf("Run_job_%d", i+1)
		if id := send(op, `{"job_id": 101}`, 1); id != runOf[op] {
			t.Errorf("the retry of %s started run %d, not %d", op, id, runOf[op])
		}
	}
	distinct := map[int64]bool{}
	for _, id := range runOf {
		distinct[id] = true
	}
	if len(distinct) != n {
		t.Errorf("%d actions got %d distinct runs: %v", n, len(distinct), runOf)
	}
	if other := send("Run_job_1", `{"job_id": 101, "job_parameters": {"date": "2026-11-29"}}`, 2); distinct[other] {
		t.Errorf("the same action with other inputs was collapsed into run %d", other)
	}
	if created := s.Workspace.Stats().RunsCreated - before.RunsCreated; created != n+1 {
		t.Errorf("%d runs were created, want %d", created, n+1)
	}
}
