package fakeworkspace

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/apierr"
	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// flakyJob is extract → transform → load where transform fails on its first attempt: a run fails at
// transform (load is skipped) and a repair that reruns transform succeeds. PENDING 1 s, RUNNING 3 s
// (1 s a level; 1.5 s a level in a repair of two levels), TERMINATING 0.5 s.
func flakyJob() Job {
	return Job{JobID: 7, Name: "flaky", Parameters: map[string]string{"date": "today"},
		ACL: map[string]string{aliceUPN: CanManageRun, bobUPN: CanView, spAppID: CanManageRun},
		Tasks: []Task{
			{TaskKey: "extract", NotebookOutput: "extracted"},
			{TaskKey: "transform", DependsOn: []string{"extract"}, FailAttempts: 1, NotebookOutput: "transformed", Error: "flaky executor lost"},
			{TaskKey: "load", DependsOn: []string{"transform"}, NotebookOutput: "loaded"},
		},
		PendingMs: 1000, RunningMs: 3000, TerminatingMs: 500}
}

func repairConfig() Config {
	cfg := testConfig()
	cfg.Jobs = append(cfg.Jobs, flakyJob())
	return cfg
}

// failedFlakyRun runs the flaky job to its failure: it has ended 3.5 s after run-now.
func failedFlakyRun(h *harness) int64 {
	h.t.Helper()
	id := h.runNow("alice", jobs.RunNow{JobId: 7})
	h.clk.Advance(3500 * time.Millisecond)
	if r := h.getRun("alice", id); r.State.ResultState != jobs.RunResultStateFailed {
		h.t.Fatalf("the flaky run: %+v, want FAILED", r.State)
	}
	return id
}

func TestRepairRefusalsOverHTTP(t *testing.T) {
	h := newHarness(t, repairConfig())
	failed := failedFlakyRun(h)
	repaired := failedFlakyRun(h)
	first := h.repair("alice", fmt.Sprintf(`{"run_id": %d, "rerun_all_failed_tasks": true}`, repaired))
	h.clk.Advance(time.Hour)
	succeeded := h.runNow("alice", jobs.RunNow{JobId: 1})
	h.clk.Advance(time.Hour)
	running := h.runNow("alice", jobs.RunNow{JobId: 7})
	taskRun := h.getRun("alice", failed).Tasks[0].RunId

	cases := []struct {
		name, user, body string
		wantStatus       int
		wantCode         string
		wantMsg          string
	}{
		{"bob may only view", "bob", `{"run_id": %[1]d, "rerun_all_failed_tasks": true}`, 403, "PERMISSION_DENIED",
			"User bob@contoso.example does not have Manage Run or Owner or Admin permissions on job 7"},
		{"a run that does not exist", "alice", `{"run_id": 1, "rerun_all_failed_tasks": true}`, 400, "INVALID_PARAMETER_VALUE", "Run 1 does not exist."},
		{"a task run", "alice", fmt.Sprintf(`{"run_id": %d, "rerun_all_failed_tasks": true}`, taskRun), 400, "INVALID_PARAMETER_VALUE",
			fmt.Sprintf("Run %d is a task run. Repair its job run %d instead.", taskRun, failed)},
		{"a run still in progress", "alice", fmt.Sprintf(`{"run_id": %d, "rerun_all_failed_tasks": true}`, running), 400, "INVALID_STATE",
			fmt.Sprintf("Run %d is in the PENDING state and cannot be repaired until it has terminated.", running)},
		{"both rerun_tasks and rerun_all_failed_tasks", "alice", `{"run_id": %[1]d, "rerun_tasks": ["transform"], "rerun_all_failed_tasks": true}`, 400,
			"INVALID_PARAMETER_VALUE", "Only one of rerun_tasks or rerun_all_failed_tasks can be used."},
		{"neither", "alice", `{"run_id": %[1]d, "rerun_dependent_tasks": true}`, 400, "INVALID_PARAMETER_VALUE",
			"Either rerun_tasks or rerun_all_failed_tasks must be specified."},
		{"a task key the run does not have", "alice", `{"run_id": %[1]d, "rerun_tasks": ["publish"]}`, 400, "INVALID_PARAMETER_VALUE",
			"Task key 'publish' in 'rerun_tasks' does not exist in run %[1]d."},
		{"a task key twice", "alice", `{"run_id": %[1]d, "rerun_tasks": ["transform", "transform"]}`, 400, "INVALID_PARAMETER_VALUE",
			"rerun_tasks cannot contain duplicate task keys."},
		{"latest_repair_id on a run never repaired", "alice", `{"run_id": %[1]d, "rerun_all_failed_tasks": true, "latest_repair_id": 5}`, 400,
			"INVALID_PARAMETER_VALUE", "The provided latest repair ID 5 is not the latest repair ID of run %[1]d; the latest is 0."},
		{"a run that did not fail", "alice", fmt.Sprintf(`{"run_id": %d, "rerun_all_failed_tasks": true}`, succeeded), 400,
			"INVALID_PARAMETER_VALUE", fmt.Sprintf("Run %d has no failed tasks to repair.", succeeded)},
		{"job_parameters of the wrong type", "alice", `{"run_id": %[1]d, "rerun_all_failed_tasks": true, "job_parameters": ["x"]}`, 400,
			"MALFORMED_REQUEST", "Invalid JSON given in the body of the request - expected map[string]string for field 'job_parameters'"},
		{"a second repair without latest_repair_id", "alice", fmt.Sprintf(`{"run_id": %d, "rerun_tasks": ["extract"]}`, repaired), 400,
			"INVALID_PARAMETER_VALUE", "The latest repair ID needs to be provided in order to create a new repair"},
		{"a second repair from a stale history", "alice", fmt.Sprintf(`{"run_id": %d, "rerun_tasks": ["extract"], "latest_repair_id": %d}`, repaired, first-1), 400,
			"INVALID_PARAMETER_VALUE", fmt.Sprintf("The provided latest repair ID %d is not the latest repair ID of run %d; the latest is %d.", first-1, repaired, first)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.ws.Stats()
			body := c.body
			if strings.Contains(body, "%[1]d") {
				body = fmt.Sprintf(body, failed)
			}
			status, _, m := h.rawJSON("POST", PathRunsRepair, "tok-"+c.user, body)
			msg := c.wantMsg
			if strings.Contains(msg, "%[1]d") {
				msg = fmt.Sprintf(msg, failed)
			}
			if status != c.wantStatus || m["error_code"] != c.wantCode || m["message"] != msg {
				t.Errorf("%d %v\nwant %d %s %q", status, m, c.wantStatus, c.wantCode, msg)
			}
			after := h.ws.Stats()
			if after.RepairsCreated != before.RepairsCreated || after.RunsRepair != before.RunsRepair+1 {
				t.Errorf("repairs_created %d→%d, runs_repair %d→%d", before.RepairsCreated, after.RepairsCreated, before.RunsRepair, after.RunsRepair)
			}
		})
	}
	if r := h.getRun("alice", failed); len(r.Tasks) != 3 {
		t.Errorf("a refused repair added task runs: %d", len(r.Tasks))
	}
}

// repair calls runs/repair without the SDK and returns the repair id.
func (h *harness) repair(user, body string) int64 {
	h.t.Helper()
	status, _, m := h.rawJSON("POST", PathRunsRepair, "tok-"+user, body)
	id, _ := m["repair_id"].(float64)
	if status != 200 || id == 0 {
		h.t.Fatalf("repair %s as %s: %d %v", body, user, status, m)
	}
	return int64(id)
}

func TestRepairScopesDecideWhatRerunsAndHowTheRunEnds(t *testing.T) {
	cases := []struct {
		name       string
		body       string   // %d is the run id
		wantRerun  []string // task keys of the repair's task runs, job order
		wantResult jobs.RunResultState
		wantMsg    string // the run's state message after the repair
	}{
		{"every failed task: transform and the load it skipped", `{"run_id": %d, "rerun_all_failed_tasks": true}`,
			[]string{"transform", "load"}, jobs.RunResultStateSuccess, ""},
		{"only transform: load stays skipped", `{"run_id": %d, "rerun_tasks": ["transform"]}`,
			[]string{"transform"}, jobs.RunResultStateFailed, "Upstream task(s) failed."},
		{"transform and what depends on it", `{"run_id": %d, "rerun_tasks": ["transform"], "rerun_dependent_tasks": true}`,
			[]string{"transform", "load"}, jobs.RunResultStateSuccess, ""},
		{"only load: its upstream still failed", `{"run_id": %d, "rerun_tasks": ["load"]}`,
			[]string{"load"}, jobs.RunResultStateFailed, "Task transform failed with message: Workload failed, see run output for details. This caused all downstream tasks to get skipped."},
		{"extract and everything after it, even what succeeded", `{"run_id": %d, "rerun_tasks": ["extract"], "rerun_dependent_tasks": true}`,
			[]string{"extract", "transform", "load"}, jobs.RunResultStateSuccess, ""},
		{"all failed tasks and their dependents", `{"run_id": %d, "rerun_all_failed_tasks": true, "rerun_dependent_tasks": true}`,
			[]string{"transform", "load"}, jobs.RunResultStateSuccess, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, repairConfig())
			id := failedFlakyRun(h)
			repairID := h.repair("alice", fmt.Sprintf(c.body, id))
			h.clk.Advance(10 * time.Second)
			r, err := h.jobs.GetRun(h.as("alice"), jobs.GetRunRequest{RunId: id, IncludeHistory: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.State.ResultState != c.wantResult || r.State.StateMessage != c.wantMsg {
				t.Errorf("after the repair: %+v, want %s %q", r.State, c.wantResult, c.wantMsg)
			}
			if len(r.RepairHistory) != 2 || r.RepairHistory[1].Id != repairID {
				t.Fatalf("repair history %+v", r.RepairHistory)
			}
			var rerun []string
			for _, task := range r.Tasks[3:] {
				rerun = append(rerun, task.TaskKey)
				if !slices.Contains(r.RepairHistory[1].TaskRunIds, task.RunId) || slices.Contains(r.RepairHistory[0].TaskRunIds, task.RunId) {
					t.Errorf("task run %d (%s) is not the repair's", task.RunId, task.TaskKey)
				}
				if task.AttemptNumber != 1 {
					t.Errorf("%s: attempt_number %d, want 1", task.TaskKey, task.AttemptNumber)
				}
			}
			if !slices.Equal(rerun, c.wantRerun) {
				t.Errorf("reran %v, want %v", rerun, c.wantRerun)
			}
		})
	}
}

// TestRepairWithTheSDK follows a failed run through a repair with the unmodified SDK: the run goes back to
// PENDING and RUNNING, its new task runs have new ids and outputs, it ends SUCCESS on the fake's clock,
// and runs/get's repair history tells the story.
func TestRepairWithTheSDK(t *testing.T) {
	h := newHarness(t, repairConfig())
	id := failedFlakyRun(h)
	failedAt := h.clk.Now().UnixMilli()
	original := h.getRun("alice", id)
	originalIDs := []int64{original.Tasks[0].RunId, original.Tasks[1].RunId, original.Tasks[2].RunId}

	r, err := h.jobs.GetRun(h.as("bob"), jobs.GetRunRequest{RunId: id, IncludeHistory: true})
	if err != nil || len(r.RepairHistory) != 1 {
		t.Fatalf("history before any repair: %+v %v", r, err)
	}
	if o := r.RepairHistory[0]; o.Type != jobs.RepairHistoryItemTypeOriginal || o.Id != 0 || o.StartTime != original.StartTime ||
		o.EndTime != failedAt || o.State.ResultState != jobs.RunResultStateFailed || !slices.Equal(o.TaskRunIds, originalIDs) {
		t.Errorf("the original attempt: %+v", o)
	}
	if r := h.getRun("alice", id); r.RepairHistory != nil {
		t.Errorf("repair_history without include_history: %+v", r.RepairHistory)
	}

	wait, err := h.jobs.RepairRun(h.as("alice"), jobs.RepairRun{RunId: id, RerunAllFailedTasks: true,
		JobParameters: map[string]string{"date": "2026-11-28"}})
	if err != nil {
		t.Fatal(err)
	}
	repairID := wait.Response.RepairId
	repairedAt := h.clk.Now().UnixMilli()

	// The repair reruns transform and load: 1 s PENDING, 1.5 s each, 0.5 s TERMINATING.
	steps := []struct {
		at     time.Duration
		status jobs.RunLifecycleStateV2State
		result jobs.RunResultState
	}{
		{0, jobs.RunLifecycleStateV2StatePending, ""},
		{1500 * time.Millisecond, jobs.RunLifecycleStateV2StateRunning, ""},
		{4 * time.Second, jobs.RunLifecycleStateV2StateTerminating, ""},
		{4500 * time.Millisecond, jobs.RunLifecycleStateV2StateTerminated, jobs.RunResultStateSuccess},
	}
	elapsed := time.Duration(0)
	for _, st := range steps {
		h.clk.Advance(st.at - elapsed)
		elapsed = st.at
		r := h.getRun("bob", id)
		if r.Status.State != st.status || r.State.ResultState != st.result || (r.EndTime != 0) != (st.result != "") {
			t.Fatalf("%v into the repair: %s %+v end %d; want %s %q", st.at, r.Status.State, r.State, r.EndTime, st.status, st.result)
		}
	}

	r, err = h.jobs.GetRun(h.as("alice"), jobs.GetRunRequest{RunId: id, IncludeHistory: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.StartTime != original.StartTime || r.EndTime != repairedAt+4500 || r.RunDuration != r.EndTime-r.StartTime {
		t.Errorf("times: start %d end %d duration %d; want start %d end %d", r.StartTime, r.EndTime, r.RunDuration, original.StartTime, repairedAt+4500)
	}
	if len(r.Tasks) != 5 || r.Status.TerminationDetails.Code != jobs.TerminationCodeCodeSuccess {
		t.Fatalf("tasks %d, termination %+v", len(r.Tasks), r.Status.TerminationDetails)
	}
	if p := r.JobParameters; len(p) != 1 || p[0].Value != "2026-11-28" {
		t.Errorf("job_parameters after the repair: %+v", p)
	}
	if len(r.RepairHistory) != 2 {
		t.Fatalf("history: %+v", r.RepairHistory)
	}
	rep := r.RepairHistory[1]
	newIDs := []int64{r.Tasks[3].RunId, r.Tasks[4].RunId}
	if rep.Type != jobs.RepairHistoryItemTypeRepair || rep.Id != repairID || rep.StartTime != repairedAt || rep.EndTime != repairedAt+4500 ||
		rep.State.ResultState != jobs.RunResultStateSuccess || rep.Status.State != jobs.RunLifecycleStateV2StateTerminated ||
		!slices.Equal(rep.TaskRunIds, newIDs) {
		t.Errorf("the repair: %+v, want id %d, task runs %v", rep, repairID, newIDs)
	}
	if o := r.RepairHistory[0]; o.State.ResultState != jobs.RunResultStateFailed || o.EndTime != failedAt {
		t.Errorf("the original attempt after the repair: %+v", o)
	}
	for _, tid := range newIDs {
		if slices.Contains(originalIDs, tid) {
			t.Errorf("task run id %d reused", tid)
		}
	}

	// get-output works for the new task runs, and the old one still tells the first failure.
	out, err := h.jobs.GetRunOutput(h.as("bob"), jobs.GetRunOutputRequest{RunId: r.Tasks[3].RunId})
	if err != nil || out.NotebookOutput == nil || out.NotebookOutput.Result != "transformed" || out.Error != "" ||
		out.Metadata.JobRunId != id || out.Metadata.Tasks[0].AttemptNumber != 1 {
		t.Errorf("output of the repaired transform: %+v %v", out, err)
	}
	if p := out.Metadata.JobParameters; len(p) != 1 || p[0].Value != "2026-11-28" {
		t.Errorf("the repaired task's job_parameters: %+v", p)
	}
	out, err = h.jobs.GetRunOutput(h.as("bob"), jobs.GetRunOutputRequest{RunId: originalIDs[1]})
	if err != nil || out.Error != "flaky executor lost" {
		t.Errorf("output of the first transform: %+v %v", out, err)
	}

	// A second repair needs the latest repair id; the SDK's errors classify the refusal.
	_, err = h.jobs.RepairRun(h.as("alice"), jobs.RepairRun{RunId: id, RerunTasks: []string{"load"}})
	if !errors.Is(err, apierr.ErrInvalidParameterValue) {
		t.Errorf("second repair without latest_repair_id: %v", err)
	}
	_, err = h.jobs.RepairRun(h.as("bob"), jobs.RepairRun{RunId: id, RerunTasks: []string{"load"}, LatestRepairId: repairID})
	if !errors.Is(err, apierr.ErrPermissionDenied) {
		t.Errorf("bob repairs: %v", err)
	}
	wait, err = h.jobs.RepairRun(h.as("sp"), jobs.RepairRun{RunId: id, RerunTasks: []string{"load"}, LatestRepairId: repairID})
	if err != nil || wait.Response.RepairId == repairID {
		t.Fatalf("second repair: %+v %v", wait, err)
	}
	h.clk.Advance(10 * time.Second)
	r, err = h.jobs.GetRun(h.as("alice"), jobs.GetRunRequest{RunId: id, IncludeHistory: true})
	if err != nil || len(r.RepairHistory) != 3 || len(r.Tasks) != 6 || r.Tasks[5].TaskKey != "load" || r.Tasks[5].AttemptNumber != 2 ||
		r.State.ResultState != jobs.RunResultStateSuccess {
		t.Errorf("after the second repair: %d history items, %d tasks, %+v, %v", len(r.RepairHistory), len(r.Tasks), r.State, err)
	}
	if st := h.ws.Stats(); st.RepairsCreated != 2 || st.RunsCreated != 1 {
		t.Errorf("repairs_created %d runs_created %d, want 2 and 1", st.RepairsCreated, st.RunsCreated)
	}
}

func TestCancelingARepairCancelsTheRun(t *testing.T) {
	h := newHarness(t, repairConfig())
	id := failedFlakyRun(h)
	repairID := h.repair("alice", fmt.Sprintf(`{"run_id": %d, "rerun_all_failed_tasks": true}`, id))
	h.clk.Advance(2 * time.Second) // transform is running
	if _, err := h.jobs.CancelRun(h.as("alice"), jobs.CancelRun{RunId: id}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Second)
	r, err := h.jobs.GetRun(h.as("alice"), jobs.GetRunRequest{RunId: id, IncludeHistory: true})
	if err != nil || r.State.ResultState != jobs.RunResultStateCanceled || !r.State.UserCancelledOrTimedout ||
		r.Status.TerminationDetails.Code != jobs.TerminationCodeCodeUserCanceled {
		t.Fatalf("after canceling the repair: %+v %+v %v", r.State, r.Status, err)
	}
	if rep := r.RepairHistory[1]; rep.Id != repairID || rep.State.ResultState != jobs.RunResultStateCanceled {
		t.Errorf("the repair: %+v", rep)
	}
	// The canceled tasks can be repaired again.
	if id2 := h.repair("alice", fmt.Sprintf(`{"run_id": %d, "rerun_all_failed_tasks": true, "latest_repair_id": %d}`, id, repairID)); id2 <= repairID {
		t.Errorf("repair id %d after %d", id2, repairID)
	}
	h.clk.Advance(10 * time.Second)
	if r := h.getRun("alice", id); r.State.ResultState != jobs.RunResultStateSuccess {
		t.Errorf("after the third attempt: %+v", r.State)
	}
}

func TestRepairedRunsInRunsList(t *testing.T) {
	// A repaired run ends again: runs/list orders it by its new end time, and it is active while the repair
	// runs.
	h := newHarness(t, repairConfig())
	id := failedFlakyRun(h)
	other := h.runNow("alice", jobs.RunNow{JobId: 4})
	h.clk.Advance(time.Second) // other has ended
	h.repair("alice", fmt.Sprintf(`{"run_id": %d, "rerun_all_failed_tasks": true}`, id))
	if _, page, _ := h.listRuns("alice", "active_only=true"); len(page.Runs) != 1 || page.Runs[0].RunID != id {
		t.Errorf("active while repairing: %+v", page.Runs)
	}
	h.clk.Advance(5 * time.Second)
	_, page, _ := h.listRuns("alice", "completed_only=true")
	if len(page.Runs) != 2 || page.Runs[0].RunID != id || page.Runs[1].RunID != other {
		t.Errorf("completed after the repair: %+v, want %d first", page.Runs, id)
	}
}
