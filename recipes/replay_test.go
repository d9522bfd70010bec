package recipes_test

// The replay of every recipe here against the local stack (devstack/stack): the real handler,
// in-process, behind the Functions host stand-in, with the fake Entra ID and workspace. The
// platform's waits (Retry-After, a loop's Wait, retry intervals) move the fake workspace's clock
// instead of sleeping.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	"github.com/flowbricks/flowbricks/devstack/pki"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/devstack/stack/stacktest"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/testsupport"
	"github.com/flowbricks/flowbricks/recipes"
)

// appRoot holds the repository's host.json and function-trigger/ for the host stand-in; testCA is
// the CA of every stack here, which this process (and so the in-process handler) trusts.
var (
	appRoot string
	testCA  *pki.CA
	// handlerLogs collects every replayed handler's output, at trace level, for the leak scan.
	handlerLogs = &stacktest.Buffer{}
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flowbricks-recipes-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if appRoot, testCA, err = stacktest.InProcess("..", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	// Every stack has stopped: no token or secret may be in what its handler logged
	// (docs/security.md, Logging and audit) — unless no stack ran (`-run '^$' -bench .`).
	if code == 0 && handlerLogs.String() != "" {
		if err := stacktest.FindLeaks(handlerLogs.String(), stacktest.FixtureSecrets(), nil); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: handler logs:", err)
			code = 1
		}
	}
	return code
}

func testContext(t *testing.T) context.Context { return testsupport.Context(t) }

// startStack starts a stack of its own for a test (clean counters) with the extra settings env.
func startStack(t *testing.T, env ...string) *devstack.Stack {
	t.Helper()
	s, err := devstack.Start(testContext(t), devstack.Options{
		Dir: t.TempDir(), AppRoot: appRoot, InProcess: true, CA: testCA, HandlerLog: handlerLogs,
		Env: append([]string{"FLOWBRICKS_LOG_LEVEL=trace"}, env...),
	})
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	return s
}

func fixtureJob(s *devstack.Stack, id int64) (fakeworkspace.Job, bool) {
	for _, j := range s.Fixture.Workspace.Jobs {
		if j.JobID == id {
			return j, true
		}
	}
	return fakeworkspace.Job{}, false
}

// response is an answer of the stack.
type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// call makes one request to uri (absolute) with a bearer token.
func call(t *testing.T, method, uri, token string, header map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, uri, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	_ = json.Unmarshal(b, &r.json)
	return r
}

// runStatus is the part of flowbricks' run status a replay checks.
type runStatus struct {
	RunID     int64 `json:"run_id"`
	JobID     int64 `json:"job_id"`
	Succeeded bool  `json:"succeeded"`
	Output    *struct {
		Result string `json:"result"`
	} `json:"output"`
}

func decodeRun(t *testing.T, r response) runStatus {
	t.Helper()
	var v runStatus
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("answer %d is not a run status (%v): %s", r.status, err, r.body)
	}
	return v
}

// platformDelayCap is how far the workspace's clock moves for one of the platform's retry
// intervals (at least 5 s): only their order matters to flowbricks.
const platformDelayCap = time.Second

// platform replays a recipe's calls the way Logic Apps / Power Automate make them: the token of
// the recipe's kind on every call, the workflow headers with a new client request id per
// attempt, retries on 408/429/5xx up to the action's retry count.
type platform struct {
	s       *devstack.Stack
	runName string
	tokens  map[recipes.AuthKind]string
	retried int
}

func (p *platform) send(t *testing.T, kind recipes.AuthKind, action string, retries int, method, uri string, headers map[string]string, body string) response {
	t.Helper()
	token, ok := p.tokens[kind]
	if !ok {
		t.Fatalf("action %s: authentication kind %q has no token here", action, kind)
	}
	for attempt := 0; ; attempt++ {
		h := recipes.WorkflowHeaders(p.runName, action, attempt)
		for k, v := range headers {
			h[k] = v
		}
		r := call(t, method, uri, token, h, body)
		if retriable := r.status == 408 || r.status == 429 || r.status >= 500; !retriable || attempt == retries {
			return r
		}
		p.retried++
		p.s.Clock.Advance(platformDelayCap) // the platform's retry interval, on the workspace's clock
	}
}

// TestRecipesReplay reads each recipe's HTTP call out of its workflow definition and makes it
// against the local stack the way the platform would, until the workflow would have its final
// answer. For a job, Databricks loses the first run-now answer, so the recipe's retry policy has
// to bring the same run back: a recipe that would fail, or start two runs, cannot pass. For SQL,
// see replayStatement.
func TestRecipesReplay(t *testing.T) {
	files, err := filepath.Glob("*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recipes here (%v)", err)
	}
	fx, err := devstack.LoadFixture("")
	if err != nil {
		t.Fatal(err)
	}
	app, ok := fx.App("logic-app")
	if !ok {
		t.Fatal("the fixture has no app named logic-app")
	}
	logicApp := app.ClientID
	for i, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			replayRecipe(t, file, fmt.Sprintf("08586611142736787787412824395CU%02d", 40+i), logicApp)
		})
	}
}

// replayRecipe replays one recipe on a private stack (clean counters; logicApp is an allowed app
// caller there) as workflow run runName.
func replayRecipe(t *testing.T, file, runName, logicApp string) {
	t.Helper()
	recipe, err := recipes.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, config.EnvAppCallers+"="+logicApp)
	p := &platform{s: s, runName: runName}
	if recipe, err = recipe.Resolve(recipes.Env{BaseURL: s.Info.HandlerURL, APIClientID: s.Info.APIClientID, RunName: p.runName}); err != nil {
		t.Fatal(err)
	}

	// Entra issues the token for the resource the recipe names; it must be the flowbricks API.
	audiences := []string{recipe.Audience}
	if recipe.Poll != nil {
		audiences = append(audiences, recipe.Poll.Audience)
	}
	for _, aud := range audiences {
		if aud != s.Info.APIAudience && aud != s.Info.APIClientID {
			t.Fatalf("the recipe asks for a token for %q, not the flowbricks API (%s)", aud, s.Info.APIAudience)
		}
	}
	alice, err := s.Entra.MintUserToken("alice", fakeentra.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.Entra.MintAppToken(logicApp, fakeentra.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.tokens = map[recipes.AuthKind]string{recipes.AuthConnector: alice, recipes.AuthEntraDelegated: alice, recipes.AuthManagedIdentity: app}

	switch recipe.Kind {
	case recipes.KindSQL:
		replayStatement(t, p, recipe)
		return
	case recipes.KindRepair:
		replayRepair(t, p, recipe, alice)
		return
	}
	var req struct {
		JobID int64 `json:"job_id"`
	}
	if err := json.Unmarshal(recipe.Body, &req); err != nil || req.JobID == 0 {
		t.Fatalf("the recipe's body names no job_id: %s", recipe.Body)
	}
	job, ok := fixtureJob(s, req.JobID)
	if !ok {
		t.Fatalf("job %d is not in the fixture", req.JobID)
	}

	before := s.Workspace.Stats()
	first, final := p.runWorkflow(t, recipe, fakeworkspace.Fault{Path: fakeworkspace.PathRunNow, Status: 500, Count: 1, AfterEffect: true})
	if final.status != http.StatusOK {
		t.Fatalf("the workflow's final answer: %d %s", final.status, final.body)
	}
	b := decodeRun(t, final)
	if !b.Succeeded || b.JobID != job.JobID || b.RunID != decodeRun(t, first).RunID {
		t.Fatalf("final run status: %s", final.body)
	}
	if len(job.Tasks) == 1 && strings.Contains(recipe.URI+pollURI(recipe), "include_output=true") {
		if b.Output == nil || b.Output.Result != job.Tasks[0].NotebookOutput {
			t.Fatalf("the notebook result the recipe reads is missing: %s", final.body)
		}
	}
	if n := s.Workspace.Stats().RunsCreated - before.RunsCreated; n != 1 {
		t.Fatalf("%d runs were created, want 1 (the retry after the lost answer started another)", n)
	}
}

// replayStatement replays a SQL recipe. flowbricks answers the first attempt 502 (Databricks
// answered 500 before it executed anything), so the recipe's retry policy must send it again. The
// workflow's final answer must carry rows with every field the recipe's loop reads, and one more
// attempt of the action — the platform retrying after losing flowbricks' answer — must answer the
// same statement: one statement executed for the whole action (docs/sql.md, Retries).
func replayStatement(t *testing.T, p *platform, recipe recipes.Recipe) {
	t.Helper()
	first, final := p.runWorkflow(t, recipe, fakeworkspace.Fault{Path: fakeworkspace.PathStatements, Status: 500, Count: 1})
	var st struct {
		StatementID   string           `json:"statement_id"`
		Succeeded     bool             `json:"succeeded"`
		TotalRowCount int              `json:"total_row_count"`
		Rows          []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(final.body, &st); err != nil || final.status != http.StatusOK || !st.Succeeded {
		t.Fatalf("the workflow's final answer: %d %s", final.status, final.body)
	}
	if st.StatementID == "" || st.StatementID != first.json["statement_id"] {
		t.Fatalf("the final answer is about statement %q, the first about %v", st.StatementID, first.json["statement_id"])
	}
	if len(st.Rows) == 0 || len(st.Rows) != st.TotalRowCount {
		t.Fatalf("%d rows of %d: the recipe's loop reads one chunk, and this result must fit in it: %s", len(st.Rows), st.TotalRowCount, final.body)
	}
	for i, row := range st.Rows {
		for _, f := range recipe.Rows.Fields {
			if row[f] == nil {
				t.Errorf("rows[%d] has no %s, which %s reads: %v", i, f, recipe.Rows.Loop, row)
			}
		}
	}

	again := p.send(t, recipe.AuthKind, recipe.Action, recipe.RetryCount, recipe.Method, recipe.URI, recipe.Headers, string(recipe.Body))
	if again.status != http.StatusOK || again.json["statement_id"] != st.StatementID {
		t.Fatalf("another attempt of %s: %d %s, want statement %s again", recipe.Action, again.status, again.body, st.StatementID)
	}
	if n := len(p.s.Workspace.Statements()); n != 1 {
		t.Fatalf("%d statements were executed, want 1", n)
	}
}

// replayRepair replays a repair recipe. The platform saves the trigger (its first poll: 202, no
// history); flaky-etl (job 105) then fails, and the next poll delivers it. The workflow's
// condition holds for it, and the repair, which Databricks answers 500 once before repairing
// anything, is retried by the recipe's policy and followed through the asynchronous pattern to
// the repaired run's success. One more attempt of the action (the platform lost flowbricks'
// answer) answers the same repair, and the trigger delivers no failed run any more: one repair in
// all (docs/connector.md, "Repair a failed run").
func replayRepair(t *testing.T, p *platform, recipe recipes.Recipe, alice string) {
	t.Helper()
	tr := recipe.Trigger
	ctx := testContext(t)
	// poll GETs the trigger's URI (saving the trigger) or the last Location after Retry-After,
	// until an answer has runs or nothing is left to wait for.
	next := tr.URI
	poll := func(untilRuns bool) (runs []map[string]any) {
		t.Helper()
		for ctx.Err() == nil {
			r := p.send(t, tr.AuthKind, tr.Name, 0, tr.Method, next, tr.Headers, "")
			if r.status != http.StatusOK && r.status != http.StatusAccepted {
				t.Fatalf("trigger poll: %d %s", r.status, r.body)
			}
			loc := r.header.Get("Location")
			wait, err := strconv.Atoi(r.header.Get("Retry-After"))
			if !strings.HasPrefix(loc, p.s.Info.HandlerURL+"/api/jobs/runs/ended?") || err != nil || wait < 1 {
				t.Fatalf("trigger poll: Location %q, Retry-After %q", loc, r.header.Get("Retry-After"))
			}
			next = loc
			p.s.Clock.Advance(time.Duration(wait) * time.Second) // until the next poll, on the workspace's clock
			if err := json.Unmarshal(r.body, &runs); err != nil {
				t.Fatalf("trigger poll: not an array of runs: %s", r.body)
			}
			if r.status == http.StatusOK || !untilRuns {
				return runs
			}
		}
		t.Fatal("the trigger delivered nothing before the test's deadline")
		return nil
	}
	if runs := poll(false); len(runs) != 0 {
		t.Fatalf("saving the trigger delivered %d runs", len(runs))
	}

	run := call(t, http.MethodPost, p.s.Info.HandlerURL+"/api/jobs/run-now", alice, nil, `{"job_id": 105}`)
	if run.status != http.StatusOK {
		t.Fatalf("run-now of flaky-etl: %d %s", run.status, run.body)
	}
	id := strconv.FormatInt(decodeRun(t, run).RunID, 10)
	for ctx.Err() == nil {
		if r := call(t, http.MethodGet, p.s.Info.HandlerURL+"/api/jobs/runs/"+id, alice, nil, ""); r.json["terminal"] == true {
			break
		}
		p.s.Clock.Advance(time.Second)
	}

	runs := poll(true)
	if len(runs) != 1 || strconv.FormatFloat(runs[0]["run_id"].(float64), 'f', 0, 64) != id || !recipe.Condition.Holds(runs[0]) {
		t.Fatalf("the trigger delivered %v, want run %s, failed, for which %s holds", runs, id, recipe.Condition.Action)
	}
	repair := recipe
	repair.URI = strings.ReplaceAll(recipe.URI, "{run_id}", id)
	first, final := p.runWorkflow(t, repair, fakeworkspace.Fault{Path: fakeworkspace.PathRunsRepair, Status: 500, Count: 1})
	if final.status != http.StatusOK || final.json["succeeded"] != true || final.json["repair_count"] != 1.0 {
		t.Fatalf("the workflow's final answer: %d %s", final.status, final.body)
	}
	again := p.send(t, repair.AuthKind, repair.Action, repair.RetryCount, repair.Method, repair.URI, repair.Headers, string(repair.Body))
	if again.status != first.status || again.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("another attempt of %s: %d %q, want the first answer's %d %q", repair.Action, again.status, again.header.Get("Location"),
			first.status, first.header.Get("Location"))
	}
	for _, r := range poll(false) {
		if recipe.Condition.Holds(r) {
			t.Fatalf("after the repair the trigger delivered %v, which the workflow would repair again", r)
		}
	}
	if n := p.s.Workspace.Stats().RepairsCreated; n != 1 {
		t.Fatalf("%d repairs were created, want 1", n)
	}
}

// runWorkflow makes the recipe's main call while Databricks answers it once with fault, which the
// recipe's retry policy must overcome, then waits as the workflow does (the asynchronous pattern
// or its own loop). It returns the main call's answer and the workflow's final one.
func (p *platform) runWorkflow(t *testing.T, recipe recipes.Recipe, fault fakeworkspace.Fault) (first, final response) {
	t.Helper()
	if err := p.s.Workspace.InjectFault(fault); err != nil {
		t.Fatal(err)
	}
	first = p.send(t, recipe.AuthKind, recipe.Action, recipe.RetryCount, recipe.Method, recipe.URI, recipe.Headers, string(recipe.Body))
	if p.retried == 0 {
		t.Fatalf("the failed call was not retried: %d %s", first.status, first.body)
	}
	if recipe.AsyncPattern {
		return first, p.followAsync(t, recipe, first)
	}
	return first, p.pollLoop(t, recipe, first)
}

func pollURI(r recipes.Recipe) string {
	if r.Poll == nil {
		return ""
	}
	return r.Poll.URI
}

// followAsync is the asynchronous pattern as the platform runs it: GET Location after
// Retry-After, with the action's authentication and retry policy, until the answer is not 202.
func (p *platform) followAsync(t *testing.T, recipe recipes.Recipe, r response) response {
	t.Helper()
	ctx := testContext(t)
	for polls := 0; r.status == http.StatusAccepted; polls++ {
		loc := r.header.Get("Location")
		if u, err := url.Parse(loc); err != nil || !u.IsAbs() || !strings.HasPrefix(loc, p.s.Info.HandlerURL+"/") {
			t.Fatalf("202 without an absolute Location on %s: %q", p.s.Info.HandlerURL, loc)
		}
		wait, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || wait < 0 || ctx.Err() != nil {
			t.Fatalf("poll %d: Retry-After %q, test deadline passed: %v", polls, r.header.Get("Retry-After"), ctx.Err())
		}
		p.s.Clock.Advance(time.Duration(wait) * time.Second) // the wait, on the workspace's clock
		r = p.send(t, recipe.AuthKind, recipe.Action, recipe.RetryCount, http.MethodGet, loc, nil, "")
	}
	return r
}

// pollLoop is a workflow's own Until loop: Wait, GET the run or statement, until the recipe's
// field is true.
func (p *platform) pollLoop(t *testing.T, recipe recipes.Recipe, first response) response {
	t.Helper()
	if recipe.Poll == nil {
		t.Fatal("the asynchronous pattern is off and the workflow does not poll")
	}
	if first.status != http.StatusOK {
		t.Fatalf("%s answered %d; without the asynchronous pattern the workflow takes that as the result: %s", recipe.Action, first.status, first.body)
	}
	poll := recipe.Poll
	var id string
	switch v := first.json[poll.IDField].(type) {
	case float64: // a run id
		id = strconv.FormatFloat(v, 'f', 0, 64)
	case string: // a statement id
		id = v
	}
	if id == "" {
		t.Fatalf("the first answer has no %s: %s", poll.IDField, first.body)
	}
	ctx := testContext(t)
	for i := 0; poll.MaxPolls == 0 || i < poll.MaxPolls; i++ {
		if ctx.Err() != nil {
			break
		}
		p.s.Clock.Advance(poll.Interval) // the loop's Wait, on the workspace's clock
		uri := strings.ReplaceAll(poll.URI, "{"+poll.IDField+"}", url.PathEscape(id))
		r := p.send(t, poll.AuthKind, poll.Action, recipe.RetryCount, poll.Method, uri, poll.Headers, "")
		if r.status != http.StatusOK {
			t.Fatalf("poll %d failed the loop: %d %s", i+1, r.status, r.body)
		}
		if r.json[poll.Until] == true {
			return r
		}
	}
	t.Fatalf("the loop on %q did not end in time", poll.Until)
	return response{}
}
