package fakeworkspace

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
)

// POST /api/2.2/jobs/runs/repair and the repair history of runs/get, as the Jobs API 2.2 reference
// ("Repair", docs.databricks.com/api/jobs/v2/repair) and databricks-sdk-go v0.175.0 (service/jobs
// RepairRun, RepairRunResponse, RepairHistoryItem, GetRunRequest.IncludeHistory) describe them: "Re-run
// one or more tasks. Tasks are re-run as part of the original job run. They use the current job and task
// settings, and can be viewed in the history for the original job run."
//
// A repair is an attempt: a run value with the job run's id that plans only the tasks it reruns and
// starts at once (the cluster starts again: PENDING, then RUNNING). Its task runs get new run ids and
// attempt numbers. The job run's state, result, end time and tasks follow its latest attempt; the job
// run keeps its start time. Simplification: a repair does not queue and does not take a slot of
// max_concurrent_runs.

// repair is one accepted runs/repair of a job run.
type repair struct {
	id int64
	a  *run // the attempt
}

type repairRequest struct {
	RunID               int64    `json:"run_id"`
	LatestRepairID      int64    `json:"latest_repair_id"`
	RerunTasks          []string `json:"rerun_tasks"`
	RerunAllFailedTasks bool     `json:"rerun_all_failed_tasks"`
	RerunDependentTasks bool     `json:"rerun_dependent_tasks"`
	// The parameters of the repair attempt: what a field sets replaces the run's value, what it leaves
	// out keeps it. job_parameters override one name at a time, as in run-now.
	runParams
}

type repairResponse struct {
	RepairID int64 `json:"repair_id"`
}

// repairHistoryJSON is RepairHistoryItem: the original attempt first ("the repair history starts with the
// original record", astronomer/astronomer-cosmos #163, checked against the API), then each repair.
type repairHistoryJSON struct {
	Type       string     `json:"type"`
	ID         int64      `json:"id,omitempty"` // "Only returned for the items that represent a repair"
	StartTime  int64      `json:"start_time"`
	EndTime    int64      `json:"end_time,omitempty"`
	State      stateJSON  `json:"state"`
	Status     statusJSON `json:"status"`
	TaskRunIDs []int64    `json:"task_run_ids"`
}

func (s *Server) runsRepair(c *call) {
	var req repairRequest
	if !c.decodeBody(&req) {
		return
	}
	s.mu.Lock()
	id, refuse := s.repair(c, req)
	s.mu.Unlock()
	if refuse != nil {
		refuse()
		return
	}
	writeJSON(c.w, http.StatusOK, repairResponse{RepairID: id})
}

// repair checks req against the run and, when it is acceptable, starts the repair attempt. refuse answers
// the error instead; call it without s.mu held. Called with s.mu held.
func (s *Server) repair(c *call, req repairRequest) (id int64, refuse func()) {
	bad := func(format string, args ...any) func() { return func() { c.badRequest(format, args...) } }
	r, ok := s.runs[req.RunID]
	if !ok {
		if t, isTask := s.taskRuns[req.RunID]; isTask {
			// Our wording: the reference only says run_id is "The job run ID of the run to repair".
			return 0, bad("Run %d is a task run. Repair its job run %d instead.", req.RunID, t.run.id)
		}
		return 0, bad("Run %d does not exist.", req.RunID)
	}
	j := r.job
	if s.rank(j, c.p) < permRank[CanManageRun] {
		// Repairing reruns tasks, which takes what run-now takes ("Can Manage Run" in the job ACL).
		return 0, func() { c.deniedRun(j.JobID) }
	}
	now := s.now().UnixMilli()
	j.schedule(now)
	cur := r.current()
	if lc := cur.lifecycle(now); !isTerminal(lc) {
		// "The run must not be in progress." The code and wording are ours; the service's are not
		// documented.
		return 0, func() {
			writeAPIError(c.w, http.StatusBadRequest, "INVALID_STATE",
				fmt.Sprintf("Run %d is in the %s state and cannot be repaired until it has terminated.", r.id, lc), nil)
		}
	}
	latest := r.latestRepairID()
	switch {
	case latest != 0 && req.LatestRepairID == 0:
		// The service's words (databricks-sdk-py #157 quotes them): "This parameter is not required when
		// repairing a run for the first time, but must be provided on subsequent requests to repair the
		// same run."
		return 0, bad("The latest repair ID needs to be provided in order to create a new repair")
	case req.LatestRepairID != latest:
		// The guard that keeps two repairs computed from the same history from both starting. The
		// service's wording for it is not documented; ours names both ids. A latest_repair_id on a run
		// never repaired is refused the same way.
		return 0, bad("The provided latest repair ID %d is not the latest repair ID of run %d; the latest is %d.",
			req.LatestRepairID, r.id, latest)
	}
	switch {
	case len(req.RerunTasks) > 0 && req.RerunAllFailedTasks:
		return 0, bad("Only one of rerun_tasks or rerun_all_failed_tasks can be used.") // the reference's words
	case len(req.RerunTasks) == 0 && !req.RerunAllFailedTasks:
		return 0, bad("Either rerun_tasks or rerun_all_failed_tasks must be specified.") // our words
	}
	if msg := req.problem(); msg != "" { // RepairRun documents run-now's limits on each parameter
		return 0, bad("%s", msg)
	}

	latestTasks := r.latestTasks(len(r.repairs))
	succeeded := func(i int) bool {
		ref := latestTasks[i]
		return ref.run.taskState(ref.k, now).result == outcomeSuccess
	}
	rerun := map[int]bool{}
	for _, key := range req.RerunTasks {
		i, ok := j.byKey[key]
		if _, inRun := latestTasks[i]; !ok || !inRun {
			return 0, bad("Task key '%s' in 'rerun_tasks' does not exist in run %d.", key, r.id) // our words
		}
		if rerun[i] {
			// The service's words, quoted from a live workspace in apache/airflow #69998.
			return 0, bad("rerun_tasks cannot contain duplicate task keys.")
		}
		rerun[i] = true
	}
	if req.RerunAllFailedTasks {
		// Every task of the run that did not succeed in its latest attempt: failed, skipped because an
		// upstream task failed, or canceled (the reference: "If true, repair all failed tasks").
		for _, i := range r.tasks {
			if !succeeded(i) {
				rerun[i] = true
			}
		}
	}
	if req.RerunDependentTasks {
		// "repair all tasks that depend on the tasks in rerun_tasks, even if they were previously
		// successful. Can be also used in combination with rerun_all_failed_tasks."
		for changed := true; changed; {
			changed = false
			for _, i := range r.tasks {
				for _, d := range j.Tasks[i].DependsOn {
					if di := j.byKey[d]; rerun[di] && !rerun[i] {
						rerun[i], changed = true, true
					}
				}
			}
		}
	}
	if len(rerun) == 0 {
		// rerun_all_failed_tasks on a run that succeeded. Our words: the service's are not documented.
		return 0, bad("Run %d has no failed tasks to repair.", r.id)
	}

	a := &run{
		id: r.id, job: j, created: now, creator: c.name, parent: r,
		params:  cur.params.with(req.runParams),
		started: true, start: now, // a repair neither queues nor takes a slot (see above)
		blocked: map[int]bool{},
	}
	var selected []int
	for _, i := range r.tasks { // job order
		if rerun[i] {
			selected = append(selected, i)
			a.attemptNo = append(a.attemptNo, latestTasks[i].run.attempt(latestTasks[i].k)+1)
		} else if !succeeded(i) {
			a.blocked[i] = true
		}
	}
	a.plan(selected)
	id = s.nextRunID
	a.taskRunIDs = make([]int64, len(a.tasks))
	for k := range a.tasks {
		a.taskRunIDs[k] = id + 1 + int64(k)
		s.taskRuns[a.taskRunIDs[k]] = taskRef{run: a, k: k}
	}
	s.nextRunID += 1 + int64(len(a.tasks))
	r.repairs = append(r.repairs, &repair{id: id, a: a})
	s.stats.RepairsCreated++
	return id, nil
}

// with is p with the parameters a repair sets.
func (p runParams) with(o runParams) runParams {
	if o.JobParameters != nil {
		m := maps.Clone(p.JobParameters)
		if m == nil {
			m = make(map[string]string, len(o.JobParameters))
		}
		maps.Copy(m, o.JobParameters)
		p.JobParameters = m
	}
	p.NotebookParams = orMap(o.NotebookParams, p.NotebookParams)
	p.PythonNamedParams = orMap(o.PythonNamedParams, p.PythonNamedParams)
	p.SQLParams = orMap(o.SQLParams, p.SQLParams)
	p.PythonParams = orList(o.PythonParams, p.PythonParams)
	p.JarParams = orList(o.JarParams, p.JarParams)
	p.SparkSubmitParams = orList(o.SparkSubmitParams, p.SparkSubmitParams)
	p.DbtCommands = orList(o.DbtCommands, p.DbtCommands)
	return p
}

// orMap and orList are set when it was sent (not nil), else old.
func orMap(set, old map[string]string) map[string]string {
	if set != nil {
		return set
	}
	return old
}

func orList(set, old []string) []string {
	if set != nil {
		return set
	}
	return old
}

// attempts are the job run's original attempt and its repairs, oldest first.
func (r *run) attempts() []*run {
	out := []*run{r}
	for _, rp := range r.repairs {
		out = append(out, rp.a)
	}
	return out
}

// current is the latest attempt: the one the job run's state follows.
func (r *run) current() *run {
	if n := len(r.repairs); n > 0 {
		return r.repairs[n-1].a
	}
	return r
}

func (r *run) latestRepairID() int64 {
	if n := len(r.repairs); n > 0 {
		return r.repairs[n-1].id
	}
	return 0
}

// latestTasks maps each task of the run (job task index) to its latest task run among attempts 0…upTo.
func (r *run) latestTasks(upTo int) map[int]taskRef {
	m := make(map[int]taskRef, len(r.tasks))
	for _, a := range r.attempts()[:upTo+1] {
		for k, i := range a.tasks {
			m[i] = taskRef{run: a, k: k}
		}
	}
	return m
}

// outcomeThrough is the job run's result and termination once attempt i (0 = the original) has ended:
// its own if it was skipped or canceled, else what the latest run of every task says. A task that still
// failed after attempt i fails the run, even if attempt i did not rerun it.
func (r *run) outcomeThrough(i int, now int64) (string, terminationJSON) {
	a := r.attempts()[i]
	if a.skipped || a.canceled {
		return a.resultState(), a.termination()
	}
	latest := r.latestTasks(i)
	failedKey, skipped, canceled := "", false, false
	for _, ti := range r.tasks {
		ref := latest[ti]
		switch ref.run.taskState(ref.k, now).result {
		case outcomeFailed:
			if failedKey == "" {
				failedKey = r.job.Tasks[ti].TaskKey
			}
		case outcomeUpstreamFailed:
			skipped = true
		case "CANCELED", "UPSTREAM_CANCELED":
			canceled = true
		}
	}
	switch {
	case a.failed >= 0:
		return "FAILED", failedTermination(r.job.Tasks[a.tasks[a.failed]].TaskKey, skipped)
	case failedKey != "":
		return "FAILED", failedTermination(failedKey, skipped)
	case skipped: // rerun below an upstream task that was canceled and not rerun
		msg := "Upstream task(s) failed."
		return "FAILED", terminationJSON{Code: "RUN_EXECUTION_ERROR", Type: "CLIENT_ERROR", Message: msg}
	case canceled: // tasks of a canceled attempt that no repair reran
		return "CANCELED", terminationJSON{Code: "USER_CANCELED", Type: "SUCCESS", Message: "Run was cancelled."}
	}
	return "SUCCESS", terminationJSON{Code: "SUCCESS", Type: "SUCCESS", Message: ""}
}

// repairedView makes out, the view of the original attempt of r, the view of the repaired job run: state,
// result and end time of the latest attempt, the task runs of every attempt, the latest parameters.
func (s *Server) repairedView(out *runJSON, r *run, now int64, base string) {
	cur := r.current()
	out.State, out.Status, out.EndTime = r.attemptState(len(r.repairs), now)
	out.JobParameters = jobParameters(r.job, cur.params.JobParameters)
	out.OverridingParameters = cur.params.overriding()
	// Every attempt's task runs, oldest first: the service lists one entry per attempt and keeps them
	// across repairs (apache/airflow #69998 and #72313, checked against a live workspace); attempt_number
	// tells them apart.
	for _, rp := range r.repairs {
		for k := range rp.a.tasks {
			out.Tasks = append(out.Tasks, s.taskRunJSON(rp.a, k, now, base))
		}
	}
	if r.singleTask() {
		ts, end := cur.termStart(), cur.endAt()
		out.SetupDuration = clampSpan(cur.start, min(cur.runningAt(), ts), now)
		out.ExecutionDuration = clampSpan(cur.runningAt(), ts, now)
		out.CleanupDuration = clampSpan(ts, end, now)
	}
	out.RunDuration = now - r.created
	if out.EndTime > 0 {
		out.RunDuration = out.EndTime - r.created
	}
}

// repairHistory is runs/get's repair_history (include_history=true): each attempt with its times, state
// and task runs; an attempt's result is the job run's result once that attempt ended.
func (s *Server) repairHistory(r *run, now int64) []repairHistoryJSON {
	var out []repairHistoryJSON
	for i, a := range r.attempts() {
		item := repairHistoryJSON{Type: "ORIGINAL", StartTime: a.created, TaskRunIDs: slices.Clone(a.taskRunIDs)}
		if i > 0 {
			item.Type, item.ID = "REPAIR", r.repairs[i-1].id
		}
		item.State, item.Status, item.EndTime = r.attemptState(i, now)
		out = append(out, item)
	}
	return out
}

// attemptState is the job run's state, status and end time (0 until it ends) during and after attempt i.
func (r *run) attemptState(i int, now int64) (stateJSON, statusJSON, int64) {
	a := r.attempts()[i]
	lc := a.lifecycle(now)
	state, status, end := stateJSON{LifeCycleState: lc}, statusJSON{State: statusOf(lc)}, int64(0)
	switch lc {
	case "PENDING":
		state.StateMessage = "Waiting for cluster"
	case "RUNNING":
		state.StateMessage = "In run"
	case "TERMINATING", "TERMINATED", "SKIPPED":
		result, term := r.outcomeThrough(i, now)
		state.StateMessage = term.Message
		status.TerminationDetails = &term
		state.UserCancelledOrTimedout = a.canceled
		if isTerminal(lc) {
			state.ResultState, end = result, a.endAt()
		}
	}
	return state, status, end
}
