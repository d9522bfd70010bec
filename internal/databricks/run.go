package databricks

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// Run is flowbricks' run status (docs/architecture.md, Run status): flat, stable, never null —
// strings are "" and arrays [] when Databricks sent nothing.
//
// How it is derived from the Jobs API run (the rules are the same for each
// task in Tasks; TestRunMapping is the table):
//
//   - State: status.state (QUEUED, PENDING, RUNNING, TERMINATING, TERMINATED,
//     BLOCKED, WAITING); if absent, the deprecated state.life_cycle_state
//     (which also has SKIPPED, INTERNAL_ERROR, WAITING_FOR_RETRY); if both are
//     absent, "UNKNOWN". A run JSON with neither "state" nor "status" is
//     tolerated (the SDK's waiter panics on it; we never use the waiter).
//   - Terminal: life_cycle_state is TERMINATED, SKIPPED or INTERNAL_ERROR, or
//     status.state is TERMINATED.
//   - Result: "" while not terminal (even if TERMINATING already carries
//     termination details). When terminal: status.termination_details.code
//     (SUCCESS, SUCCESS_WITH_FAILURES, USER_CANCELED, RUN_EXECUTION_ERROR, …),
//     else state.result_state (SUCCESS, FAILED, CANCELED, TIMEDOUT, …), else
//     the life-cycle state itself for SKIPPED / INTERNAL_ERROR, else "".
//   - Succeeded: terminal and Result == "SUCCESS". SUCCESS_WITH_FAILURES is
//     NOT success — like Airflow's DatabricksRunNowOperator, which succeeds
//     only on result_state SUCCESS: some tasks failed, and a flow that
//     continues "on success" should not silently skip that.
//   - Message: while queued, status.queue_details.message; when terminal,
//     status.termination_details.message; otherwise (or when those are empty)
//     state.state_message.
//   - DurationMs: run_duration when set (the total for multi-task runs, whose
//     setup/execution/cleanup are 0); else setup+execution+cleanup; else
//     end_time-start_time when both are set; else 0 (still running).
//   - StartTime/EndTime: RFC 3339 UTC, second precision; "" when 0.
//     EndTimeMs keeps the end in epoch milliseconds for ordering (not in
//     the JSON).
//   - RepairCount/LatestRepairID: the REPAIR items of repair_history (runs/get
//     with include_history=true) and the id of the last one; 0 when the run
//     was never repaired or Databricks sent no history (runs/list does not).
//   - A repaired run follows its latest repair: when the last repair_history
//     item is a repair that is not over, the run is not over either, whatever
//     the run's own state still says (so waiting for a repair cannot end
//     with the result of the attempt before it).
type Run struct {
	RunID            int64     `json:"run_id" doc:"The run's id."`
	JobID            int64     `json:"job_id" doc:"The job's id."`
	RunName          string    `json:"run_name" doc:"The run's name (normally the job's name)."`
	State            string    `json:"state" doc:"Where the run is: QUEUED, PENDING, RUNNING, TERMINATING, TERMINATED (also BLOCKED, WAITING, SKIPPED, INTERNAL_ERROR)."`
	Result           string    `json:"result" doc:"How the run ended once terminal: SUCCESS, SUCCESS_WITH_FAILURES, FAILED, CANCELED, TIMEDOUT, RUN_EXECUTION_ERROR, …; empty while running."`
	Terminal         bool      `json:"terminal" doc:"True once the run is over (whatever its result)."`
	Succeeded        bool      `json:"succeeded" doc:"True when the run is over and its result is SUCCESS (SUCCESS_WITH_FAILURES is not success)."`
	Message          string    `json:"message" doc:"Databricks' message about the state: why it is queued, or how it ended."`
	RunPageURL       string    `json:"run_page_url" doc:"Link to the run in the Databricks workspace."`
	StartTime        string    `json:"start_time" doc:"When the run started (RFC 3339, UTC); empty if it has not."`
	EndTime          string    `json:"end_time" doc:"When the run ended (RFC 3339, UTC); empty while running."`
	DurationMs       int64     `json:"duration_ms" doc:"How long the run took, in milliseconds; 0 while running."`
	Tasks            []TaskRun `json:"tasks" doc:"The run's tasks."`
	RepairCount      int       `json:"repair_count" doc:"How many times the run was repaired; 0 if never (or when the answer comes from the run list, which has no repair history)."`
	LatestRepairID   int64     `json:"latest_repair_id" doc:"The id of the run's latest repair; 0 if it was never repaired."`
	IdempotencyToken string    `json:"idempotency_token" doc:"The idempotency token run-now sent with this run (retries with the same token return this run); empty when a run is read, as Databricks does not return it."` // filled by the API layer
	// EndTimeMs is EndTime in epoch milliseconds (0 while running): the order in which runs
	// ended, to the millisecond, which EndTime's seconds cannot give.
	EndTimeMs int64 `json:"-"`
}

// TaskRun is one task of a run; State/Result follow the rules on [Run].
type TaskRun struct {
	TaskKey    string `json:"task_key" doc:"The task's key in the job."`
	RunID      int64  `json:"run_id" doc:"The task run's id (get-output takes this id)."`
	State      string `json:"state" doc:"Where the task run is (as the run's state)."`
	Result     string `json:"result" doc:"How the task run ended (as the run's result); empty while running."`
	RunPageURL string `json:"run_page_url" doc:"Link to the run in the Databricks workspace."`
	DurationMs int64  `json:"duration_ms" doc:"How long the task run took, in milliseconds."`
	// Attempt is the task run's attempt_number: 0 for the first, higher for Databricks' own
	// retries and for repairs. A run lists one task run per attempt, so a task's outcome is that
	// of its highest attempt. Not in the JSON: the list itself shows every attempt.
	Attempt int64 `json:"-"`
}

// TaskOutput is the output of one task run (get-output).
type TaskOutput struct {
	TaskKey string `json:"task_key" doc:"The task's key in the job."`
	RunID   int64  `json:"run_id" doc:"The task run's id."`
	// Result is the notebook exit value (dbutils.notebook.exit); Databricks
	// returns at most its first 5 MB and sets Truncated.
	Result    string `json:"result" doc:"The notebook exit value (dbutils.notebook.exit); Databricks keeps at most its first 5 MB."`
	Truncated bool   `json:"truncated" doc:"True when the result is incomplete: Databricks keeps its first 5 MB, and flowbricks returns at most 8 MiB of results per run (in task order)."`
	// Error and ErrorTrace are Databricks' text, cut to MaxErrorTraceBytes
	// each (see [MaxErrorTraceBytes]).
	Error      string `json:"error" doc:"The task's error message, if it failed (long text keeps its beginning and end)."`
	ErrorTrace string `json:"error_trace" doc:"The error's stack trace, if it failed (long text keeps its beginning and end)."`
}

// StateUnknown is Run.State when the run carries neither status nor state.
const StateUnknown = "UNKNOWN"

// MaxErrorTraceBytes caps TaskOutput.ErrorTrace (and Error). Longer text keeps
// its first errorTraceHeadBytes and as much of its end as fits, with a marker
// line in between saying how many bytes were cut:
//
//	<head>\n[... flowbricks: 123456 bytes omitted ...]\n<tail>
//
// Both ends are kept because both matter: a JVM trace starts with the
// exception and message ("Caused by" chains follow), a Python traceback ends
// with them, and the first lines say which notebook cell failed. Cuts are made
// on UTF-8 boundaries; the result is never longer than MaxErrorTraceBytes.
const MaxErrorTraceBytes = 16 << 10

const errorTraceHeadBytes = 4 << 10

func mapRun(r *wireRun) Run {
	if r == nil {
		return Run{State: StateUnknown, Tasks: []TaskRun{}}
	}
	st := deriveStatus(r.Status, r.State)
	repairs, latestRepair, repairing := r.repairs()
	endMs := int64(r.EndTime)
	if repairing != nil && !repairing.terminal {
		st, endMs = *repairing, 0
	}
	out := Run{
		RunID:      int64(r.RunID),
		JobID:      int64(r.JobID),
		RunName:    r.RunName,
		State:      st.state,
		Result:     st.result,
		Terminal:   st.terminal,
		Succeeded:  st.succeeded,
		Message:    st.message,
		RunPageURL: r.RunPageURL,
		StartTime:  msToRFC3339(int64(r.StartTime)),
		EndTime:    msToRFC3339(endMs),
		DurationMs: r.durationMs(),
		Tasks:      make([]TaskRun, 0, len(r.Tasks)),

		RepairCount:    repairs,
		LatestRepairID: latestRepair,
		EndTimeMs:      max(endMs, 0),
	}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		ts := deriveStatus(t.Status, t.State)
		out.Tasks = append(out.Tasks, TaskRun{
			TaskKey:    t.TaskKey,
			RunID:      int64(t.RunID),
			State:      ts.state,
			Result:     ts.result,
			RunPageURL: t.RunPageURL,
			DurationMs: t.durationMs(),
			Attempt:    int64(t.AttemptNumber),
		})
	}
	return out
}

// repairs counts the REPAIR items of the run's history and returns the last one's id and, when
// the history ends with a repair that has a state, that repair's status.
func (r *wireRun) repairs() (count int, latest int64, last *runStatus) {
	for _, h := range r.RepairHistory {
		if h.Type == string(jobs.RepairHistoryItemTypeRepair) {
			count++
			latest = int64(h.ID)
		}
	}
	if n := len(r.RepairHistory); n > 0 {
		h := r.RepairHistory[n-1]
		if h.Type == string(jobs.RepairHistoryItemTypeRepair) && (h.Status != nil || h.State != nil) {
			st := deriveStatus(h.Status, h.State)
			last = &st
		}
	}
	return count, latest, last
}

type runStatus struct {
	state, result, message string
	terminal, succeeded    bool
}

func deriveStatus(s *wireStatus, st *wireState) runStatus {
	var v2, lifeCycle, code, resultState, termMsg, queueMsg, stateMsg string
	if s != nil {
		v2 = s.State
		if td := s.TerminationDetails; td != nil {
			code, termMsg = td.Code, td.Message
		}
		if qd := s.QueueDetails; qd != nil {
			queueMsg = qd.Message
		}
	}
	if st != nil {
		lifeCycle, resultState, stateMsg = st.LifeCycleState, st.ResultState, st.StateMessage
	}

	var out runStatus
	switch {
	case v2 != "":
		out.state = v2
	case lifeCycle != "":
		out.state = lifeCycle
	default:
		out.state = StateUnknown
	}

	switch jobs.RunLifeCycleState(lifeCycle) {
	case jobs.RunLifeCycleStateTerminated, jobs.RunLifeCycleStateSkipped, jobs.RunLifeCycleStateInternalError:
		out.terminal = true
	}
	if jobs.RunLifecycleStateV2State(v2) == jobs.RunLifecycleStateV2StateTerminated {
		out.terminal = true
	}

	if out.terminal {
		switch {
		case code != "":
			out.result = code
		case resultState != "":
			out.result = resultState
		case lifeCycle == string(jobs.RunLifeCycleStateSkipped), lifeCycle == string(jobs.RunLifeCycleStateInternalError):
			out.result = lifeCycle
		}
	}
	out.succeeded = out.terminal && out.result == "SUCCESS"

	queued := out.state == string(jobs.RunLifecycleStateV2StateQueued)
	switch {
	case queued && queueMsg != "":
		out.message = queueMsg
	case out.terminal && termMsg != "":
		out.message = termMsg
	default:
		out.message = stateMsg
	}
	return out
}

func (w wireTimes) durationMs() int64 {
	if w.RunDuration > 0 {
		return int64(w.RunDuration)
	}
	if sum := w.SetupDuration + w.ExecutionDuration + w.CleanupDuration; sum > 0 {
		return int64(sum)
	}
	if w.StartTime > 0 && w.EndTime > w.StartTime {
		return int64(w.EndTime - w.StartTime)
	}
	return 0
}

func msToRFC3339(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func mapOutput(taskKey string, runID int64, o *wireOutput) TaskOutput {
	out := TaskOutput{TaskKey: taskKey, RunID: runID}
	if o == nil {
		return out
	}
	out.Error = trimMiddle(o.Error, MaxErrorTraceBytes)
	out.ErrorTrace = trimMiddle(o.ErrorTrace, MaxErrorTraceBytes)
	if nb := o.NotebookOutput; nb != nil {
		out.Result = nb.Result
		out.Truncated = nb.Truncated
	}
	return out
}

const omittedMarker = "\n[... flowbricks: %d bytes omitted ...]\n"

// trimMiddle cuts s to at most max bytes, keeping its head and tail (see
// MaxErrorTraceBytes). Hand-written because no maintained library does
// byte-bounded, UTF-8-safe head+tail elision.
func trimMiddle(s string, max int) string {
	if len(s) <= max {
		return s
	}
	// Reserve room for the marker with the largest count it could show.
	reserve := len(fmt.Sprintf(omittedMarker, len(s)))
	headBudget := min(errorTraceHeadBytes, max/4)
	head := utf8Prefix(s, headBudget)
	tailBudget := max - len(head) - reserve
	if tailBudget < 0 {
		tailBudget = 0
	}
	tail := utf8Suffix(s, tailBudget)
	return head + fmt.Sprintf(omittedMarker, len(s)-len(head)-len(tail)) + tail
}

// utf8Prefix returns the longest prefix of s of at most n bytes that does not
// split a character.
func utf8Prefix(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// utf8Suffix returns the longest suffix of s of at most n bytes that does not
// start inside a character.
func utf8Suffix(s string, n int) string {
	if n >= len(s) {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}
