package fakeworkspace

import (
	"fmt"
	"math"
	"sort"
)

// A run is fully determined by the fixture, its creation time, the scheduling decision (when it left
// the queue) and an optional cancellation, so every view of it is computed from the clock on demand:
// nothing advances in the background and an injected clock makes every state reachable without sleeping.

const never = int64(math.MaxInt64)

// Task outcomes decided when the run is created.
const (
	outcomeSuccess        = "SUCCESS"
	outcomeFailed         = "FAILED"
	outcomeUpstreamFailed = "UPSTREAM_FAILED"
)

type run struct {
	id      int64
	job     *job
	created int64 // epoch ms
	creator string
	params  runParams
	queue   bool // queueing enabled for this run

	// The plan: the selected tasks (indices into job.Tasks, job order) with their run ids, their RUNNING
	// window as offsets from the moment the run starts RUNNING, and their outcome.
	tasks      []int
	taskRunIDs []int64
	tStart     []int64
	tEnd       []int64
	outcome    []string
	skipAt     []int64 // UPSTREAM_FAILED tasks: offset at which the upstream failure is known
	runningDur int64
	failed     int // index into tasks of the failure that ends the run, -1 if none

	// Scheduling.
	started bool  // start is known
	start   int64 // leaves QUEUED, enters PENDING
	skipped bool  // max_concurrent_runs reached with queueing disabled: never ran

	canceled   bool
	cancelAt   int64
	canceledBy string

	// Repairs (runs_repair.go). A repair is an attempt: a run value of its own that shares the job run's
	// id and plans only the tasks it reruns; parent links it back to the job run, whose repairs lists
	// them oldest first. attemptNo is each planned task's attempt_number (nil = 0 for all), blocked the
	// job task indices outside the plan whose latest attempt did not succeed.
	parent    *run
	repairs   []*repair
	attemptNo []int
	blocked   map[int]bool
}

type runParams struct {
	JobParameters     map[string]string `json:"job_parameters,omitempty"`
	NotebookParams    map[string]string `json:"notebook_params,omitempty"`
	PythonParams      []string          `json:"python_params,omitempty"`
	PythonNamedParams map[string]string `json:"python_named_params,omitempty"`
	JarParams         []string          `json:"jar_params,omitempty"`
	SQLParams         map[string]string `json:"sql_params,omitempty"`
	SparkSubmitParams []string          `json:"spark_submit_params,omitempty"`
	DbtCommands       []string          `json:"dbt_commands,omitempty"`
}

// plan decides which tasks run, when (relative to the start of RUNNING) and how they end. Tasks run in
// dependency levels of the selected sub-graph that share the job's RunningMs equally; a dependency that
// was not selected (run-now "only") counts as satisfied, as in Databricks, unless it is in r.blocked (a
// repair that reruns a task but not its unsuccessful upstream task): then the task is UPSTREAM_FAILED as
// soon as the attempt starts running. Each task ends as its attempt number says (Task.FailAttempts).
func (r *run) plan(selected []int) {
	j := r.job
	sel := make(map[int]int, len(selected)) // job task index → position in r.tasks
	for k, i := range selected {
		sel[i] = k
	}
	r.tasks = selected
	n := len(selected)
	lvl := make([]int, n)
	// Levels within the selection; job.Tasks' levels give a topological order to walk in.
	order := append([]int(nil), selected...)
	sort.SliceStable(order, func(a, b int) bool { return j.levels[order[a]] < j.levels[order[b]] })
	nLevels := 0
	for _, i := range order {
		k := sel[i]
		for _, d := range j.Tasks[i].DependsOn {
			if dk, ok := sel[j.byKey[d]]; ok {
				lvl[k] = max(lvl[k], lvl[dk]+1)
			}
		}
		nLevels = max(nLevels, lvl[k]+1)
	}
	bound := func(l int) int64 { return int64(j.RunningMs) * int64(l) / int64(nLevels) }

	r.tStart, r.tEnd = make([]int64, n), make([]int64, n)
	r.outcome, r.skipAt = make([]string, n), make([]int64, n)
	r.failed = -1
	for _, i := range order {
		k := sel[i]
		skip := never
		for _, d := range j.Tasks[i].DependsOn {
			dk, ok := sel[j.byKey[d]]
			if !ok {
				if r.blocked[j.byKey[d]] {
					skip = 0
				}
				continue
			}
			switch r.outcome[dk] {
			case outcomeFailed:
				skip = min(skip, r.tEnd[dk])
			case outcomeUpstreamFailed:
				skip = min(skip, r.skipAt[dk])
			}
		}
		if skip != never {
			r.outcome[k], r.skipAt[k] = outcomeUpstreamFailed, skip
			r.tStart[k], r.tEnd[k] = -1, -1 // skip is some failed task's end, so runningDur already covers it
			continue
		}
		r.outcome[k] = j.Tasks[i].resultOn(r.attempt(k))
		r.tStart[k], r.tEnd[k] = bound(lvl[k]), bound(lvl[k]+1)
		r.runningDur = max(r.runningDur, r.tEnd[k])
		if r.outcome[k] == outcomeFailed && (r.failed < 0 || r.tEnd[k] < r.tEnd[r.failed] ||
			(r.tEnd[k] == r.tEnd[r.failed] && k < r.failed)) {
			r.failed = k
		}
	}
}

// attempt is the attempt_number of planned task k: 0 in the run's first attempt, one more in each repair
// that reruns the task.
func (r *run) attempt(k int) int {
	if r.attemptNo == nil {
		return 0
	}
	return r.attemptNo[k]
}

func (r *run) singleTask() bool { return len(r.job.Tasks) == 1 }

// Phase boundaries (epoch ms). Valid once started (or canceled).
func (r *run) runningAt() int64 { return r.start + int64(r.job.PendingMs) }
func (r *run) termStart() int64 {
	if r.canceled {
		return r.cancelAt
	}
	return r.runningAt() + r.runningDur
}
func (r *run) endAt() int64 {
	if r.skipped {
		return r.created
	}
	if !r.started && !r.canceled {
		return never
	}
	return r.termStart() + int64(r.job.TerminatingMs)
}

// lifecycle is the run's life_cycle_state at now.
func (r *run) lifecycle(now int64) string {
	switch {
	case r.skipped:
		return "SKIPPED"
	case r.canceled && now >= r.cancelAt:
		if now < r.endAt() {
			return "TERMINATING"
		}
		return "TERMINATED"
	case !r.started || now < r.start:
		return "QUEUED"
	case now < r.runningAt():
		return "PENDING"
	case now < r.termStart():
		return "RUNNING"
	case now < r.endAt():
		return "TERMINATING"
	}
	return "TERMINATED"
}

func isTerminal(lc string) bool {
	return lc == "TERMINATED" || lc == "SKIPPED" || lc == "INTERNAL_ERROR"
}

// cancelable: only runs that have not begun terminating can be canceled; anything else is a no-op.
func cancelable(lc string) bool {
	return lc == "QUEUED" || lc == "PENDING" || lc == "RUNNING" || lc == "BLOCKED"
}

// ---- scheduling (max_concurrent_runs) ----

// admit places a new run: unlimited jobs start after their queued phase; limited jobs join the FIFO.
// Called with Server.mu held.
func (j *job) admit(r *run, now int64) {
	if j.MaxConcurrentRuns == 0 {
		r.started, r.start = true, r.created+int64(j.QueuedMs)
		return
	}
	j.schedule(now)
	if !r.queue && (len(j.waiting) > 0 || j.activeAt(now) >= j.MaxConcurrentRuns) {
		r.skipped = true
		return
	}
	j.waiting = append(j.waiting, r)
	j.schedule(now)
}

// schedule gives waiting runs their start time, in FIFO order, for every slot that became free at or
// before now. A start is only fixed once it is in the past, because a later cancellation may free a slot
// earlier. Called with Server.mu held.
func (j *job) schedule(now int64) {
	for len(j.waiting) > 0 {
		head := j.waiting[0]
		ready := head.created + int64(j.QueuedMs)
		j.prune(ready)
		t := j.firstFreeSlot(ready)
		if t > now {
			return
		}
		head.started, head.start = true, t
		j.waiting = j.waiting[1:]
		j.slots = append(j.slots, head)
	}
	j.prune(now)
}

// activeAt counts runs holding a slot at t.
func (j *job) activeAt(t int64) int {
	n := 0
	for _, s := range j.slots {
		if s.start <= t && t < s.endAt() {
			n++
		}
	}
	return n
}

// firstFreeSlot is the earliest t >= from at which fewer than MaxConcurrentRuns runs hold a slot.
func (j *job) firstFreeSlot(from int64) int64 {
	candidates := []int64{from}
	for _, s := range j.slots {
		if e := s.endAt(); e > from && e != never {
			candidates = append(candidates, e)
		}
	}
	sort.Slice(candidates, func(a, b int) bool { return candidates[a] < candidates[b] })
	for _, t := range candidates {
		if j.activeAt(t) < j.MaxConcurrentRuns {
			return t
		}
	}
	return never // unreachable: after the last end no slot is held
}

// prune drops slot holders that ended at or before t: they cannot affect any start at or after t.
func (j *job) prune(t int64) {
	kept := j.slots[:0]
	for _, s := range j.slots {
		if s.endAt() > t {
			kept = append(kept, s)
		}
	}
	clear(j.slots[len(kept):])
	j.slots = kept
}

// cancel cancels r at now if it has not begun terminating; it reports whether anything changed.
// Called with Server.mu held.
func (r *run) cancel(now int64, by string) bool {
	j := r.job
	j.schedule(now)
	if !cancelable(r.lifecycle(now)) {
		return false
	}
	r.canceled, r.cancelAt, r.canceledBy = true, now, by
	if !r.started {
		for i, w := range j.waiting {
			if w == r {
				j.waiting = append(j.waiting[:i], j.waiting[i+1:]...)
				break
			}
		}
	}
	j.schedule(now)
	return true
}

// ---- views ----

type stateJSON struct {
	LifeCycleState          string `json:"life_cycle_state"`
	ResultState             string `json:"result_state,omitempty"`
	StateMessage            string `json:"state_message"`
	UserCancelledOrTimedout bool   `json:"user_cancelled_or_timedout"`
	QueueReason             string `json:"queue_reason,omitempty"`
}

type terminationJSON struct {
	Code    string `json:"code"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

type queueDetailsJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type statusJSON struct {
	State              string            `json:"state"`
	TerminationDetails *terminationJSON  `json:"termination_details,omitempty"`
	QueueDetails       *queueDetailsJSON `json:"queue_details,omitempty"`
}

type taskDepJSON struct {
	TaskKey string `json:"task_key"`
}

type notebookTaskJSON struct {
	NotebookPath string `json:"notebook_path"`
	Source       string `json:"source"`
}

type taskRunJSON struct {
	RunID             int64             `json:"run_id"`
	TaskKey           string            `json:"task_key"`
	DependsOn         []taskDepJSON     `json:"depends_on,omitempty"`
	RunIf             string            `json:"run_if"`
	NotebookTask      *notebookTaskJSON `json:"notebook_task,omitempty"`
	State             stateJSON         `json:"state"`
	Status            statusJSON        `json:"status"`
	RunPageURL        string            `json:"run_page_url"`
	StartTime         int64             `json:"start_time"`
	SetupDuration     int64             `json:"setup_duration"`
	ExecutionDuration int64             `json:"execution_duration"`
	CleanupDuration   int64             `json:"cleanup_duration"`
	EndTime           int64             `json:"end_time"`
	RunDuration       int64             `json:"run_duration"`
	AttemptNumber     int               `json:"attempt_number"`
}

type jobParamJSON struct {
	Name    string `json:"name"`
	Default string `json:"default,omitempty"`
	Value   string `json:"value,omitempty"`
}

type overridingJSON struct {
	NotebookParams    map[string]string `json:"notebook_params,omitempty"`
	PythonParams      []string          `json:"python_params,omitempty"`
	PythonNamedParams map[string]string `json:"python_named_params,omitempty"`
	JarParams         []string          `json:"jar_params,omitempty"`
	SQLParams         map[string]string `json:"sql_params,omitempty"`
	SparkSubmitParams []string          `json:"spark_submit_params,omitempty"`
	DbtCommands       []string          `json:"dbt_commands,omitempty"`
}

type runJSON struct {
	JobID                int64           `json:"job_id"`
	RunID                int64           `json:"run_id"`
	JobRunID             int64           `json:"job_run_id,omitempty"`
	CreatorUserName      string          `json:"creator_user_name,omitempty"`
	NumberInJob          int64           `json:"number_in_job"`
	OriginalAttemptRunID int64           `json:"original_attempt_run_id"`
	State                stateJSON       `json:"state"`
	Status               statusJSON      `json:"status"`
	Tasks                []taskRunJSON   `json:"tasks,omitempty"`
	JobParameters        []jobParamJSON  `json:"job_parameters,omitempty"`
	OverridingParameters *overridingJSON `json:"overriding_parameters,omitempty"`
	StartTime            int64           `json:"start_time"`
	SetupDuration        int64           `json:"setup_duration"`
	ExecutionDuration    int64           `json:"execution_duration"`
	CleanupDuration      int64           `json:"cleanup_duration"`
	EndTime              int64           `json:"end_time"`
	RunDuration          int64           `json:"run_duration"`
	QueueDuration        int64           `json:"queue_duration,omitempty"`
	Trigger              string          `json:"trigger"`
	RunName              string          `json:"run_name"`
	RunPageURL           string          `json:"run_page_url"`
	RunType              string          `json:"run_type"`
	AttemptNumber        int             `json:"attempt_number"`
	// RepairHistory is only sent by runs/get with include_history=true (runs_repair.go).
	RepairHistory []repairHistoryJSON `json:"repair_history,omitempty"`
}

// clampSpan is how much of [from, to) has elapsed at now.
func clampSpan(from, to, now int64) int64 {
	if now <= from {
		return 0
	}
	return min(now, to) - from
}

// taskView is the state of selected task k at now.
type taskView struct {
	lifecycle, result, message string
	start, end, setup, exec    int64
	termination                *terminationJSON
}

func (r *run) taskState(k int, now int64) taskView {
	j := r.job
	cut := never
	if r.canceled {
		cut = r.cancelAt
	}
	canceledView := func(result string, at int64) taskView {
		msg := "Run was cancelled."
		if result == "UPSTREAM_CANCELED" {
			msg = "Upstream task(s) were cancelled."
		}
		return taskView{lifecycle: "TERMINATED", result: result, message: msg, end: at,
			termination: &terminationJSON{Code: "USER_CANCELED", Type: "SUCCESS", Message: msg}}
	}
	if r.skipped {
		return taskView{lifecycle: "SKIPPED", message: skippedMessage(j), end: r.created,
			termination: &terminationJSON{Code: "MAX_CONCURRENT_RUNS_EXCEEDED", Type: "CLIENT_ERROR", Message: skippedMessage(j)}}
	}
	if !r.started || cut <= r.start || now < r.start {
		if now >= cut {
			return canceledView("CANCELED", cut)
		}
		return taskView{lifecycle: "QUEUED"}
	}
	r0 := r.runningAt()
	pendingOrBlocked := func() taskView {
		if now < r0 {
			return taskView{lifecycle: "PENDING", message: "Waiting for cluster", start: r.start, setup: now - r.start}
		}
		return taskView{lifecycle: "BLOCKED", message: "Waiting for upstream tasks"}
	}
	if r.outcome[k] == outcomeUpstreamFailed {
		at := r0 + r.skipAt[k]
		switch {
		case at <= cut && now >= at:
			msg := "Upstream task(s) failed."
			return taskView{lifecycle: "TERMINATED", result: outcomeUpstreamFailed, message: msg, end: at,
				termination: &terminationJSON{Code: "SKIPPED", Type: "CLIENT_ERROR", Message: msg}}
		case now >= cut:
			return canceledView("UPSTREAM_CANCELED", cut)
		}
		return pendingOrBlocked()
	}
	start, end := r0+r.tStart[k], r0+r.tEnd[k]
	// Level-0 tasks start with the cluster (setup = PENDING); later tasks when their level starts.
	taskStart, setup := start, int64(0)
	if r.tStart[k] == 0 {
		taskStart, setup = r.start, int64(j.PendingMs)
	}
	switch {
	case end <= cut && now >= end:
		v := taskView{lifecycle: "TERMINATED", result: r.outcome[k], start: taskStart, end: end, setup: setup, exec: end - start}
		if r.outcome[k] == outcomeFailed {
			v.message = workloadFailed
			v.termination = &terminationJSON{Code: "RUN_EXECUTION_ERROR", Type: "CLIENT_ERROR", Message: workloadFailed}
		} else {
			v.termination = &terminationJSON{Code: "SUCCESS", Type: "SUCCESS"}
		}
		return v
	case now >= cut:
		if cut >= start {
			v := canceledView("CANCELED", cut)
			v.start, v.setup, v.exec = taskStart, setup, cut-start
			return v
		}
		if r.tStart[k] == 0 {
			v := canceledView("CANCELED", cut)
			v.start, v.setup = taskStart, cut-taskStart
			return v
		}
		return canceledView("UPSTREAM_CANCELED", cut)
	case now >= start:
		return taskView{lifecycle: "RUNNING", message: "In run", start: taskStart, setup: setup, exec: now - start}
	}
	return pendingOrBlocked()
}

func skippedMessage(j *job) string {
	return fmt.Sprintf("Skipping this run because the limit of %d maximum concurrent runs has been reached.", j.MaxConcurrentRuns)
}

func statusOf(lc string) string {
	if lc == "SKIPPED" {
		return "TERMINATED"
	}
	return lc
}

func (s *Server) taskRunJSON(r *run, k int, now int64, base string) taskRunJSON {
	j := r.job
	t := j.Tasks[r.tasks[k]]
	v := r.taskState(k, now)
	out := taskRunJSON{
		RunID:        r.taskRunIDs[k],
		TaskKey:      t.TaskKey,
		RunIf:        "ALL_SUCCESS",
		NotebookTask: &notebookTaskJSON{NotebookPath: notebookPath(j, t), Source: "WORKSPACE"},
		State: stateJSON{
			LifeCycleState:          v.lifecycle,
			StateMessage:            v.message,
			UserCancelledOrTimedout: v.result == "CANCELED" || v.result == "UPSTREAM_CANCELED",
		},
		Status:            statusJSON{State: statusOf(v.lifecycle)},
		RunPageURL:        s.runPageURL(base, j.JobID, r.taskRunIDs[k]),
		StartTime:         v.start,
		SetupDuration:     v.setup,
		ExecutionDuration: v.exec,
		EndTime:           v.end,
		AttemptNumber:     r.attempt(k),
	}
	for _, d := range t.DependsOn {
		out.DependsOn = append(out.DependsOn, taskDepJSON{TaskKey: d})
	}
	if isTerminal(v.lifecycle) {
		out.State.ResultState = v.result
	}
	if isTerminal(v.lifecycle) || v.lifecycle == "TERMINATING" {
		out.Status.TerminationDetails = v.termination
	}
	if v.start > 0 {
		end := v.end
		if end == 0 {
			end = now
		}
		out.RunDuration = end - v.start
	}
	return out
}

func notebookPath(j *job, t Task) string {
	owner := j.Creator
	if owner == "" {
		return fmt.Sprintf("/Workspace/Shared/%s/%s", j.Name, t.TaskKey)
	}
	return fmt.Sprintf("/Workspace/Users/%s/%s/%s", owner, j.Name, t.TaskKey)
}

// runJSON renders the job run at now.
func (s *Server) runJSON(r *run, now int64, base string) runJSON {
	j := r.job
	lc := r.lifecycle(now)
	out := runJSON{
		JobID:                j.JobID,
		RunID:                r.id,
		CreatorUserName:      r.creator,
		NumberInJob:          r.id,
		OriginalAttemptRunID: r.id,
		State:                stateJSON{LifeCycleState: lc},
		Status:               statusJSON{State: statusOf(lc)},
		StartTime:            r.created,
		Trigger:              "ONE_TIME",
		RunName:              j.Name,
		RunPageURL:           s.runPageURL(base, j.JobID, r.id),
		RunType:              "JOB_RUN",
		JobParameters:        jobParameters(j, r.params.JobParameters),
	}
	if r.singleTask() {
		out.JobRunID = r.id
	}
	if o := r.params.overriding(); o != nil {
		out.OverridingParameters = o
	}
	for k := range r.tasks {
		out.Tasks = append(out.Tasks, s.taskRunJSON(r, k, now, base))
	}

	// Queue.
	if r.started {
		out.QueueDuration = min(r.start, r.termStart()) - r.created
	} else if !r.skipped {
		out.QueueDuration = min(now, r.endAt()) - r.created
		if r.canceled {
			out.QueueDuration = r.cancelAt - r.created
		}
	}
	if out.QueueDuration < 0 {
		out.QueueDuration = 0
	}
	if lc == "QUEUED" {
		qd := &queueDetailsJSON{Code: "ACTIVE_RUNS_LIMIT_REACHED",
			Message: "The run is queued because the workspace has reached its limit of concurrently active runs."}
		if j.MaxConcurrentRuns > 0 && !r.started && j.activeAt(now) >= j.MaxConcurrentRuns {
			qd = &queueDetailsJSON{Code: "MAX_CONCURRENT_RUNS_REACHED",
				Message: fmt.Sprintf("The run is queued because the job has reached its limit of %d concurrent runs.", j.MaxConcurrentRuns)}
		}
		out.Status.QueueDetails = qd
		out.State.StateMessage = qd.Message
		out.State.QueueReason = qd.Message
	}

	// Durations: per phase for single-task runs, 0 for multi-task runs (run_duration carries the total).
	if r.started && !r.skipped {
		ts, end := r.termStart(), r.endAt()
		if r.singleTask() {
			out.SetupDuration = clampSpan(r.start, min(r.runningAt(), ts), now)
			out.ExecutionDuration = clampSpan(r.runningAt(), ts, now)
			out.CleanupDuration = clampSpan(ts, end, now)
		}
	}
	if isTerminal(lc) {
		out.EndTime = r.endAt()
	}
	if out.EndTime > 0 {
		out.RunDuration = out.EndTime - r.created
	} else {
		out.RunDuration = now - r.created
	}

	// Result and termination.
	term := r.termination()
	switch lc {
	case "RUNNING":
		out.State.StateMessage = "In run"
	case "PENDING":
		out.State.StateMessage = "Waiting for cluster"
	case "TERMINATING", "TERMINATED", "SKIPPED":
		out.State.StateMessage = term.Message
		out.Status.TerminationDetails = &term
		out.State.UserCancelledOrTimedout = r.canceled
		if isTerminal(lc) {
			out.State.ResultState = r.resultState()
		}
	}
	if len(r.repairs) > 0 {
		s.repairedView(&out, r, now, base)
	}
	return out
}

func (r *run) resultState() string {
	switch {
	case r.skipped:
		return "MAXIMUM_CONCURRENT_RUNS_REACHED"
	case r.canceled:
		return "CANCELED"
	case r.failed >= 0:
		return "FAILED"
	}
	return "SUCCESS"
}

func (r *run) termination() terminationJSON {
	j := r.job
	switch {
	case r.skipped:
		return terminationJSON{Code: "MAX_CONCURRENT_RUNS_EXCEEDED", Type: "CLIENT_ERROR", Message: skippedMessage(j)}
	case r.canceled:
		return terminationJSON{Code: "USER_CANCELED", Type: "SUCCESS",
			Message: fmt.Sprintf("Run was cancelled by %s.", r.canceledBy)}
	case r.failed >= 0:
		skipped := false
		for k := range r.tasks {
			skipped = skipped || r.outcome[k] == outcomeUpstreamFailed
		}
		return failedTermination(j.Tasks[r.tasks[r.failed]].TaskKey, skipped)
	}
	return terminationJSON{Code: "SUCCESS", Type: "SUCCESS", Message: ""}
}

// failedTermination is the termination of a run that taskKey failed. Like Databricks, the run only says
// which task failed; the error itself is in that task's get-output.
func failedTermination(taskKey string, downstreamSkipped bool) terminationJSON {
	msg := fmt.Sprintf("Task %s failed with message: %s.", taskKey, workloadFailed)
	if downstreamSkipped {
		msg += " This caused all downstream tasks to get skipped."
	}
	return terminationJSON{Code: "RUN_EXECUTION_ERROR", Type: "CLIENT_ERROR", Message: msg}
}

// workloadFailed is Databricks' state message for a task whose code failed.
const workloadFailed = "Workload failed, see run output for details"

// taskMetadataJSON renders task run k as the Run object get-output returns in "metadata" (and runs/get
// answers for a task run id).
func (s *Server) taskMetadataJSON(r *run, k int, now int64, base string) runJSON {
	t := s.taskRunJSON(r, k, now, base)
	out := runJSON{
		JobID:                r.job.JobID,
		RunID:                t.RunID,
		JobRunID:             r.id,
		CreatorUserName:      r.creator,
		NumberInJob:          t.RunID,
		OriginalAttemptRunID: t.RunID,
		State:                t.State,
		Status:               t.Status,
		Tasks:                []taskRunJSON{t},
		JobParameters:        jobParameters(r.job, r.params.JobParameters),
		OverridingParameters: r.params.overriding(),
		StartTime:            t.StartTime,
		SetupDuration:        t.SetupDuration,
		ExecutionDuration:    t.ExecutionDuration,
		EndTime:              t.EndTime,
		RunDuration:          t.RunDuration,
		Trigger:              "ONE_TIME",
		RunName:              r.job.Name,
		RunPageURL:           t.RunPageURL,
		RunType:              "JOB_RUN",
	}
	return out
}

func (p runParams) overriding() *overridingJSON {
	o := overridingJSON{
		NotebookParams: p.NotebookParams, PythonParams: p.PythonParams, PythonNamedParams: p.PythonNamedParams,
		JarParams: p.JarParams, SQLParams: p.SQLParams, SparkSubmitParams: p.SparkSubmitParams, DbtCommands: p.DbtCommands,
	}
	if len(o.NotebookParams) == 0 && len(o.PythonParams) == 0 && len(o.PythonNamedParams) == 0 && len(o.JarParams) == 0 &&
		len(o.SQLParams) == 0 && len(o.SparkSubmitParams) == 0 && len(o.DbtCommands) == 0 {
		return nil
	}
	return &o
}

// jobParameters merges the job's parameter definitions with run-now's overrides, sorted by name.
func jobParameters(j *job, overrides map[string]string) []jobParamJSON {
	names := map[string]bool{}
	for n := range j.Parameters {
		names[n] = true
	}
	for n := range overrides {
		names[n] = true
	}
	if len(names) == 0 {
		return nil
	}
	out := make([]jobParamJSON, 0, len(names))
	for n := range names {
		p := jobParamJSON{Name: n, Default: j.Parameters[n], Value: j.Parameters[n]}
		if v, ok := overrides[n]; ok {
			p.Value = v
		}
		out = append(out, p)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}
