package api

// "Repair a failed run" (docs/connector.md, "Repair a failed run"): reruns the failed tasks of a
// run that is over (or the named ones) through runs/repair, and answers like run-now.
//
// Databricks has no idempotency token for repairs. What stops a retried request from repairing
// twice:
//   - on this instance, the retry memory (retrymemory.go): the same caller, run, body and
//     Idempotency-Key or workflow action get the repair the first request started;
//   - across instances, Databricks' latest_repair_id, which flowbricks always sends from the
//     history it read: of two repairs computed from the same history only the first starts. When
//     a request that carries a retry key is refused that way and the run has a newer repair, that
//     repair is the first attempt's (or another's that does the same work): the answer is the run
//     status, not an error.
//
// What remains possible: a retry that reaches another instance after the first repair ended
// reads a history that already holds it and, if tasks failed again, repairs again; one that
// arrives while the first repair runs is answered 409 run_not_terminal.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/zerolog/hlog"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/redact"
)

// Limits of a repair body checked before any upstream call: a job has at most 1,000 tasks, a task
// key at most 100 characters (Jobs API 2.2 reference).
const (
	maxRerunTasks = 1000
	maxTaskKey    = 100
)

// repairRequest is the body of POST /api/jobs/runs/{run_id}/repair; every field is optional.
type repairRequest struct {
	RerunTasks          []string          `json:"rerun_tasks,omitempty" summary:"Tasks to Rerun" visibility:"advanced" doc:"Task keys to run again. Without them every failed task runs again (and the tasks that did not run because of them)."`
	RerunDependentTasks bool              `json:"rerun_dependent_tasks,omitempty" summary:"Rerun Dependent Tasks" visibility:"advanced" doc:"Also rerun the tasks that depend on the rerun ones, even those that succeeded."`
	JobParameters       map[string]string `json:"job_parameters,omitempty" summary:"Job Parameters" visibility:"advanced" doc:"Job-level parameters (name → value) for the repaired tasks; without them the run's own apply."`
}

func (q repairRequest) validate() error {
	if len(q.RerunTasks) > maxRerunTasks {
		return invalidRequest("Field rerun_tasks lists %d tasks; a job has at most %d.", len(q.RerunTasks), maxRerunTasks)
	}
	seen := make(map[string]bool, len(q.RerunTasks))
	for i, key := range q.RerunTasks {
		switch {
		case key == "":
			return invalidRequest("Field rerun_tasks[%d] is empty; list task keys.", i)
		case len(key) > maxTaskKey:
			return invalidRequest("Field rerun_tasks[%d] is longer than %d characters.", i, maxTaskKey)
		case seen[key]:
			return invalidRequest("Task %q is listed twice in rerun_tasks.", redact.Value(key))
		}
		seen[key] = true
	}
	if q.JobParameters != nil {
		if b, _ := json.Marshal(q.JobParameters); len(b) > maxParamJSONBytes {
			return invalidRequest("Field job_parameters is %d bytes as JSON; Databricks allows at most %d.", len(b), maxParamJSONBytes)
		}
		if _, empty := q.JobParameters[""]; empty {
			return invalidRequest("Field job_parameters has an empty parameter name.")
		}
	}
	return nil
}

// decodeRepair reads the optional body: none at all (Content-Length 0) means every failed task.
func decodeRepair(r *http.Request) (repairRequest, error) {
	if r.ContentLength == 0 {
		return repairRequest{}, nil
	}
	return decode[repairRequest](r)
}

func (s *server) handleRepairRun() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		runID, err := runIDParam(r)
		if err != nil {
			return err
		}
		opts, err := parseWaitOptions(r)
		if err != nil {
			return err
		}
		req, err := decodeRepair(r)
		if err != nil {
			return err
		}
		jobs, err := s.workspace(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		// Read first: the job allow-list applies, and the history gives latest_repair_id.
		run, err := jobs.GetRun(ctx, runID)
		if err == nil {
			err = s.allowJob(run.JobID)
		}
		if err != nil {
			return err
		}
		canonical, _ := json.Marshal(req) // struct fields in order, map keys sorted: deterministic
		key, err := retryKeyFor(r, "rp", workspaceName(r), strconv.FormatInt(runID, 10), string(canonical))
		if err != nil {
			return err
		}
		repairID, replayed := int64(0), false
		if key.token != "" {
			id, finish, err := s.repairs.claim(ctx, key.token)
			if err != nil {
				return requestInProgress(err)
			}
			if id != 0 {
				hlog.FromRequest(r).Info().Int64("run_id", runID).Int64("repair_id", id).Msg("a retried request: answering from the repair it started")
				repairID, replayed = id, true
			} else {
				defer func() { finish(repairID) }() // also on a panic: the key must not stay in flight
			}
		}
		if !replayed {
			if repairID, replayed, err = s.repair(r, jobs, run, req, key); err != nil {
				return err
			}
		}
		ev := s.audit(r, "repair", run.JobID, runID).Int64("repair_id", repairID).Bool("replayed", replayed).
			Int("rerun_tasks", len(req.RerunTasks))
		if key.label != "" {
			ev = ev.Str("idempotency_key", key.label)
		}
		ev.Msg("run repair requested")

		after, err := jobs.GetRun(ctx, runID)
		if err != nil {
			// The repair exists; its id must not be lost because reading the run failed.
			hlog.FromRequest(r).Warn().Err(err).Int64("run_id", runID).Msg("reading the repaired run failed")
			after = databricks.Run{RunID: runID, JobID: run.JobID, RunName: run.RunName, RunPageURL: run.RunPageURL,
				State: databricks.StateUnknown, Tasks: []databricks.TaskRun{}, LatestRepairID: repairID,
				Message: "The repair was started; the run's status could not be read yet."}
		}
		if !opts.wait {
			respond(w, r, http.StatusOK, runStatus{Run: after})
			return nil
		}
		poll, err := s.waitLocation(r, runID, repairID)
		if err != nil {
			return fmt.Errorf("run %d was repaired (repair %d), but its Location cannot be built: %w", runID, repairID, err)
		}
		s.accepted(w, r, poll, runStatus{Run: after})
		return nil
	}
}

// repair checks that run can be repaired as req asks and asks Databricks to. replayed is true
// when Databricks refused it because the run was repaired meanwhile and the request carries a
// retry key: repairID is then that newer repair.
func (s *server) repair(r *http.Request, jobs Jobs, run databricks.Run, req repairRequest, key retryKey) (repairID int64, replayed bool, err error) {
	if !run.Terminal {
		return 0, false, newProblem(http.StatusConflict, "run_not_terminal",
			fmt.Sprintf("Run %d is %s: only a run that is over can be repaired. Wait for it to end (\"Get the status of a run\" with wait).", run.RunID, run.State))
	}
	up := databricks.RepairRequest{RunID: run.RunID, LatestRepairID: run.LatestRepairID,
		RerunDependentTasks: req.RerunDependentTasks, JobParameters: req.JobParameters}
	if len(req.RerunTasks) > 0 {
		if err := tasksOfRun(run, req.RerunTasks); err != nil {
			return 0, false, err
		}
		up.RerunTasks = req.RerunTasks
	} else {
		if !hasFailedTask(run) {
			return 0, false, newProblem(http.StatusConflict, "nothing_to_repair",
				fmt.Sprintf("Run %d ended with %s and has no failed task to rerun; name the tasks to rerun in rerun_tasks.", run.RunID, orDefault(run.Result, run.State)))
		}
		up.RerunAllFailedTasks = true
	}
	ctx := r.Context()
	repairID, err = jobs.RepairRun(ctx, up)
	switch {
	case err == nil:
		return repairID, false, nil
	case errors.Is(err, databricks.ErrRepairConflict) && key.token != "":
		// Databricks refused the repair because the run was repaired after flowbricks read it:
		// with a retry key, that is this request's earlier attempt on another instance.
		if now, gerr := jobs.GetRun(ctx, run.RunID); gerr == nil && now.LatestRepairID > run.LatestRepairID {
			hlog.FromRequest(r).Info().Int64("run_id", run.RunID).Int64("repair_id", now.LatestRepairID).
				Msg("a retried request: the run was repaired meanwhile, answering with that repair")
			return now.LatestRepairID, true, nil
		}
	case errors.Is(err, databricks.ErrUnavailable) || errors.Is(err, databricks.ErrUpstream):
		// The outcome is unknown: Databricks may have started the repair and its answer was lost
		// (a reset connection, a gateway timeout). A run repaired since flowbricks read it is
		// then this repair; answering with it keeps the flow from failing on its retry, which
		// would find the run running again and get 409 run_not_terminal (docs/connector.md,
		// "Repair a failed run").
		if now, gerr := jobs.GetRun(ctx, run.RunID); gerr == nil && now.LatestRepairID > run.LatestRepairID {
			hlog.FromRequest(r).Warn().AnErr("repair_error", err).Int64("run_id", run.RunID).Int64("repair_id", now.LatestRepairID).
				Msg("the repair's answer was lost, but the run has a new repair: answering with it")
			return now.LatestRepairID, false, nil
		}
	}
	return 0, false, err
}

// tasksOfRun checks that every key names a task of run, so a typo is a 400 that lists the tasks
// rather than Databricks' refusal.
func tasksOfRun(run databricks.Run, keys []string) error {
	latest := latestAttempts(run)
	for _, k := range keys {
		if _, ok := latest[k]; !ok {
			have := slices.Sorted(maps.Keys(latest))
			return invalidRequest("Run %d has no task %q; its tasks are: %s.", run.RunID, redact.Value(k), strings.Join(have, ", "))
		}
	}
	return nil
}

// succeededTask are the task results a repair of "every failed task" leaves alone: success, and
// tasks excluded, skipped or disabled by the job's own settings.
var succeededTask = []string{"SUCCESS", "EXCLUDED", "SKIPPED", "DISABLED"}

// hasFailedTask says whether a repair of every failed task has anything to rerun: a task whose
// latest attempt ended otherwise than succeededTask (failed, timed out, canceled, or not run
// because an upstream task failed), or, for a run without tasks, the run's own unsuccessful end.
func hasFailedTask(run databricks.Run) bool {
	if len(run.Tasks) == 0 {
		return !run.Succeeded
	}
	for _, t := range latestAttempts(run) {
		if t.Result != "" && !slices.Contains(succeededTask, t.Result) {
			return true
		}
	}
	return false
}

// latestAttempts is each task of run by its key, as its latest attempt left it. A run lists one
// task run per attempt (Databricks' retries and every repair): a task that failed and was
// repaired is listed failed and succeeded, and only the highest attempt_number says how it
// stands (the last one listed among equals).
func latestAttempts(run databricks.Run) map[string]databricks.TaskRun {
	latest := make(map[string]databricks.TaskRun, len(run.Tasks))
	for _, t := range run.Tasks {
		if prev, ok := latest[t.TaskKey]; !ok || t.Attempt >= prev.Attempt {
			latest[t.TaskKey] = t
		}
	}
	return latest
}
