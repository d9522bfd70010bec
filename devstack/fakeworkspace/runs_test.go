package fakeworkspace

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/apierr"
	"github.com/databricks/databricks-sdk-go/service/jobs"
)

func TestSingleTaskRunProgressesThroughEveryStateOnTheClock(t *testing.T) {
	h := newHarness(t, testConfig())
	created := h.clk.Now().UnixMilli()
	id := h.runNow("alice", jobs.RunNow{JobId: 1, IdempotencyToken: "lifecycle-1"})

	// Job 1: QUEUED 1 s, PENDING 2 s, RUNNING 3 s, TERMINATING 1 s.
	steps := []struct {
		at        time.Duration // since run-now
		lifecycle jobs.RunLifeCycleState
		status    jobs.RunLifecycleStateV2State
		result    jobs.RunResultState
		task      jobs.RunLifeCycleState
	}{
		{0, jobs.RunLifeCycleStateQueued, jobs.RunLifecycleStateV2StateQueued, "", jobs.RunLifeCycleStateQueued},
		{1 * time.Second, jobs.RunLifeCycleStatePending, jobs.RunLifecycleStateV2StatePending, "", jobs.RunLifeCycleStatePending},
		{3 * time.Second, jobs.RunLifeCycleStateRunning, jobs.RunLifecycleStateV2StateRunning, "", jobs.RunLifeCycleStateRunning},
		{5999 * time.Millisecond, jobs.RunLifeCycleStateRunning, jobs.RunLifecycleStateV2StateRunning, "", jobs.RunLifeCycleStateRunning},
		{6 * time.Second, jobs.RunLifeCycleStateTerminating, jobs.RunLifecycleStateV2StateTerminating, "", jobs.RunLifeCycleStateTerminated},
		{7 * time.Second, jobs.RunLifeCycleStateTerminated, jobs.RunLifecycleStateV2StateTerminated, jobs.RunResultStateSuccess, jobs.RunLifeCycleStateTerminated},
	}
	elapsed := time.Duration(0)
	for _, st := range steps {
		h.clk.Advance(st.at - elapsed)
		elapsed = st.at
		r := h.getRun("bob", id) // bob may view
		if r.State.LifeCycleState != st.lifecycle || r.Status.State != st.status || r.State.ResultState != st.result {
			t.Fatalf("at %v: state %+v status %+v; want %s/%s/%q", st.at, r.State, r.Status, st.lifecycle, st.status, st.result)
		}
		if got := r.Tasks[0].State.LifeCycleState; got != st.task {
			t.Errorf("at %v: task life_cycle_state %s, want %s", st.at, got, st.task)
		}
		terminating := st.status == jobs.RunLifecycleStateV2StateTerminating || st.status == jobs.RunLifecycleStateV2StateTerminated
		if (r.Status.TerminationDetails != nil) != terminating {
			t.Errorf("at %v: termination_details %+v, want present only while terminating/terminated", st.at, r.Status.TerminationDetails)
		}
		if (r.Status.QueueDetails != nil) != (st.status == jobs.RunLifecycleStateV2StateQueued) {
			t.Errorf("at %v: queue_details %+v, want present only while queued", st.at, r.Status.QueueDetails)
		}
		if (r.EndTime != 0) != (st.result != "") {
			t.Errorf("at %v: end_time %d, want 0 until terminal", st.at, r.EndTime)
		}
	}

	r := h.getRun("alice", id)
	want := jobs.Run{
		RunId: id, JobId: 1, JobRunId: id, NumberInJob: id, RunName: "single", RunType: jobs.RunTypeJobRun,
		Trigger: jobs.TriggerTypeOneTime, CreatorUserName: "Alice@Contoso.example",
		StartTime: created, EndTime: created + 7000, QueueDuration: 1000,
		SetupDuration: 2000, ExecutionDuration: 3000, CleanupDuration: 1000, RunDuration: 7000,
		RunPageUrl: fmt.Sprintf("https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456#job/1/run/%d", id),
	}
	got := jobs.Run{
		RunId: r.RunId, JobId: r.JobId, JobRunId: r.JobRunId, NumberInJob: r.NumberInJob, RunName: r.RunName, RunType: r.RunType,
		Trigger: r.Trigger, CreatorUserName: r.CreatorUserName, StartTime: r.StartTime, EndTime: r.EndTime,
		QueueDuration: r.QueueDuration, SetupDuration: r.SetupDuration, ExecutionDuration: r.ExecutionDuration,
		CleanupDuration: r.CleanupDuration, RunDuration: r.RunDuration, RunPageUrl: r.RunPageUrl,
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("terminated run:\n got %+v\nwant %+v", got, want)
	}
	if td := r.Status.TerminationDetails; td.Code != jobs.TerminationCodeCodeSuccess || td.Type != jobs.TerminationTypeTypeSuccess {
		t.Errorf("termination_details %+v, want SUCCESS/SUCCESS", td)
	}
	task := r.Tasks[0]
	if task.RunId != id+1 || task.TaskKey != "main" || task.State.ResultState != jobs.RunResultStateSuccess ||
		task.StartTime != created+1000 || task.EndTime != created+6000 || task.SetupDuration != 2000 || task.ExecutionDuration != 3000 ||
		!strings.HasSuffix(task.RunPageUrl, fmt.Sprintf("#job/1/run/%d", id+1)) {
		t.Errorf("task run: %+v", task)
	}
}

func TestMultiTaskRunWithAFailedTaskFailsAndSkipsDownstream(t *testing.T) {
	h := newHarness(t, testConfig())
	id := h.runNow("alice", jobs.RunNow{JobId: 2})

	// Job 2: PENDING 1 s, then ingest → transform (FAILED) → publish, 1 s per level, TERMINATING 0.5 s.
	type taskWant struct {
		lifecycle jobs.RunLifeCycleState
		result    jobs.RunResultState
	}
	steps := []struct {
		at    time.Duration
		run   jobs.RunLifecycleStateV2State
		tasks map[string]taskWant
	}{
		{500 * time.Millisecond, jobs.RunLifecycleStateV2StatePending, map[string]taskWant{
			"ingest": {jobs.RunLifeCycleStatePending, ""}, "transform": {jobs.RunLifeCycleStatePending, ""}, "publish": {jobs.RunLifeCycleStatePending, ""}}},
		{1500 * time.Millisecond, jobs.RunLifecycleStateV2StateRunning, map[string]taskWant{
			"ingest": {jobs.RunLifeCycleStateRunning, ""}, "transform": {jobs.RunLifeCycleStateBlocked, ""}, "publish": {jobs.RunLifeCycleStateBlocked, ""}}},
		{2500 * time.Millisecond, jobs.RunLifecycleStateV2StateRunning, map[string]taskWant{
			"ingest": {jobs.RunLifeCycleStateTerminated, jobs.RunResultStateSuccess}, "transform": {jobs.RunLifeCycleStateRunning, ""}, "publish": {jobs.RunLifeCycleStateBlocked, ""}}},
		// transform fails at 3 s; publish is skipped at once and the run stops running.
		{3 * time.Second, jobs.RunLifecycleStateV2StateTerminating, map[string]taskWant{
			"ingest": {jobs.RunLifeCycleStateTerminated, jobs.RunResultStateSuccess}, "transform": {jobs.RunLifeCycleStateTerminated, jobs.RunResultStateFailed}, "publish": {jobs.RunLifeCycleStateTerminated, jobs.RunResultStateUpstreamFailed}}},
		{3500 * time.Millisecond, jobs.RunLifecycleStateV2StateTerminated, nil},
	}
	elapsed := time.Duration(0)
	for _, st := range steps {
		h.clk.Advance(st.at - elapsed)
		elapsed = st.at
		r := h.getRun("alice", id)
		if r.Status.State != st.run {
			t.Fatalf("at %v: run status %s, want %s", st.at, r.Status.State, st.run)
		}
		for _, task := range r.Tasks {
			w, ok := st.tasks[task.TaskKey]
			if ok && (task.State.LifeCycleState != w.lifecycle || task.State.ResultState != w.result) {
				t.Errorf("at %v: task %s state %+v, want %s/%q", st.at, task.TaskKey, task.State, w.lifecycle, w.result)
			}
		}
	}

	r := h.getRun("alice", id)
	if r.State.ResultState != jobs.RunResultStateFailed {
		t.Errorf("result_state %q, want FAILED", r.State.ResultState)
	}
	td := r.Status.TerminationDetails
	wantMsg := "Task transform failed with message: Workload failed, see run output for details. This caused all downstream tasks to get skipped."
	if td.Code != jobs.TerminationCodeCodeRunExecutionError || td.Type != jobs.TerminationTypeTypeClientError || td.Message != wantMsg {
		t.Errorf("termination_details %+v, want RUN_EXECUTION_ERROR/CLIENT_ERROR %q", td, wantMsg)
	}
	if r.JobRunId != 0 || r.SetupDuration != 0 || r.ExecutionDuration != 0 || r.RunDuration != 3500 {
		t.Errorf("multi-task run: job_run_id %d, setup %d, execution %d, run_duration %d; want 0, 0, 0, 3500",
			r.JobRunId, r.SetupDuration, r.ExecutionDuration, r.RunDuration)
	}

	// get-output works per task run id only.
	taskIDs := map[string]int64{}
	for _, task := range r.Tasks {
		taskIDs[task.TaskKey] = task.RunId
	}
	outputs := []struct {
		task             string
		notebook         string
		errText, errHead string
	}{
		{"ingest", "ingested", "", ""},
		{"transform", "", "java.lang.IllegalStateException: boom", "java.lang.IllegalStateException: boom\n\tat "},
		{"publish", "", "", ""}, // skipped: neither an exit value nor an error
	}
	for _, o := range outputs {
		out, err := h.jobs.GetRunOutput(h.as("bob"), jobs.GetRunOutputRequest{RunId: taskIDs[o.task]})
		if err != nil {
			t.Fatalf("GetRunOutput(%s): %v", o.task, err)
		}
		gotNB := ""
		if out.NotebookOutput != nil {
			gotNB = out.NotebookOutput.Result
		}
		if gotNB != o.notebook || out.Error != o.errText || !strings.HasPrefix(out.ErrorTrace, o.errHead) || (o.errHead == "") != (out.ErrorTrace == "") {
			t.Errorf("output of %s: notebook %q error %q trace %q; want %q %q %q…", o.task, gotNB, out.Error, out.ErrorTrace, o.notebook, o.errText, o.errHead)
		}
		if out.Metadata == nil || out.Metadata.RunId != taskIDs[o.task] || out.Metadata.JobRunId != id || out.Metadata.JobId != 2 {
			t.Errorf("output of %s: metadata %+v, want the task run of job run %d", o.task, out.Metadata, id)
		}
	}
	_, err := h.jobs.GetRunOutput(h.as("alice"), jobs.GetRunOutputRequest{RunId: id})
	wantRefusal := "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead."
	if !errors.Is(err, apierr.ErrInvalidParameterValue) || errors.Is(err, apierr.ErrNotFound) || err.Error() != wantRefusal {
		t.Errorf("GetRunOutput(job run id): %v; want INVALID_PARAMETER_VALUE %q", err, wantRefusal)
	}
}

func TestGetOutputOfASingleTaskJob(t *testing.T) {
	h := newHarness(t, testConfig())
	id := h.runNow("alice", jobs.RunNow{JobId: 1})
	taskID := h.getRun("alice", id).Tasks[0].RunId

	// Like the real API, even a single-task job's run id is refused: only task run ids have output.
	if _, err := h.jobs.GetRunOutput(h.as("alice"), jobs.GetRunOutputRequest{RunId: id}); !errors.Is(err, apierr.ErrInvalidParameterValue) {
		t.Errorf("GetRunOutput(job run id of a single-task job): %v, want INVALID_PARAMETER_VALUE", err)
	}
	out, err := h.jobs.GetRunOutput(h.as("alice"), jobs.GetRunOutputRequest{RunId: taskID})
	if err != nil || out.NotebookOutput != nil {
		t.Fatalf("output while running: %+v, %v; want no notebook_output yet", out, err)
	}
	h.clk.Advance(7 * time.Second)
	out, err = h.jobs.GetRunOutput(h.as("alice"), jobs.GetRunOutputRequest{RunId: taskID})
	if err != nil || out.NotebookOutput == nil || out.NotebookOutput.Result != `{"rows": 1}` || out.NotebookOutput.Truncated {
		t.Fatalf("output when terminated: %+v, %v; want the exit value", out, err)
	}
	// runs/get also answers for a task run id, with the task run as the run.
	tr := h.getRun("bob", taskID)
	if tr.RunId != taskID || tr.JobRunId != id || tr.State.ResultState != jobs.RunResultStateSuccess {
		t.Errorf("GetRun(task run id): %+v", tr)
	}
}

// TestIdempotencyTokenIsScopedToTheWorkspace: a token names one run in the whole workspace,
// whoever sends it and for whichever job (the strictest reading of the Jobs API reference,
// which documents no narrower scope).
func TestIdempotencyTokenIsScopedToTheWorkspace(t *testing.T) {
	h := newHarness(t, testConfig())
	first := h.runNow("alice", jobs.RunNow{JobId: 1, IdempotencyToken: "fb-token-1"})
	cases := []struct {
		name    string
		user    string
		job     int64
		token   string
		sameRun bool
	}{
		{"same principal, same token", "alice", 1, "fb-token-1", true},
		{"same principal, same token, later", "alice", 1, "fb-token-1", true},
		{"other principal, same token: the first principal's run", "sp", 1, "fb-token-1", true},
		{"same token for another job: still the first run", "alice", 2, "fb-token-1", true},
		{"same principal, other token", "alice", 1, "fb-token-2", false},
		{"other principal, other token", "sp", 1, "fb-token-3", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.clk.Advance(10 * time.Second) // also after the first run terminated
			got := h.runNow(c.user, jobs.RunNow{JobId: c.job, IdempotencyToken: c.token})
			if (got == first) != c.sameRun {
				t.Errorf("run %d, first run %d; want same=%v", got, first, c.sameRun)
			}
		})
	}
	st := h.ws.Stats()
	if st.RunsCreated != 3 || st.IdempotentReplays != 4 {
		t.Errorf("runs_created %d, idempotent_replays %d; want 3, 4", st.RunsCreated, st.IdempotentReplays)
	}
	// The token does not let a principal past the permission check on the job it names.
	if _, err := h.jobs.RunNow(h.as("bob"), jobs.RunNow{JobId: 1, IdempotencyToken: "fb-token-1"}); !errors.Is(err, apierr.ErrPermissionDenied) {
		t.Errorf("a principal without Can Manage Run replaying a token: %v, want PERMISSION_DENIED", err)
	}

	_, err := h.jobs.RunNow(h.as("alice"), jobs.RunNow{JobId: 1, IdempotencyToken: strings.Repeat("x", 65)})
	if !errors.Is(err, apierr.ErrInvalidParameterValue) {
		t.Errorf("65-character token: %v, want INVALID_PARAMETER_VALUE", err)
	}
}

func TestRunNowRecordsParametersOnTheRun(t *testing.T) {
	h := newHarness(t, testConfig())
	id := h.runNow("alice", jobs.RunNow{
		JobId:          1,
		JobParameters:  map[string]string{"date": "2026-11-28", "region": "emea"},
		NotebookParams: map[string]string{"mode": "full"},
		PythonParams:   []string{"--fast"},
		Queue:          &jobs.QueueSettings{Enabled: true},
	})
	r := h.getRun("alice", id)
	var got []string
	for _, p := range r.JobParameters {
		got = append(got, fmt.Sprintf("%s=%s (default %q)", p.Name, p.Value, p.Default))
	}
	want := `date=2026-11-28 (default "today"), region=emea (default "")`
	if strings.Join(got, ", ") != want {
		t.Errorf("job_parameters %s, want %s", strings.Join(got, ", "), want)
	}
	op := r.OverridingParameters
	if op == nil || op.NotebookParams["mode"] != "full" || len(op.PythonParams) != 1 || op.PythonParams[0] != "--fast" {
		t.Errorf("overriding_parameters %+v", op)
	}

	_, err := h.jobs.RunNow(h.as("alice"), jobs.RunNow{JobId: 1, NotebookParams: map[string]string{"a": "b"}, JarParams: []string{"x"}})
	if !errors.Is(err, apierr.ErrInvalidParameterValue) {
		t.Errorf("notebook_params with jar_params: %v, want INVALID_PARAMETER_VALUE", err)
	}
	_, err = h.jobs.RunNow(h.as("alice"), jobs.RunNow{JobId: 1, JobParameters: map[string]string{"big": strings.Repeat("x", 10_001)}})
	if !errors.Is(err, apierr.ErrInvalidParameterValue) {
		t.Errorf("job_parameters over 10,000 bytes: %v, want INVALID_PARAMETER_VALUE", err)
	}
}

func TestOnlyRunsTheSelectedTasks(t *testing.T) {
	cases := []struct {
		only []string
		want string
	}{
		{[]string{"ingest"}, "ingest"},
		{[]string{"transform+"}, "transform,publish"},
		{[]string{"+transform"}, "ingest,transform"},
		{[]string{"+publish+"}, "ingest,transform,publish"},
	}
	h := newHarness(t, testConfig())
	for _, c := range cases {
		id := h.runNow("alice", jobs.RunNow{JobId: 2, Only: c.only})
		var keys []string
		for _, task := range h.getRun("alice", id).Tasks {
			keys = append(keys, task.TaskKey)
		}
		if got := strings.Join(keys, ","); got != c.want {
			t.Errorf("only %v ran %s, want %s", c.only, got, c.want)
		}
	}
	// A run of only "publish" succeeds: its unselected upstream counts as satisfied.
	id := h.runNow("alice", jobs.RunNow{JobId: 2, Only: []string{"publish"}})
	h.clk.Advance(time.Minute)
	if r := h.getRun("alice", id); r.State.ResultState != jobs.RunResultStateSuccess {
		t.Errorf("only publish: result %q, want SUCCESS", r.State.ResultState)
	}
	if _, err := h.jobs.RunNow(h.as("alice"), jobs.RunNow{JobId: 2, Only: []string{"nope"}}); !errors.Is(err, apierr.ErrInvalidParameterValue) {
		t.Errorf("only with an unknown task key: %v, want INVALID_PARAMETER_VALUE", err)
	}
}

func TestCancelRun(t *testing.T) {
	h := newHarness(t, testConfig())
	id := h.runNow("alice", jobs.RunNow{JobId: 2})
	h.clk.Advance(1500 * time.Millisecond) // ingest is running

	if _, err := h.jobs.CancelRun(h.as("bob"), jobs.CancelRun{RunId: id}); !errors.Is(err, apierr.ErrPermissionDenied) {
		t.Errorf("bob (CAN_VIEW) cancels: %v, want PERMISSION_DENIED", err)
	}
	if _, err := h.jobs.CancelRun(h.as("alice"), jobs.CancelRun{RunId: id}); err != nil {
		t.Fatalf("alice cancels: %v", err)
	}
	r := h.getRun("alice", id)
	if r.Status.State != jobs.RunLifecycleStateV2StateTerminating || r.State.ResultState != "" ||
		r.Status.TerminationDetails.Code != jobs.TerminationCodeCodeUserCanceled {
		t.Errorf("right after cancel: state %+v status %+v, want TERMINATING with USER_CANCELED", r.State, r.Status)
	}
	h.clk.Advance(500 * time.Millisecond)
	r = h.getRun("alice", id)
	if r.State.LifeCycleState != jobs.RunLifeCycleStateTerminated || r.State.ResultState != jobs.RunResultStateCanceled ||
		!r.State.UserCancelledOrTimedout || r.Status.TerminationDetails.Code != jobs.TerminationCodeCodeUserCanceled {
		t.Errorf("after terminating: state %+v status %+v, want TERMINATED/CANCELED by user", r.State, r.Status)
	}
	results := map[string]jobs.RunResultState{}
	for _, task := range r.Tasks {
		results[task.TaskKey] = task.State.ResultState
	}
	if results["ingest"] != jobs.RunResultStateCanceled || results["transform"] != jobs.RunResultStateUpstreamCanceled {
		t.Errorf("task results %v, want ingest CANCELED and transform UPSTREAM_CANCELED", results)
	}
	end := r.EndTime

	// Cancelling a terminated run is a no-op.
	h.clk.Advance(time.Minute)
	if _, err := h.jobs.CancelRun(h.as("alice"), jobs.CancelRun{RunId: id}); err != nil {
		t.Errorf("cancel a terminated run: %v, want no error", err)
	}
	if r := h.getRun("alice", id); r.EndTime != end || r.State.ResultState != jobs.RunResultStateCanceled {
		t.Errorf("after a second cancel: end %d result %s; want unchanged", r.EndTime, r.State.ResultState)
	}
	if _, err := h.jobs.CancelRun(h.as("alice"), jobs.CancelRun{RunId: 42}); !errors.Is(err, apierr.ErrInvalidParameterValue) {
		t.Errorf("cancel an unknown run: %v, want INVALID_PARAMETER_VALUE", err)
	}
}

func TestMaxConcurrentRunsQueuesFurtherRuns(t *testing.T) {
	h := newHarness(t, testConfig())
	// Job 3: one run at a time; PENDING 1 s, RUNNING 5 s, TERMINATING 1 s.
	first := h.runNow("alice", jobs.RunNow{JobId: 3})
	h.clk.Advance(time.Second)
	second := h.runNow("alice", jobs.RunNow{JobId: 3})

	r := h.getRun("alice", second)
	if r.Status.State != jobs.RunLifecycleStateV2StateQueued || r.Status.QueueDetails == nil ||
		r.Status.QueueDetails.Code != jobs.QueueDetailsCodeCodeMaxConcurrentRunsReached {
		t.Fatalf("second run: status %+v, want QUEUED with MAX_CONCURRENT_RUNS_REACHED", r.Status)
	}
	// With queueing turned off, a third run is skipped instead.
	third := h.runNow("alice", jobs.RunNow{JobId: 3, Queue: &jobs.QueueSettings{Enabled: false}})
	if r := h.getRun("alice", third); r.State.LifeCycleState != jobs.RunLifeCycleStateSkipped ||
		r.State.ResultState != jobs.RunResultStateMaximumConcurrentRunsReached ||
		r.Status.TerminationDetails.Code != jobs.TerminationCodeCodeMaxConcurrentRunsExceeded {
		t.Errorf("third run with queue disabled: state %+v status %+v, want SKIPPED", r.State, r.Status)
	}

	h.clk.Advance(5*time.Second + 999*time.Millisecond) // the first run ends at 7 s
	if r := h.getRun("alice", second); r.Status.State != jobs.RunLifecycleStateV2StateQueued {
		t.Errorf("second run just before the first ends: %s, want QUEUED", r.Status.State)
	}
	h.clk.Advance(time.Millisecond)
	if r := h.getRun("alice", first); r.Status.State != jobs.RunLifecycleStateV2StateTerminated {
		t.Errorf("first run at 7 s: %s, want TERMINATED", r.Status.State)
	}
	r = h.getRun("alice", second)
	if r.Status.State != jobs.RunLifecycleStateV2StatePending || r.QueueDuration != 6000 {
		t.Errorf("second run once the slot is free: %s, queue_duration %d; want PENDING, 6000", r.Status.State, r.QueueDuration)
	}

	// Cancelling the running run frees its slot for the next one early.
	fourth := h.runNow("alice", jobs.RunNow{JobId: 3})
	h.clk.Advance(2 * time.Second) // second is RUNNING
	if _, err := h.jobs.CancelRun(h.as("alice"), jobs.CancelRun{RunId: second}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Second) // second has finished TERMINATING
	if r := h.getRun("alice", fourth); r.Status.State != jobs.RunLifecycleStateV2StatePending {
		t.Errorf("fourth run after the second was cancelled: %s, want PENDING", r.Status.State)
	}
}

func TestErrorsAsTheSDKSeesThem(t *testing.T) {
	h := newHarness(t, testConfig())
	privateRun := h.runNow("alice", jobs.RunNow{JobId: 6})

	cases := []struct {
		name      string
		user      string
		call      func(h *harness, user string) error
		is        []error
		isNot     []error
		status    int
		code      string
		message   string
		requestID bool
	}{
		{
			name: "run-now on an unknown job is a bad request, not not-found", user: "alice",
			call: func(h *harness, u string) error { _, err := h.jobs.RunNow(h.as(u), jobs.RunNow{JobId: 42}); return err },
			is:   []error{apierr.ErrInvalidParameterValue, apierr.ErrBadRequest}, isNot: []error{apierr.ErrNotFound},
			status: 400, code: "INVALID_PARAMETER_VALUE", message: "Job 42 does not exist.",
		},
		{
			name: "get on an unknown job is not-found (SDK override)", user: "alice",
			call: func(h *harness, u string) error {
				_, err := h.jobs.Get(h.as(u), jobs.GetJobRequest{JobId: 42})
				return err
			},
			is:     []error{apierr.ErrNotFound, apierr.ErrResourceDoesNotExist},
			status: 400, code: "INVALID_PARAMETER_VALUE", message: "Job 42 does not exist.",
		},
		{
			name: "runs/get on an unknown run is not-found (SDK override)", user: "alice",
			call: func(h *harness, u string) error {
				_, err := h.jobs.GetRun(h.as(u), jobs.GetRunRequest{RunId: 42})
				return err
			},
			is:     []error{apierr.ErrNotFound},
			status: 400, code: "INVALID_PARAMETER_VALUE", message: "Run 42 does not exist.",
		},
		{
			name: "runs/get-output on an unknown run is not-found", user: "alice",
			call: func(h *harness, u string) error {
				_, err := h.jobs.GetRunOutput(h.as(u), jobs.GetRunOutputRequest{RunId: 42})
				return err
			},
			is:     []error{apierr.ErrNotFound},
			status: 400, code: "INVALID_PARAMETER_VALUE", message: "Run 42 does not exist.",
		},
		{
			name: "run-now with CAN_VIEW only is permission denied", user: "bob",
			call:   func(h *harness, u string) error { _, err := h.jobs.RunNow(h.as(u), jobs.RunNow{JobId: 1}); return err },
			is:     []error{apierr.ErrPermissionDenied},
			status: 403, code: "PERMISSION_DENIED", requestID: true,
			message: "User bob@contoso.example does not have Manage Run or Owner or Admin permissions on job 1",
		},
		{
			name: "runs/get without CAN_VIEW is permission denied", user: "bob",
			call: func(h *harness, u string) error {
				_, err := h.jobs.GetRun(h.as(u), jobs.GetRunRequest{RunId: privateRun})
				return err
			},
			is:     []error{apierr.ErrPermissionDenied},
			status: 403, code: "PERMISSION_DENIED", requestID: true,
			message: "User bob@contoso.example does not have Admin or Manage Run or Owner or View permissions on job 6",
		},
		{
			name: "a workspace admin may run any job", user: "admin",
			call: func(h *harness, u string) error { _, err := h.jobs.RunNow(h.as(u), jobs.RunNow{JobId: 6}); return err },
		},
		{
			name: "a service principal with CAN_MANAGE_RUN may run", user: "sp",
			call: func(h *harness, u string) error { _, err := h.jobs.RunNow(h.as(u), jobs.RunNow{JobId: 1}); return err },
		},
		{
			name: "a principal not in the workspace gets the Jetty 403 page", user: "carol",
			call: func(h *harness, u string) error {
				_, err := h.jobs.GetRun(h.as(u), jobs.GetRunRequest{RunId: privateRun})
				return err
			},
			is:     []error{apierr.ErrPermissionDenied},
			status: 403, code: "FORBIDDEN", message: "User not authorized",
		},
		{
			name: "an expired token is unauthenticated", user: "expired",
			call: func(h *harness, u string) error {
				_, err := h.jobs.Get(h.as(u), jobs.GetJobRequest{JobId: 1})
				return err
			},
			is:     []error{apierr.ErrUnauthenticated},
			status: 401, code: "401", message: "Token is expired",
		},
		{
			name: "an invalid token is unauthenticated", user: "forged",
			call: func(h *harness, u string) error {
				_, err := h.jobs.Get(h.as(u), jobs.GetJobRequest{JobId: 1})
				return err
			},
			is:     []error{apierr.ErrUnauthenticated},
			status: 401, code: "401", message: "Invalid access token.",
		},
		{
			name: "list with limit over 100 is a bad request", user: "alice",
			call: func(h *harness, u string) error {
				_, err := h.jobs.ListAll(h.as(u), jobs.ListJobsRequest{Limit: 101})
				return err
			},
			is:     []error{apierr.ErrInvalidParameterValue},
			status: 400, code: "INVALID_PARAMETER_VALUE",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(h, c.user)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			var ae *apierr.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("want an *apierr.APIError, got %T %v", err, err)
			}
			if ae.StatusCode != c.status || ae.ErrorCode != c.code || (c.message != "" && ae.Message != c.message) {
				t.Errorf("got %d %s %q; want %d %s %q", ae.StatusCode, ae.ErrorCode, ae.Message, c.status, c.code, c.message)
			}
			for _, target := range c.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = false, want true", target)
				}
			}
			for _, target := range c.isNot {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = true, want false", target)
				}
			}
			if c.requestID && ae.ErrorDetails().RequestInfo == nil {
				t.Errorf("want a RequestInfo detail with the request id")
			}
		})
	}
	st := h.ws.Stats()
	if st.Forbidden != 3 || st.Unauthorized != 2 {
		t.Errorf("forbidden %d, unauthorized %d; want 3, 2", st.Forbidden, st.Unauthorized)
	}
	if st.RequestsByPrincipal[carolUPN] != 1 || st.RequestsByPrincipal[aliceUPN] < 1 || st.RequestsByPrincipal[spAppID] != 1 {
		t.Errorf("requests_by_principal %v", st.RequestsByPrincipal)
	}
}
