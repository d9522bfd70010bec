package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/redact"
)

// runStatus is the answer of run-now, get-run and cancel: the flat run status (docs/architecture.md, Run status),
// plus the outputs when asked for.
type runStatus struct {
	databricks.Run
	Output *runOutput `json:"output,omitempty"`
}

// failedRun is the 424 body of a terminal, unsuccessful run in wait mode: the same run status
// with the problem fields a flow's "Configure run after" branch can test.
type failedRun struct {
	runStatus
	failure
}

// runOutput is what the tasks of a run produced.
type runOutput struct {
	// Result is the notebook exit value of a single-task run ("" for multi-task runs: see Tasks).
	Result     string          `json:"result" doc:"The notebook exit value of a single-task run; empty for multi-task runs (see tasks)."`
	ResultJSON json.RawMessage `json:"result_json,omitempty" doc:"The result parsed, when it is a JSON object or array."`
	Tasks      []taskOutput    `json:"tasks" doc:"The output of each task run."`
	// Truncated is true when any task's result is not complete: cut by Databricks (5 MB) or by
	// flowbricks' bound on the outputs of one run (databricks.MaxRunOutputBytes).
	Truncated bool `json:"truncated" doc:"True when a task's result is incomplete (see the tasks' truncated)."`
}

type taskOutput struct {
	databricks.TaskOutput
	// ResultJSON is Result parsed, when the notebook exited with JSON.
	ResultJSON json.RawMessage `json:"result_json,omitempty" doc:"The result parsed, when it is a JSON object or array."`
}

// problemHandler is an HTTP handler that answers an error by returning it: ServeHTTP turns it
// into a problem document in one place, so no handler can forget to stop after writing one.
type problemHandler func(w http.ResponseWriter, r *http.Request) error

func (h problemHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		writeProblem(w, r, err)
	}
}

type jobSummary struct {
	JobID int64  `json:"job_id" doc:"The job's id."`
	Name  string `json:"name" doc:"The job's name."`
}

func (s *server) handleRunNow() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[runNowRequest](r)
		if err != nil {
			return err
		}
		// All of the asynchronous pattern's parameters are checked now, although only the polls
		// use include_output and fail_on_run_failure: a bad one found on the first poll would fail
		// the flow's step while the run it started goes on unobserved.
		opts, err := parseWaitOptions(r)
		if err != nil {
			return err
		}
		jobs, err := s.workspace(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		jobID, err := s.resolveJob(r, jobs, req)
		if err != nil {
			return err
		}
		idem, err := idempotencyFor(r, principalFrom(ctx), jobID, req)
		if err != nil {
			return err
		}
		runID, err := jobs.RunNow(ctx, req.upstream(jobID, idem.upstream))
		if err != nil {
			return err
		}
		run, err := s.readBackRun(r, jobs, jobID, runID, idem)
		if err != nil {
			return err
		}
		run.IdempotencyToken = idem.shown
		if !opts.wait {
			respond(w, r, http.StatusOK, runStatus{Run: run})
			return nil
		}
		poll, err := s.waitLocation(r, runID, 0)
		if err != nil {
			return fmt.Errorf("run %d was triggered, but its Location cannot be built: %w", runID, err)
		}
		s.accepted(w, r, poll, runStatus{Run: run})
		return nil
	}
}

// waitLocation is where the platform polls a run that a request started (or repaired: repairID)
// until it is over: its GetRun with wait=true and the request's own wait options.
func (s *server) waitLocation(r *http.Request, runID, repairID int64) (string, error) {
	poll, err := s.pathOf("GetRun", map[string]string{"run_id": strconv.FormatInt(runID, 10)})
	if err != nil {
		return "", err
	}
	q := url.Values{"wait": {"true"}}
	for _, name := range []string{"include_output", "fail_on_run_failure", "workspace"} {
		if v := r.URL.Query().Get(name); v != "" {
			q.Set(name, v)
		}
	}
	if repairID > 0 {
		q.Set("repair_id", strconv.FormatInt(repairID, 10))
	}
	return poll + "?" + q.Encode(), nil
}

// readBackRun reads the run run-now answered with and makes sure it is a run of the requested
// job: Databricks answers an idempotency token it has seen with that token's run, whatever job
// the request names, and a run of another job — possibly one outside FLOWBRICKS_JOBS — must not
// be handed out or audited as this one (docs/connector.md, "Idempotency keys"). The audit line
// names the run's own job.
func (s *server) readBackRun(r *http.Request, jobs Jobs, jobID, runID int64, idem idempotency) (databricks.Run, error) {
	audit := func(job int64) *zerolog.Event {
		ev := s.audit(r, "run-now", job, runID).Str("idempotency_token", idem.upstream)
		if idem.key != "" {
			ev = ev.Str("idempotency_key", redact.Label(idem.key))
		}
		return ev
	}
	run, err := jobs.GetRun(r.Context(), runID)
	if err != nil {
		// The run exists (new, or the token's earlier one) but its job is unknown.
		audit(jobID).Bool("job_verified", false).Msg("run triggered")
		if idem.fresh {
			// A fresh random token cannot have named an earlier run: this is the new run of
			// jobID, and its id must not be lost because reading it back failed.
			hlog.FromRequest(r).Warn().Err(err).Int64("run_id", runID).Msg("reading the new run failed")
			return databricks.Run{RunID: runID, JobID: jobID, State: databricks.StateUnknown, Tasks: []databricks.TaskRun{},
				Message: "The run was triggered; its status could not be read yet."}, nil
		}
		// A key or workflow token may name an earlier run of any job. The retry the caller
		// makes sends the same token, gets the same run and reads it then.
		return databricks.Run{}, fmt.Errorf("reading back run %d: %w", runID, err)
	}
	if run.JobID != jobID {
		hlog.FromRequest(r).Warn().Int64("run_id", runID).Int64("run_job_id", run.JobID).Int64("job_id", jobID).
			Msg("run-now answered with a run of another job")
		p := newProblem(http.StatusConflict, "idempotency_conflict",
			"The idempotency key already belongs to a run of another job; send a new key (or none) to run this job.")
		p.cause = fmt.Errorf("run %d of job %d came back for job %d", runID, run.JobID, jobID)
		return databricks.Run{}, p
	}
	audit(run.JobID).Msg("run triggered")
	return run, nil
}

func (s *server) handleGetRun() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		runID, err := runIDParam(r)
		if err != nil {
			return err
		}
		opts, err := parseWaitOptions(r)
		if err != nil {
			return err
		}
		status, err := s.runStatus(r, runID, opts.includeOutput)
		if err != nil {
			return err
		}
		switch {
		case !opts.wait:
			respond(w, r, http.StatusOK, status)
		case !status.Terminal || status.LatestRepairID < opts.repairID:
			s.accepted(w, r, r.URL.RequestURI(), status)
		case status.Succeeded || !opts.failOnRunFailure:
			respond(w, r, http.StatusOK, status)
		default:
			respond(w, r, http.StatusFailedDependency, failedRun{runStatus: status, failure: failedDependency(r, "run_failed",
				fmt.Sprintf("Run %d of job %d ended with %s. %s", status.RunID, status.JobID, orDefault(status.Result, status.State), status.Message))})
		}
		return nil
	}
}

// waitOptions are the query parameters of the asynchronous pattern (docs/architecture.md, The 202 pattern).
type waitOptions struct {
	wait             bool // answer 202 + Location until the run is terminal
	includeOutput    bool // add the outputs to the answer of a terminal run
	failOnRunFailure bool // a terminal, unsuccessful run answers 424 (default) instead of 200
	// repairID, in the Location a repair answers with, keeps the wait going until the run's
	// history shows that repair: until then the run may still show the attempt before it.
	repairID int64
}

func parseWaitOptions(r *http.Request) (waitOptions, error) {
	var o waitOptions
	var err error
	if o.wait, err = boolQuery(r, "wait", false); err != nil {
		return o, err
	}
	if o.includeOutput, err = boolQuery(r, "include_output", false); err != nil {
		return o, err
	}
	if o.failOnRunFailure, err = boolQuery(r, "fail_on_run_failure", true); err != nil {
		return o, err
	}
	if raw := r.URL.Query().Get("repair_id"); raw != "" {
		if o.repairID, err = strconv.ParseInt(raw, 10, 64); err != nil || o.repairID <= 0 {
			return o, invalidRequest("Query parameter repair_id must be a positive integer.")
		}
	}
	return o, nil
}

func (s *server) handleGetRunOutput() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		runID, err := runIDParam(r)
		if err != nil {
			return err
		}
		status, err := s.runStatus(r, runID, true)
		if err != nil {
			return err
		}
		if status.Output == nil {
			status.Output = &runOutput{Tasks: []taskOutput{}}
		}
		respond(w, r, http.StatusOK, status.Output)
		return nil
	}
}

func (s *server) handleCancelRun() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		runID, err := runIDParam(r)
		if err != nil {
			return err
		}
		jobs, err := s.workspace(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		// Read first: the job allow-list must apply, and a run that does not exist is a 404.
		run, err := jobs.GetRun(ctx, runID)
		if err == nil {
			err = s.allowJob(run.JobID)
		}
		if err == nil {
			err = jobs.CancelRun(ctx, runID)
		}
		if err != nil {
			return err
		}
		s.audit(r, "cancel", run.JobID, runID).Msg("run cancel requested")
		if after, err := jobs.GetRun(ctx, runID); err == nil {
			run = after
		}
		respond(w, r, http.StatusOK, runStatus{Run: run})
		return nil
	}
}

func (s *server) handleListJobs() problemHandler {
	// Without ?limit the answer is every job the caller can see: the connector's job dropdown
	// (x-ms-dynamic-values) sends no limit, and a job missing from it cannot be picked. maxLimit
	// bounds what one request may cost upstream (10 jobs/list pages of 100).
	const maxLimit = 1000
	return func(w http.ResponseWriter, r *http.Request) error {
		limit := maxLimit
		if raw := r.URL.Query().Get("limit"); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 1 || n > maxLimit {
				return invalidRequest("Query parameter limit must be an integer from 1 to %d.", maxLimit)
			}
			limit = n
		}
		jobs, err := s.workspace(r)
		if err != nil {
			return err
		}
		found, err := jobs.ListJobs(r.Context(), strings.TrimSpace(r.URL.Query().Get("name")), limit)
		if err != nil {
			return err
		}
		out := make([]jobSummary, 0, len(found))
		for _, j := range found {
			if s.allowJob(j.JobID) == nil {
				out = append(out, jobSummary{JobID: j.JobID, Name: j.Name})
			}
		}
		respond(w, r, http.StatusOK, out)
		return nil
	}
}

func (s *server) handleHealth() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		respond(w, r, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// runStatus reads a run (and its outputs when asked and the run is over).
func (s *server) runStatus(r *http.Request, runID int64, includeOutput bool) (runStatus, error) {
	jobs, err := s.workspace(r)
	if err != nil {
		return runStatus{}, err
	}
	run, err := jobs.GetRun(r.Context(), runID)
	if err == nil {
		err = s.allowJob(run.JobID)
	}
	if err != nil {
		return runStatus{}, err
	}
	status := runStatus{Run: run}
	if includeOutput && run.Terminal {
		outputs, err := jobs.RunOutputs(r.Context(), run)
		if err != nil {
			return runStatus{}, err
		}
		status.Output = newRunOutput(outputs)
	}
	return status, nil
}

func newRunOutput(outputs []databricks.TaskOutput) *runOutput {
	out := &runOutput{Tasks: make([]taskOutput, 0, len(outputs))}
	for _, o := range outputs {
		out.Tasks = append(out.Tasks, taskOutput{TaskOutput: o, ResultJSON: asJSON(o.Result)})
		out.Truncated = out.Truncated || o.Truncated
	}
	if len(outputs) == 1 {
		// The same string and the same parsed bytes as the task's: a result of megabytes is
		// held once, however often the answer repeats it.
		out.Result = out.Tasks[0].Result
		out.ResultJSON = out.Tasks[0].ResultJSON
	}
	return out
}

// asJSON returns s as raw JSON when it is a JSON object or array, else nil (omitted). Scalars
// stay in the string field: a notebook that exits with "42" means the string "42".
func asJSON(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	return nil
}

// accepted answers 202 with the Location to poll and how long to wait before polling. Location
// is absolute when the public URL is configured, else relative (RFC 9110, section 10.2.2, allows
// it; Logic Apps wants an absolute one, which Azure always gets through WEBSITE_HOSTNAME).
func (s *server) accepted(w http.ResponseWriter, r *http.Request, pathAndQuery string, body any) {
	s.located(w, r, http.StatusAccepted, pathAndQuery, s.Config.PollInterval, body)
}

// located answers status with the Location the platform calls next and how long it waits first:
// a 202 of the asynchronous pattern, or any answer of a polling trigger.
func (s *server) located(w http.ResponseWriter, r *http.Request, status int, pathAndQuery string, retryAfter time.Duration, body any) {
	w.Header().Set("Location", s.publicBase()+pathAndQuery)
	w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
	respond(w, r, status, body)
}

// publicBase is the scheme and host flows reach flowbricks at, from configuration only, or "".
// It is never taken from the request: Host (or a forwarding header) is whatever the client sent,
// and a 202's Location or the OpenAPI host built from it would send the flow — and the token it
// polls with — to a host of the client's choosing.
func (s *server) publicBase() string { return s.Config.PublicBase() }

// workspace picks the Databricks workspace a request names (?workspace=), "default" if none.
// Only configured workspaces exist: a host is never taken from the request.
func (s *server) workspace(r *http.Request) (Workspace, error) {
	name := workspaceName(r)
	jobs, ok := s.Workspaces[name]
	if !ok {
		// The configured names are for the operator's log, not for whoever guesses: they tell
		// a caller which other workspaces exist.
		names := make([]string, 0, len(s.Workspaces))
		for n := range s.Workspaces {
			names = append(names, n)
		}
		slices.Sort(names)
		p := invalidRequest("Workspace %q is not configured; ask an administrator for the workspace names of FLOWBRICKS_WORKSPACES.", redact.Value(name))
		p.cause = fmt.Errorf("configured workspaces: %s", strings.Join(names, ", "))
		return nil, p
	}
	return jobs, nil
}

// workspaceName is the workspace a request names, "default" if none.
func workspaceName(r *http.Request) string {
	if name := r.URL.Query().Get("workspace"); name != "" {
		return name
	}
	return "default"
}

// resolveJob returns the job id a run-now names, looking a name up with the Jobs API's exact
// (case-insensitive) name filter.
func (s *server) resolveJob(r *http.Request, jobs Jobs, req runNowRequest) (int64, error) {
	if req.JobID != nil {
		return *req.JobID, s.allowJob(*req.JobID)
	}
	found, err := jobs.ListJobs(r.Context(), req.JobName, 100)
	if err != nil {
		return 0, err
	}
	var ids []string
	var id int64
	for _, j := range found {
		if strings.EqualFold(j.Name, req.JobName) && s.allowJob(j.JobID) == nil {
			id = j.JobID
			ids = append(ids, strconv.FormatInt(j.JobID, 10))
		}
	}
	switch len(ids) {
	case 0:
		return 0, newProblem(http.StatusNotFound, "job_not_found",
			fmt.Sprintf("No job named %q is visible to the caller (names match exactly, ignoring case).", req.JobName))
	case 1:
		return id, nil
	}
	return 0, newProblem(http.StatusConflict, "ambiguous_job_name",
		fmt.Sprintf("%d jobs are named %q (job ids %s); send job_id instead.", len(ids), req.JobName, strings.Join(ids, ", ")))
}

// allowJob applies the optional job allow-list (FLOWBRICKS_JOBS).
func (s *server) allowJob(jobID int64) error {
	if len(s.Config.Jobs) == 0 || slices.Contains(s.Config.Jobs, jobID) {
		return nil
	}
	return newProblem(http.StatusForbidden, "job_not_allowed",
		fmt.Sprintf("Job %d is not exposed through flowbricks; an administrator lists allowed jobs in FLOWBRICKS_JOBS.", jobID))
}
