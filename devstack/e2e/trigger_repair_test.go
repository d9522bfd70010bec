package e2e

// End-to-end tests of the flows that react and recover (docs/connector.md, "When a job run ends"
// and "Repair a failed run"): the polling trigger polled the way the platform polls it, and the
// repair of flaky-etl (job 105, whose transform task fails on the first attempt and succeeds when
// repaired) followed through the asynchronous pattern. Runs end on the fake workspace's clock,
// which the in-process handler reads too (devstack/stack, Stack.Clock): a test makes a run end
// between two polls by moving that clock, never by sleeping.

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
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/recipes"
)

const (
	jobDailySales   = 101 // one task, succeeds
	jobNightly      = 102 // one task, fails
	jobLongBackfill = 104 // runs ten minutes: cancelled in the tests
	jobFlakyETL     = 105 // extract → transform → load; transform fails once, succeeds on repair
)

// endedRun is one run a poll of the trigger delivers: the run status of "Get the status of a
// run" (docs/architecture.md, Run status).
type endedRun struct {
	runBody
	EndTime        string `json:"end_time"`
	RepairCount    int    `json:"repair_count"`
	LatestRepairID int64  `json:"latest_repair_id"`
}

// trigger is one saved "When a job run ends" trigger as the platform keeps it: nothing but the
// Location of the last answer, which it GETs after Retry-After.
type trigger struct {
	s      *stack
	name   string
	token  string
	next   string // the Location of the last answer
	cursor string // its after parameter
}

// saveTrigger makes the first poll, as the platform does when a flow with the trigger is saved:
// 202 with the state in Location, and no run delivered, whatever ended before.
func (s *stack) saveTrigger(t *testing.T, name, token, query string) *trigger {
	t.Helper()
	tr := &trigger{s: s, name: name, token: token}
	if runs := tr.answer(t, s.call(t, apiCall{method: http.MethodGet, path: "/api/jobs/runs/ended" + query, token: token})); runs != nil {
		t.Fatalf("trigger %s: the first poll delivered %d runs; it must only set the state", name, len(runs))
	}
	return tr
}

// poll is one poll of the platform: it waits Retry-After (the clock moved on by it) and GETs the
// last Location with the connection's token. It returns the runs delivered, nil for a 202.
func (tr *trigger) poll(t *testing.T) []endedRun {
	t.Helper()
	return tr.answer(t, tr.s.call(t, apiCall{method: http.MethodGet, path: tr.next, token: tr.token}))
}

// answer checks one answer of the trigger against the polling-trigger contract (docs/connector.md,
// "When a job run ends"): 202 with an empty array or 200 with runs oldest first, each with an
// absolute Location on the stack's public URL and Retry-After in whole seconds; a 202 keeps the
// state. It keeps the Location for the next poll and moves the clock on by Retry-After.
func (tr *trigger) answer(t *testing.T, r apiResponse) []endedRun {
	t.Helper()
	if r.status != http.StatusOK && r.status != http.StatusAccepted {
		t.Fatalf("trigger %s: poll answered %d %s", tr.name, r.status, r.body)
	}
	loc := r.header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() || !strings.HasPrefix(loc, tr.s.Info.HandlerURL+"/api/jobs/runs/ended?") || u.Query().Get("after") == "" {
		t.Fatalf("trigger %s: Location %q is not an absolute URL of the trigger with its state", tr.name, loc)
	}
	wait, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || wait < 1 {
		t.Fatalf("trigger %s: Retry-After %q is not a positive number of seconds", tr.name, r.header.Get("Retry-After"))
	}
	noNulls(t, r)
	runs := decodeAs[[]endedRun](t, r)
	after := u.Query().Get("after")
	switch {
	case r.status == http.StatusAccepted && len(runs) != 0:
		t.Fatalf("trigger %s: 202 with runs: %s", tr.name, r.body)
	case r.status == http.StatusAccepted && tr.cursor != "" && after != tr.cursor:
		t.Fatalf("trigger %s: a 202 moved the state from %q to %q", tr.name, tr.cursor, after)
	case r.status == http.StatusOK && len(runs) == 0:
		t.Fatalf("trigger %s: 200 without runs would start a flow for nothing", tr.name)
	}
	for i, run := range runs {
		if !run.Terminal || run.EndTime == "" || run.RunPageURL == "" {
			t.Errorf("trigger %s: delivered a run that has not ended: %+v", tr.name, run)
		}
		// end_time has whole seconds; the order within one second is the milliseconds' then the run id's.
		if i > 0 && run.EndTime < runs[i-1].EndTime {
			t.Errorf("trigger %s: runs are not oldest first: %s", tr.name, r.body)
		}
	}
	tr.next, tr.cursor = loc, after
	tr.s.Clock.Advance(time.Duration(wait) * time.Second)
	if r.status == http.StatusAccepted {
		return nil
	}
	return runs
}

// checkPoll polls every trigger once and compares the runs each delivers with want (by trigger
// name; none when absent).
func checkPoll(t *testing.T, triggers []*trigger, when string, want map[string][]int64) {
	t.Helper()
	for _, tr := range triggers {
		got, want := runIDs(tr.poll(t)), slices.Clone(want[tr.name])
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("trigger %s, %s: delivered %v, want %v", tr.name, when, got, want)
		}
	}
}

func runIDs(runs []endedRun) []int64 {
	ids := make([]int64, 0, len(runs))
	for _, r := range runs {
		ids = append(ids, r.RunID)
	}
	return ids
}

// startRun triggers job with run-now and returns the run id.
func (s *stack) startRun(t *testing.T, token string, job int64) int64 {
	t.Helper()
	r := s.runNow(t, token, "", fmt.Sprintf(`{"job_id": %d}`, job), nil)
	if r.status != http.StatusOK {
		t.Fatalf("run-now %d: %d %s", job, r.status, r.body)
	}
	return decodeAs[runBody](t, r).RunID
}

// TestRunTriggerDeliversEachEndedRunOnce: the first poll replays nothing; a run that ends between
// two polls is delivered by the next one and never again; a run still going at a poll comes with
// the poll after it ends; each filter (job, result) keeps to its runs.
func TestRunTriggerDeliversEachEndedRunOnce(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})

	// History: a run of every kind that ended before the triggers were saved.
	for _, job := range []int64{jobDailySales, jobNightly} {
		s.waitFor(t, alice, float64(s.startRun(t, alice, job)))
	}

	triggers := []*trigger{
		s.saveTrigger(t, "any", alice, ""),
		s.saveTrigger(t, "job 101", alice, "?job_id=101"),
		s.saveTrigger(t, "success", alice, "?result=success"),
		s.saveTrigger(t, "failed", alice, "?result=failed"),
		s.saveTrigger(t, "canceled", alice, "?result=canceled"),
		s.saveTrigger(t, "job 102, failed", alice, "?job_id=102&result=failed"),
		s.saveTrigger(t, "job 101, failed", alice, "?job_id=101&result=FAILED"),
	}
	for _, tr := range triggers {
		if runs := tr.poll(t); runs != nil {
			t.Fatalf("trigger %s: the second poll delivered runs that ended before it was saved: %v", tr.name, runIDs(runs))
		}
	}

	// Between two polls: a run ends, another (ten minutes long) keeps going.
	ok := s.startRun(t, alice, jobDailySales)
	long := s.startRun(t, alice, jobLongBackfill)
	s.waitFor(t, alice, float64(ok))
	checkPoll(t, triggers, "after the first run ended", map[string][]int64{"any": {ok}, "job 101": {ok}, "success": {ok}})

	// Between the next two: the long run is cancelled and ends, a run fails.
	if r := s.call(t, apiCall{method: http.MethodPost, path: fmt.Sprintf("/api/jobs/runs/%d/cancel", long), token: alice}); r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	bad := s.startRun(t, alice, jobNightly)
	s.waitFor(t, alice, float64(long))
	s.waitFor(t, alice, float64(bad))
	checkPoll(t, triggers, "after the second batch", map[string][]int64{"any": {long, bad}, "failed": {bad}, "canceled": {long}, "job 102, failed": {bad}})

	// Nothing ended since: every trigger answers 202, and keeps doing so.
	for range 2 {
		for _, tr := range triggers {
			if runs := tr.poll(t); runs != nil {
				t.Errorf("trigger %s delivered runs again: %v", tr.name, runIDs(runs))
			}
		}
	}

	t.Run("each run comes with the status Get the status of a run gives", func(t *testing.T) {
		tr := s.saveTrigger(t, "any, again", alice, "")
		id := s.startRun(t, alice, jobNightly)
		want := decodeAs[endedRun](t, s.waitFor(t, alice, float64(id)))
		runs := tr.poll(t)
		if len(runs) != 1 || runs[0].RunID != id || runs[0].Result != want.Result || runs[0].Succeeded ||
			runs[0].EndTime != want.EndTime || runs[0].JobID != jobNightly || len(runs[0].Tasks) != len(want.Tasks) {
			t.Fatalf("delivered %+v, want %+v", runs, want)
		}
	})
}

// TestRunTriggerKeepsToTheJobAllowList: with FLOWBRICKS_JOBS the trigger delivers no run of
// another job (even one started around flowbricks, which the user may see), and a trigger on such
// a job is refused when it is saved.
func TestRunTriggerKeepsToTheJobAllowList(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{Env: []string{"FLOWBRICKS_JOBS=101,105"}})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})

	before := s.Workspace.Stats()
	r := s.call(t, apiCall{method: http.MethodGet, path: "/api/jobs/runs/ended?job_id=102", token: alice})
	if r.status != http.StatusForbidden || r.str("code") != "job_not_allowed" {
		t.Fatalf("a trigger on job 102: %d %s, want 403 job_not_allowed", r.status, r.body)
	}
	if s.Workspace.Stats().RunsList != before.RunsList {
		t.Error("a trigger on a job outside FLOWBRICKS_JOBS listed its runs")
	}

	tr := s.saveTrigger(t, "any", alice, "")
	outside := startRunDirectly(t, s, "alice", jobNightly)
	inside := s.startRun(t, alice, jobDailySales)
	s.waitFor(t, alice, float64(inside))
	s.waitInWorkspace(t, "alice", outside)
	if got := runIDs(tr.poll(t)); !slices.Equal(got, []int64{inside}) {
		t.Fatalf("delivered %v, want only run %d of job 101 (run %d of job 102 is outside FLOWBRICKS_JOBS)", got, inside, outside)
	}
}

// waitInWorkspace moves the fake workspace's clock on until the run is over as the workspace
// itself says (for runs flowbricks refuses to read), bounded by the test's deadline.
func (s *stack) waitInWorkspace(t *testing.T, user string, runID int64) {
	t.Helper()
	ctx := testContext(t)
	for ctx.Err() == nil {
		state, _ := s.workspaceRunWith(t, user, runID, "")["state"].(map[string]any)
		if state["life_cycle_state"] == "TERMINATED" {
			return
		}
		s.Clock.Advance(time.Second)
	}
	t.Fatalf("run %d did not end before the test's deadline", runID)
}

// workspaceRunWith reads a run straight from the fake workspace (runs/get with the extra query),
// bypassing flowbricks: what Databricks itself holds.
func (s *stack) workspaceRunWith(t *testing.T, user string, runID int64, query string) map[string]any {
	t.Helper()
	tok, err := s.Entra.MintUserToken(user, fakeentra.MintOptions{Audience: azure.DatabricksAppID})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet,
		fmt.Sprintf("%s%s?run_id=%d%s", s.Info.DatabricksHost, fakeworkspace.PathRunsGet, runID, query), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var run map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&run); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("workspace runs/get %d: %d %v", runID, resp.StatusCode, err)
	}
	return run
}

// repairHistory is what the workspace's repair history (runs/get include_history=true) says about the
// run's repairs: the task keys each attempt ran, oldest first (the original attempt first).
func (s *stack) repairHistory(t *testing.T, user string, runID int64) (types []string, tasks [][]string) {
	t.Helper()
	run := s.workspaceRunWith(t, user, runID, "&include_history=true")
	keyOf := map[float64]string{}
	list, _ := run["tasks"].([]any)
	for _, x := range list {
		task, _ := x.(map[string]any)
		id, _ := task["run_id"].(float64)
		keyOf[id], _ = task["task_key"].(string)
	}
	history, _ := run["repair_history"].([]any)
	for _, x := range history {
		item, _ := x.(map[string]any)
		typ, _ := item["type"].(string)
		ids, _ := item["task_run_ids"].([]any)
		var keys []string
		for _, id := range ids {
			id, _ := id.(float64)
			keys = append(keys, keyOf[id])
		}
		types, tasks = append(types, typ), append(tasks, keys)
	}
	return types, tasks
}

// repairPath is "Repair a failed run" of run id with query.
func repairPath(id int64, query string) string {
	return fmt.Sprintf("/api/jobs/runs/%d/repair%s", id, query)
}

// TestRepairAFailedRun is the recipe's flow end to end: "When a job run ends" (failed) delivers
// flaky-etl's failed run, "Repair a failed run" with wait reruns only what did not succeed, the
// platform's retries of that action repair once, and the wait ends with the repaired run's
// success. Bob, who can only view the job, is refused.
func TestRepairAFailedRun(t *testing.T) {
	t.Parallel()
	s, logs := startCapturedStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})

	failed := s.saveTrigger(t, "flaky-etl failed", alice, "?job_id=105&result=failed")
	anyEnd := s.saveTrigger(t, "flaky-etl any", alice, "?job_id=105")
	id := s.startRun(t, alice, jobFlakyETL)
	original := decodeAs[runBody](t, s.waitFor(t, alice, float64(id)))
	results := map[string]string{}
	for _, task := range original.Tasks {
		results[task.TaskKey] = task.Result
	}
	if original.Succeeded || results["extract"] != "SUCCESS" || results["transform"] == "SUCCESS" || results["load"] == "SUCCESS" {
		t.Fatalf("flaky-etl's first attempt: %s %v, want it failed in transform, load not run", original.Result, results)
	}
	runs := failed.poll(t)
	if got := runIDs(runs); !slices.Equal(got, []int64{id}) || runs[0].Result != original.Result || runs[0].RepairCount != 0 {
		t.Fatalf("the failed trigger delivered %v, want run %d, %s", got, id, original.Result)
	}
	if got := runIDs(anyEnd.poll(t)); !slices.Equal(got, []int64{id}) {
		t.Fatalf("the any trigger delivered %v, want run %d", got, id)
	}

	before := s.Workspace.Stats()
	t.Run("bob (CAN_VIEW) is refused", func(t *testing.T) {
		r := s.call(t, apiCall{method: http.MethodPost, path: repairPath(id, ""), token: bob, body: `{}`})
		if r.status != http.StatusForbidden || r.str("code") != "forbidden" {
			t.Fatalf("got %d %s, want 403 forbidden", r.status, r.body)
		}
		if after := s.Workspace.Stats(); after.RepairsCreated != before.RepairsCreated || after.Forbidden == before.Forbidden {
			t.Fatalf("bob's request: %d repairs created, %d refusals by the workspace; want none and one (Databricks decides)",
				after.RepairsCreated-before.RepairsCreated, after.Forbidden-before.Forbidden)
		}
	})

	before = s.Workspace.Stats() // bob's refusal came from Databricks' runs/repair
	const workflowRun = "08585RUN-REPAIR-FLAKY-ETL"
	action := func(attempt int) map[string]string {
		return recipes.WorkflowHeaders(workflowRun, "Repair_a_failed_run", attempt)
	}
	path := repairPath(id, "?wait=true&include_output=true")
	first := s.call(t, apiCall{method: http.MethodPost, path: path, token: alice, body: `{}`, header: action(0)})
	retried := s.call(t, apiCall{method: http.MethodPost, path: path, token: alice, body: `{}`, header: action(1)})
	if first.status != http.StatusAccepted || retried.status != http.StatusAccepted {
		t.Fatalf("repair with wait: %d %s; its retry %d %s; want 202 twice", first.status, first.body, retried.status, retried.body)
	}
	loc, _ := url.Parse(first.header.Get("Location"))
	repairID, _ := strconv.ParseInt(loc.Query().Get("repair_id"), 10, 64)
	if repairID == 0 || retried.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("Locations %q and %q: want one, naming the repair", first.header.Get("Location"), retried.header.Get("Location"))
	}

	t.Run("retries of the action create one repair", func(t *testing.T) {
		after := s.Workspace.Stats()
		if n := after.RepairsCreated - before.RepairsCreated; n != 1 {
			t.Errorf("%d repairs created for one action and its retry, want 1", n)
		}
		if n := after.RunsRepair - before.RunsRepair; n != 1 {
			t.Errorf("%d runs/repair calls, want 1: the retry is answered from the repair the first attempt started", n)
		}
	})

	trace := s.followAsync(t, alice, first)
	final := decodeAs[endedRun](t, trace.final)
	t.Run("the wait ends with the repaired run's success", func(t *testing.T) {
		if len(trace.accepted) < 2 {
			t.Errorf("%d answers 202, want the first and at least one poll while the repair ran", len(trace.accepted))
		}
		if trace.final.status != http.StatusOK || final.Result != "SUCCESS" || !final.Succeeded || final.RunID != id ||
			final.RepairCount != 1 || final.LatestRepairID != repairID {
			t.Fatalf("final answer %d %s, want 200 SUCCESS with repair %d", trace.final.status, trace.final.body, repairID)
		}
		if final.Output == nil || len(final.Output.Tasks) == 0 {
			t.Errorf("include_output was not forwarded to the polls: %s", trace.final.body)
		}
	})

	t.Run("only the tasks that did not succeed ran again", func(t *testing.T) {
		types, tasks := s.repairHistory(t, "alice", id)
		if !slices.Equal(types, []string{"ORIGINAL", "REPAIR"}) {
			t.Fatalf("repair history %v, want the original attempt and one repair", types)
		}
		if !slices.Equal(tasks[0], []string{"extract", "transform", "load"}) || !slices.Equal(tasks[1], []string{"transform", "load"}) {
			t.Fatalf("attempts ran %v, want every task, then transform and load (extract succeeded)", tasks)
		}
		extract := 0
		for _, task := range final.Tasks {
			if task.TaskKey == "extract" {
				extract++
			}
		}
		if extract != 1 {
			t.Errorf("extract ran %d times, want 1: %+v", extract, final.Tasks)
		}
	})

	t.Run("a retry after the repair ended still answers that repair", func(t *testing.T) {
		r := s.call(t, apiCall{method: http.MethodPost, path: path, token: alice, body: `{}`, header: action(2)})
		if r.status != http.StatusAccepted || r.header.Get("Location") != first.header.Get("Location") {
			t.Fatalf("got %d Location %q, want 202 with the first Location", r.status, r.header.Get("Location"))
		}
		if end := s.followAsync(t, alice, r).final; end.status != http.StatusOK {
			t.Fatalf("its wait: %d %s", end.status, end.body)
		}
		if n := s.Workspace.Stats().RepairsCreated - before.RepairsCreated; n != 1 {
			t.Fatalf("%d repairs, want 1", n)
		}
	})

	t.Run("the triggers see the repaired run end", func(t *testing.T) {
		if runs := failed.poll(t); runs != nil {
			t.Errorf("the failed trigger delivered the repaired, successful run: %v", runIDs(runs))
		}
		runs := anyEnd.poll(t)
		if len(runs) != 1 || runs[0].RunID != id || runs[0].Result != "SUCCESS" {
			t.Fatalf("the any trigger delivered %+v, want run %d again, now SUCCESS", runs, id)
		}
	})

	t.Run("409 for a run with nothing to repair and for a run still going", func(t *testing.T) {
		again := recipes.WorkflowHeaders(workflowRun, "Repair_it_again", 0)
		r := s.call(t, apiCall{method: http.MethodPost, path: repairPath(id, ""), token: alice, body: `{}`, header: again})
		if r.status != http.StatusConflict || r.str("code") != "nothing_to_repair" {
			t.Errorf("a succeeded run (another action): %d %s, want 409 nothing_to_repair", r.status, r.body)
		}
		going := s.startRun(t, alice, jobFlakyETL)
		r = s.call(t, apiCall{method: http.MethodPost, path: repairPath(going, ""), token: alice, body: `{}`})
		if r.status != http.StatusConflict || r.str("code") != "run_not_terminal" {
			t.Errorf("a run still going: %d %s, want 409 run_not_terminal", r.status, r.body)
		}
		if n := s.Workspace.Stats().RepairsCreated - before.RepairsCreated; n != 1 {
			t.Errorf("%d repairs, want 1", n)
		}
	})

	t.Run("one audit line per repair request, naming the repair", func(t *testing.T) {
		for i, want := range []struct {
			resp     apiResponse
			replayed bool
		}{{first, false}, {retried, true}} {
			a := waitForLog(t, logs, fmt.Sprintf("audit of repair request %d", i+1), func(e logEntry) bool {
				return e["audit"] == true && e.str("request_id") == want.resp.header.Get("X-Request-Id")
			})
			if a.str("action") != "repair" || a.num("job_id") != jobFlakyETL || a.num("run_id") != float64(id) ||
				a.num("repair_id") != float64(repairID) || a["replayed"] != want.replayed || a.str("workflow_run_id") != workflowRun {
				t.Errorf("audit line %v", a)
			}
		}
	})
}

// TestAppCallersUseTheTriggerAndRepair: an allow-listed app with the Jobs.Run role (a Logic App's
// managed identity) saves the trigger and repairs, as flowbricks' own service principal.
func TestAppCallersUseTheTriggerAndRepair(t *testing.T) {
	t.Parallel()
	s := startTestStack(t, devstack.Options{})
	app, ok := s.Fixture.App(devstack.DefaultAppCaller)
	if !ok {
		t.Fatalf("no app %s in the fixture", devstack.DefaultAppCaller)
	}
	token := s.appToken(t, app.ClientID, fakeentra.MintOptions{})

	tr := s.saveTrigger(t, "app: flaky-etl failed", token, "?job_id=105&result=failed")
	id := s.startRun(t, token, jobFlakyETL)
	s.waitFor(t, token, float64(id))
	if got := runIDs(tr.poll(t)); !slices.Equal(got, []int64{id}) {
		t.Fatalf("delivered %v, want run %d", got, id)
	}
	before := s.Workspace.Stats()
	r := s.call(t, apiCall{method: http.MethodPost, path: repairPath(id, ""), token: token, body: `{"rerun_tasks": ["transform"], "rerun_dependent_tasks": true}`,
		header: recipes.WorkflowHeaders("08585RUN-APP-REPAIR", "Repair_run", 0)})
	if r.status != http.StatusOK || r.json["run_id"] != float64(id) {
		t.Fatalf("repair: %d %s", r.status, r.body)
	}
	if final := decodeAs[endedRun](t, s.waitFor(t, token, float64(id))); !final.Succeeded || final.RepairCount != 1 {
		t.Fatalf("repaired run: %+v", final)
	}
	apiSP := strings.ToLower(s.Info.APIClientID)
	after := s.Workspace.Stats()
	if after.RepairsCreated-before.RepairsCreated != 1 || after.RequestsByPrincipal[apiSP] <= before.RequestsByPrincipal[apiSP] {
		t.Errorf("repairs %d, requests as the service principal %d: want one repair, made as %s",
			after.RepairsCreated-before.RepairsCreated, after.RequestsByPrincipal[apiSP]-before.RequestsByPrincipal[apiSP], apiSP)
	}
}
