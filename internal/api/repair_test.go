package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/databricks"
)

// failedETL is run 300 of job 104: extract succeeded, transform failed, load did not run because
// of it; repaired before when latestRepair > 0.
func failedETL(latestRepair int64) databricks.Run {
	end := triggerT0.Add(-time.Minute)
	r := endedRun(300, 104, "RUN_EXECUTION_ERROR", triggerT0.Add(-time.Hour), end)
	r.Tasks = []databricks.TaskRun{
		{TaskKey: "extract", RunID: 301, State: "TERMINATED", Result: "SUCCESS"},
		{TaskKey: "transform", RunID: 302, State: "TERMINATED", Result: "FAILED"},
		{TaskKey: "load", RunID: 303, State: "TERMINATED", Result: "UPSTREAM_FAILED"},
	}
	if latestRepair > 0 {
		r.RepairCount, r.LatestRepairID = 1, latestRepair
	}
	return r
}

// workflow are the headers the platform sends with every request of one flow action.
var workflow = map[string]string{"x-ms-workflow-run-id": "08584", "x-ms-workflow-operation-name": "Repair_a_failed_run"}

func TestRepair(t *testing.T) {
	succeeded := endedRun(310, 104, "SUCCESS", triggerT0.Add(-time.Hour), triggerT0)
	succeeded.Tasks = []databricks.TaskRun{{TaskKey: "extract", RunID: 311, State: "TERMINATED", Result: "SUCCESS"}}
	legacyFailed := endedRun(320, 104, "FAILED", triggerT0.Add(-time.Hour), triggerT0)
	running := databricks.Run{RunID: 330, JobID: 104, State: "RUNNING", Tasks: []databricks.TaskRun{{TaskKey: "extract", RunID: 331, State: "RUNNING"}}}
	outside := endedRun(340, 999, "FAILED", triggerT0.Add(-time.Hour), triggerT0)
	// Runs list one task run per attempt: repaired, transform and load failed, then succeeded.
	repaired := endedRun(350, 104, "SUCCESS", triggerT0.Add(-time.Hour), triggerT0)
	repaired.RepairCount, repaired.LatestRepairID = 1, 9007
	repaired.Tasks = []databricks.TaskRun{
		{TaskKey: "extract", RunID: 351, State: "TERMINATED", Result: "SUCCESS"},
		{TaskKey: "transform", RunID: 352, State: "TERMINATED", Result: "FAILED"},
		{TaskKey: "load", RunID: 353, State: "TERMINATED", Result: "UPSTREAM_FAILED"},
		{TaskKey: "transform", RunID: 355, State: "TERMINATED", Result: "SUCCESS", Attempt: 1},
		{TaskKey: "load", RunID: 356, State: "TERMINATED", Result: "SUCCESS", Attempt: 1},
	}
	failedAgain := repaired
	failedAgain.Result, failedAgain.Succeeded = "FAILED", false
	failedAgain.Tasks = slices.Clone(repaired.Tasks)
	failedAgain.Tasks[3].Result = "FAILED"

	tests := []struct {
		name    string
		run     databricks.Run
		path    string // default /api/jobs/runs/<run>/repair
		body    string
		status  int
		code    string
		want    *databricks.RepairRequest // what Databricks is asked, nil = nothing
		checkFn func(t *testing.T, res response)
	}{
		{
			name: "no body: every failed task, no latest_repair_id for a run never repaired",
			run:  failedETL(0), status: 200,
			want: &databricks.RepairRequest{RunID: 300, RerunAllFailedTasks: true},
			checkFn: func(t *testing.T, res response) {
				if res.json["state"] != "RUNNING" || res.json["repair_count"] != 1.0 || res.json["latest_repair_id"] != 9001.0 {
					t.Errorf("answer %s, want the run's status after the repair", res.body)
				}
			},
		},
		{
			name: "an empty object is the same",
			run:  failedETL(0), body: `{}`, status: 200,
			want: &databricks.RepairRequest{RunID: 300, RerunAllFailedTasks: true},
		},
		{
			name: "named tasks, their dependents and job parameters",
			run:  failedETL(0), body: `{"rerun_tasks":["transform"],"rerun_dependent_tasks":true,"job_parameters":{"date":"2026-11-28"}}`, status: 200,
			want: &databricks.RepairRequest{RunID: 300, RerunTasks: []string{"transform"}, RerunDependentTasks: true,
				JobParameters: map[string]string{"date": "2026-11-28"}},
		},
		{
			name: "a run repaired before: latest_repair_id from its history",
			run:  failedETL(9005), status: 200,
			want: &databricks.RepairRequest{RunID: 300, RerunAllFailedTasks: true, LatestRepairID: 9005},
		},
		{
			name: "a successful task may be rerun by name",
			run:  succeeded, body: `{"rerun_tasks":["extract"]}`, status: 200,
			want: &databricks.RepairRequest{RunID: 310, RerunTasks: []string{"extract"}},
		},
		{
			name: "a failed run without tasks (single-task shape)",
			run:  legacyFailed, status: 200,
			want: &databricks.RepairRequest{RunID: 320, RerunAllFailedTasks: true},
		},
		{name: "a run that is not over: 409", run: running, status: 409, code: "run_not_terminal"},
		{name: "nothing failed: 409", run: succeeded, status: 409, code: "nothing_to_repair"},
		{name: "every task succeeded in its latest attempt: 409", run: repaired, status: 409, code: "nothing_to_repair"},
		{
			name: "a task that failed again in its latest attempt",
			run:  failedAgain, status: 200,
			want: &databricks.RepairRequest{RunID: 350, RerunAllFailedTasks: true, LatestRepairID: 9007},
		},
		{name: "a repaired run's tasks are listed once", run: repaired, body: `{"rerun_tasks":["lod"]}`, status: 400, code: "invalid_request",
			checkFn: func(t *testing.T, res response) {
				if !strings.Contains(res.body, "its tasks are: extract, load, transform.") {
					t.Errorf("detail does not list each task once: %s", res.body)
				}
			}},
		{name: "a task the run does not have: 400 listing its tasks", run: failedETL(0), body: `{"rerun_tasks":["trasnform"]}`, status: 400, code: "invalid_request",
			checkFn: func(t *testing.T, res response) {
				if !strings.Contains(res.body, "extract, load, transform") {
					t.Errorf("detail does not list the tasks: %s", res.body)
				}
			}},
		{name: "a task listed twice", run: failedETL(0), body: `{"rerun_tasks":["load","load"]}`, status: 400, code: "invalid_request"},
		{name: "an empty task key", run: failedETL(0), body: `{"rerun_tasks":[""]}`, status: 400, code: "invalid_request"},
		{name: "an unknown field", run: failedETL(0), body: `{"rerun_all":true}`, status: 400, code: "invalid_request"},
		{name: "job parameters too large", run: failedETL(0), body: `{"job_parameters":{"a":"` + strings.Repeat("x", 10_001) + `"}}`, status: 400, code: "invalid_request"},
		{name: "a job outside FLOWBRICKS_JOBS", run: outside, status: 403, code: "job_not_allowed"},
		{name: "an unknown run", run: failedETL(0), path: "/api/jobs/runs/4242/repair", status: 404, code: "run_not_found"},
		{name: "a bad wait option", run: failedETL(0), path: "/api/jobs/runs/300/repair?wait=maybe", status: 400, code: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := triggerServer(t, func(d *Deps) { d.Config.Jobs = []int64{104} })
			s.jobs.setRun(tt.run)
			path := tt.path
			if path == "" {
				path = fmt.Sprintf("/api/jobs/runs/%d/repair", tt.run.RunID)
			}
			res := s.do(t, call{method: "POST", path: path, token: aliceToken, body: tt.body})
			if res.status != tt.status || (tt.code != "" && res.json["code"] != tt.code) {
				t.Fatalf("%d %v, want %d %s: %s", res.status, res.json["code"], tt.status, tt.code, res.body)
			}
			switch {
			case tt.want == nil && len(s.jobs.repairs) > 0:
				t.Fatalf("Databricks was asked to repair: %+v", s.jobs.repairs)
			case tt.want != nil && (len(s.jobs.repairs) != 1 || !equalRepair(s.jobs.repairs[0], *tt.want)):
				t.Fatalf("Databricks was asked %+v, want %+v", s.jobs.repairs, *tt.want)
			}
			if tt.status == 200 && !strings.Contains(s.logs.String(), `"action":"repair"`) {
				t.Error("no audit line for the repair")
			}
			if tt.checkFn != nil {
				tt.checkFn(t, res)
			}
		})
	}
}

func equalRepair(a, b databricks.RepairRequest) bool {
	return a.RunID == b.RunID && slices.Equal(a.RerunTasks, b.RerunTasks) && a.RerunAllFailedTasks == b.RerunAllFailedTasks &&
		a.RerunDependentTasks == b.RerunDependentTasks && a.LatestRepairID == b.LatestRepairID &&
		fmt.Sprint(a.JobParameters) == fmt.Sprint(b.JobParameters)
}

// With wait=true the repair answers 202 and the platform polls GetRun until the repaired run is
// over; its final status is the answer.
func TestRepairWaitEndsWithTheRepairedRun(t *testing.T) {
	for _, tt := range []struct {
		name   string
		result string
		status int
	}{
		{"the repaired run succeeds: 200", "SUCCESS", 200},
		{"it fails again: 424 run_failed", "RUN_EXECUTION_ERROR", 424},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := triggerServer(t, nil)
			s.jobs.setRun(failedETL(0))
			res := s.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair?wait=true&include_output=true", token: aliceToken})
			if res.status != 202 {
				t.Fatalf("%d %s", res.status, res.body)
			}
			next := strings.TrimPrefix(res.header.Get("Location"), "https://flowbricks.example")
			if next != "/api/jobs/runs/300?include_output=true&repair_id=9001&wait=true" || res.header.Get("Retry-After") != "7" {
				t.Fatalf("Location %q, Retry-After %q", next, res.header.Get("Retry-After"))
			}
			if r := s.do(t, call{method: "GET", path: next, token: aliceToken}); r.status != 202 || r.header.Get("Location") != res.header.Get("Location") {
				t.Fatalf("while the repair runs: %d, Location %q", r.status, r.header.Get("Location"))
			}
			// The run is over but its history does not show the repair yet: still waiting.
			stale := failedETL(0)
			s.jobs.setRun(stale)
			if r := s.do(t, call{method: "GET", path: next, token: aliceToken}); r.status != 202 {
				t.Fatalf("before the repair shows: %d %s", r.status, r.body)
			}
			repaired := endedRun(300, 104, tt.result, triggerT0.Add(-time.Hour), triggerT0.Add(time.Hour))
			repaired.RepairCount, repaired.LatestRepairID = 1, 9001
			s.jobs.setRun(repaired)
			r := s.do(t, call{method: "GET", path: next, token: aliceToken})
			if r.status != tt.status || r.json["result"] != tt.result || r.json["latest_repair_id"] != 9001.0 {
				t.Fatalf("final answer %d %s", r.status, r.body)
			}
		})
	}
	s := newTestServer(t, nil)
	if r := s.do(t, call{method: "GET", path: "/api/jobs/runs/7002?wait=true&repair_id=-1", token: aliceToken}); r.status != 400 {
		t.Fatalf("a bad repair_id: %d %s", r.status, r.body)
	}
}

// The platform retries an action whose answer it did not get with the same workflow headers
// (docs/connector.md, "Loops and retries"): one repair, and every retry answers with it.
func TestRepairRetriesRepairOnce(t *testing.T) {
	s, _ := triggerServer(t, nil)
	s.jobs.setRun(failedETL(0))
	const retries = 4
	var wg sync.WaitGroup
	statuses := make(chan int, retries)
	for range retries {
		wg.Go(func() {
			res := s.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair", token: aliceToken, headers: workflow})
			if res.json["latest_repair_id"] != 9001.0 {
				t.Errorf("a retry got %s", res.body)
			}
			statuses <- res.status
		})
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 200 {
			t.Errorf("a retry answered %d", st)
		}
	}
	if n := len(s.jobs.repairs); n != 1 {
		t.Fatalf("%d repairs, want 1", n)
	}
	if !strings.Contains(s.logs.String(), `"replayed":true`) {
		t.Error("the audit line does not tell a replayed repair")
	}

	// Another action (another body, another key) is another request: the run is being repaired.
	res := s.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair", token: aliceToken, headers: workflow, body: `{"rerun_tasks":["load"]}`})
	if res.status != 409 || res.json["code"] != "run_not_terminal" {
		t.Fatalf("%d %s", res.status, res.body)
	}
	// A failed attempt is forgotten: its retry repairs.
	s2, _ := triggerServer(t, nil)
	s2.jobs.setRun(failedETL(0))
	s2.jobs.repairErr = &databricks.Error{Kind: databricks.ErrUnavailable, Op: databricks.OpRepairRun, RetryAfter: time.Second}
	if res := s2.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair", token: aliceToken, headers: workflow}); res.status != 503 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	s2.jobs.repairErr = nil
	if res := s2.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair", token: aliceToken, headers: workflow}); res.status != 200 {
		t.Fatalf("the retry after a failure: %d %s", res.status, res.body)
	}
	if n := len(s2.jobs.repairs); n != 2 {
		t.Fatalf("%d repair calls, want 2", n)
	}
}

// Across instances the retry memory does not help; Databricks' latest_repair_id does: a retry
// that read the run before the first attempt's repair showed sends a stale latest_repair_id and
// is refused. With a retry key that answers the run status; without one it is a conflict.
func TestRepairAcrossInstances(t *testing.T) {
	for _, tt := range []struct {
		name    string
		headers map[string]string
		status  int
		code    string
	}{
		{"a retry (workflow headers): the run status", workflow, 200, ""},
		{"an Idempotency-Key: the run status", map[string]string{"Idempotency-Key": "repair-300"}, 200, ""},
		{"no retry key: 409 repair_conflict", nil, 409, "repair_conflict"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := triggerServer(t, nil)
			s.jobs.setRun(failedETL(0))
			// The other instance's repair lands between this request's read and its repair.
			s.jobs.onRepair = func(r databricks.RepairRequest) (int64, error) {
				s.jobs.startRepair(r.RunID)
				return 0, &databricks.Error{Kind: databricks.ErrRepairConflict, Op: databricks.OpRepairRun,
					Detail: "The latest repair ID needs to be provided in order to create a new repair"}
			}
			res := s.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair?wait=true", token: aliceToken, headers: tt.headers})
			if tt.status == 200 {
				tt.status = 202 // with wait, the answer polls that repair
			}
			if res.status != tt.status || (tt.code != "" && res.json["code"] != tt.code) {
				t.Fatalf("%d %s", res.status, res.body)
			}
			if tt.code == "" && !strings.Contains(res.header.Get("Location"), "repair_id=9001") {
				t.Fatalf("Location %q, want the other instance's repair", res.header.Get("Location"))
			}
		})
	}
}

// A repair whose answer is lost (Databricks started it, flowbricks got a transport error or a
// gateway error) answers with the repair the run now has, instead of an error the flow would
// retry into 409 run_not_terminal. An error after which the run has no new repair stays an error.
func TestRepairWhoseAnswerWasLost(t *testing.T) {
	for _, tt := range []struct {
		name     string
		kind     error
		repaired bool // Databricks started the repair before the answer was lost
		status   int
	}{
		{"unavailable, repair started: the repair", databricks.ErrUnavailable, true, 200},
		{"upstream error, repair started: the repair", databricks.ErrUpstream, true, 200},
		{"unavailable, nothing started: 503", databricks.ErrUnavailable, false, 503},
		{"refused, nothing started: 400", databricks.ErrInvalidRequest, false, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := triggerServer(t, nil)
			s.jobs.setRun(failedETL(0))
			s.jobs.onRepair = func(r databricks.RepairRequest) (int64, error) {
				if tt.repaired {
					s.jobs.startRepair(r.RunID)
				}
				return 0, &databricks.Error{Kind: tt.kind, Op: databricks.OpRepairRun, RetryAfter: time.Second}
			}
			res := s.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair", token: aliceToken})
			if res.status != tt.status {
				t.Fatalf("%d %s", res.status, res.body)
			}
			if tt.status == 200 && res.json["latest_repair_id"] != 9001.0 {
				t.Fatalf("the answer is not the started repair: %s", res.body)
			}
		})
	}
}

// bob can view the job but not manage its runs: Databricks refuses the repair.
func TestRepairWithoutManageRunPermission(t *testing.T) {
	s, _ := triggerServer(t, nil)
	s.jobs.setRun(failedETL(0))
	s.jobs.repairErr = &databricks.Error{Kind: databricks.ErrPermissionDenied, Op: databricks.OpRepairRun,
		Detail: "User bob does not have Manage Run or Owner or Admin permissions on job 104"}
	res := s.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair", token: "token-bob", headers: workflow})
	if res.status != 403 || res.json["code"] != "forbidden" || !strings.Contains(res.body, "CAN_MANAGE_RUN") {
		t.Fatalf("%d %s", res.status, res.body)
	}
	if strings.Contains(s.logs.String(), `"action":"repair"`) {
		t.Error("a refused repair was audited as done")
	}
	// And a retry of it asks Databricks again (nothing was remembered).
	s.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair", token: "token-bob", headers: workflow})
	if n := len(s.jobs.repairs); n != 2 {
		t.Fatalf("%d repair calls, want 2", n)
	}
}

// When reading the run back fails, the repair that was started is still answered.
func TestRepairAnswersEvenIfTheReadBackFails(t *testing.T) {
	reads := 0
	s, _ := triggerServer(t, func(d *Deps) {
		d.Workspaces["default"] = failingSecondGetRun{fakeJobs: d.Workspaces["default"].(*fakeJobs), reads: &reads}
	})
	s.jobs.setRun(failedETL(0))
	res := s.do(t, call{method: "POST", path: "/api/jobs/runs/300/repair", token: aliceToken})
	if res.status != 200 || res.json["state"] != databricks.StateUnknown || res.json["latest_repair_id"] != 9001.0 {
		t.Fatalf("%d %s", res.status, res.body)
	}
}

type failingSecondGetRun struct {
	*fakeJobs
	reads *int
}

func (f failingSecondGetRun) GetRun(ctx context.Context, id int64) (databricks.Run, error) {
	if *f.reads++; *f.reads > 1 {
		return databricks.Run{}, errors.New("connection reset")
	}
	return f.fakeJobs.GetRun(ctx, id)
}
