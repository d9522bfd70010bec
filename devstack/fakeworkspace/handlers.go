package fakeworkspace

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// call is one authenticated API request.
type call struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	p     Principal
	name  string // UPN or application id, as the token says
	reqID string
}

func (c *call) badRequest(format string, args ...any) {
	writeAPIError(c.w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", fmt.Sprintf(format, args...), nil)
}

func (c *call) malformed(err error) {
	writeAPIError(c.w, http.StatusBadRequest, "MALFORMED_REQUEST",
		"Invalid JSON given in the body of the request - "+jsonProblem(err), nil)
}

// jsonProblem describes a JSON decoding error without echoing request content.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The run parameters are top-level JSON fields of run-now and repair; Go names them through the
		// embedded runParams.
		return fmt.Sprintf("expected %s for field '%s'", te.Type, strings.TrimPrefix(te.Field, "runParams."))
	}
	return "failed to parse the request body"
}

// denied answers 403 PERMISSION_DENIED with a RequestInfo detail, as Databricks does.
func (c *call) denied(msg string) {
	c.s.mu.Lock()
	c.s.stats.Forbidden++
	c.s.mu.Unlock()
	writeAPIError(c.w, http.StatusForbidden, "PERMISSION_DENIED", msg, []any{requestInfo{
		Type: "type.googleapis.com/google.rpc.RequestInfo", RequestID: c.reqID, ServingData: "",
	}})
}

func (c *call) deniedRun(jobID int64) {
	c.denied(fmt.Sprintf("User %s does not have Manage Run or Owner or Admin permissions on job %d", c.name, jobID))
}

func (c *call) deniedView(jobID int64) {
	c.denied(fmt.Sprintf("User %s does not have Admin or Manage Run or Owner or View permissions on job %d", c.name, jobID))
}

func (c *call) decodeBody(v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		c.malformed(err)
		return false
	}
	return true
}

func (c *call) queryInt(name string) (int64, bool) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		c.badRequest("Invalid value for parameter %s: '%s' is not a valid integer.", name, v)
		return 0, false
	}
	return n, true
}

// ---- run-now ----

type runNowRequest struct {
	JobID            int64  `json:"job_id"`
	IdempotencyToken string `json:"idempotency_token"`
	runParams
	Only  []string `json:"only"`
	Queue *struct {
		Enabled bool `json:"enabled"`
	} `json:"queue"`
}

type runNowResponse struct {
	RunID       int64 `json:"run_id"`
	NumberInJob int64 `json:"number_in_job"`
}

func (s *Server) runNow(c *call) {
	var req runNowRequest
	if !c.decodeBody(&req) {
		return
	}
	if len(req.IdempotencyToken) > maxIdemTokenLen {
		c.badRequest("Idempotency token exceeds the maximum length of %d characters.", maxIdemTokenLen)
		return
	}
	j := s.jobByID[req.JobID]
	if j == nil {
		c.badRequest("Job %d does not exist.", req.JobID)
		return
	}
	if s.rank(j, c.p) < permRank[CanManageRun] {
		c.deniedRun(j.JobID)
		return
	}
	if msg := req.problem(); msg != "" {
		c.badRequest("%s", msg)
		return
	}
	selected, bad := j.selectTasks(req.Only)
	if bad != "" {
		c.badRequest("Task key '%s' in 'only' does not exist in job %d.", bad, j.JobID)
		return
	}

	s.mu.Lock()
	// The token is remembered for the whole workspace, not per caller or job: Databricks
	// documents no narrower scope ("If a run with the provided token already exists, the
	// request does not create a new run but returns the ID of the existing run instead",
	// RunNow.IdempotencyToken in databricks-sdk-go service/jobs/model.go and the Jobs API
	// reference), so the fake takes the strictest reading. A client that reuses a token
	// across users or jobs gets someone else's run here, as it may in production.
	key := req.IdempotencyToken
	if key != "" {
		if existing, ok := s.idem[key]; ok {
			s.stats.IdempotentReplays++
			s.mu.Unlock()
			writeJSON(c.w, http.StatusOK, runNowResponse{RunID: existing.id, NumberInJob: existing.id})
			return
		}
	}
	now := s.now().UnixMilli()
	r := &run{
		id:      s.nextRunID,
		job:     j,
		created: now,
		creator: c.name,
		queue:   req.Queue == nil || req.Queue.Enabled, // Jobs API 2.2 queues by default
		params:  req.runParams,
	}
	r.plan(selected)
	r.taskRunIDs = make([]int64, len(r.tasks))
	for k := range r.tasks {
		r.taskRunIDs[k] = r.id + 1 + int64(k)
		s.taskRuns[r.taskRunIDs[k]] = taskRef{run: r, k: k}
	}
	s.nextRunID += 1 + int64(len(r.tasks))
	s.runs[r.id] = r
	if key != "" {
		s.idem[key] = r
	}
	j.admit(r, now)
	s.stats.RunsCreated++
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, runNowResponse{RunID: r.id, NumberInJob: r.id})
}

// problem says what Databricks refuses in run parameters (run-now's and repair's), "" when nothing.
func (p runParams) problem() string {
	if len(p.NotebookParams) > 0 && len(p.JarParams) > 0 {
		return "notebook_params cannot be specified in conjunction with jar_params."
	}
	for _, f := range []struct {
		name string
		v    any
	}{
		{"job_parameters", p.JobParameters}, {"notebook_params", p.NotebookParams},
		{"python_params", p.PythonParams}, {"python_named_params", p.PythonNamedParams},
		{"jar_params", p.JarParams}, {"sql_params", p.SQLParams},
		{"spark_submit_params", p.SparkSubmitParams},
	} {
		if b, _ := json.Marshal(f.v); len(b) > maxParamBytes {
			return fmt.Sprintf("The size of %s exceeds the limit of %d bytes.", f.name, maxParamBytes)
		}
	}
	for _, list := range [][]string{p.PythonParams, p.SparkSubmitParams} {
		for _, v := range list {
			if !isASCII(v) {
				return "python_params and spark_submit_params must contain only ASCII characters."
			}
		}
	}
	return ""
}

func isASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return false
		}
	}
	return true
}

// selectTasks resolves run-now's "only" (key, +key = with upstream, key+ = with downstream, +key+ = both)
// to task indices in job order; all tasks when only is empty. bad names the first unknown key.
func (j *job) selectTasks(only []string) (selected []int, bad string) {
	if len(only) == 0 {
		for i := range j.Tasks {
			selected = append(selected, i)
		}
		return selected, ""
	}
	down := map[int][]int{}
	for i, t := range j.Tasks {
		for _, d := range t.DependsOn {
			down[j.byKey[d]] = append(down[j.byKey[d]], i)
		}
	}
	pick := map[int]bool{}
	var walk func(i int, next func(int) []int)
	walk = func(i int, next func(int) []int) {
		for _, n := range next(i) {
			if !pick[n] {
				pick[n] = true
				walk(n, next)
			}
		}
	}
	up := func(i int) []int {
		var out []int
		for _, d := range j.Tasks[i].DependsOn {
			out = append(out, j.byKey[d])
		}
		return out
	}
	for _, o := range only {
		key := strings.TrimSuffix(strings.TrimPrefix(o, "+"), "+")
		i, ok := j.byKey[key]
		if !ok {
			return nil, key
		}
		pick[i] = true
		if strings.HasPrefix(o, "+") {
			walk(i, up)
		}
		if strings.HasSuffix(o, "+") && len(o) > 1 {
			walk(i, func(i int) []int { return down[i] })
		}
	}
	for i := range j.Tasks {
		if pick[i] {
			selected = append(selected, i)
		}
	}
	return selected, ""
}

// ---- runs/get, runs/get-output, runs/cancel ----

// lookupRun finds a job run or task run id; k is -1 for a job run. Called with s.mu held.
func (s *Server) lookupRun(id int64) (r *run, k int, ok bool) {
	if r, ok := s.runs[id]; ok {
		return r, -1, true
	}
	if t, ok := s.taskRuns[id]; ok {
		return t.run, t.k, true
	}
	return nil, 0, false
}

func (s *Server) runsGet(c *call) {
	id, ok := c.queryInt("run_id")
	if !ok {
		return
	}
	history, ok := c.queryBool("include_history") // "Whether to include the repair history in the response."
	if !ok {
		return
	}
	base := s.baseURL(c.r)
	s.mu.Lock()
	r, k, found := s.lookupRun(id)
	if !found {
		s.mu.Unlock()
		c.badRequest("Run %d does not exist.", id)
		return
	}
	if s.rank(r.job, c.p) < permRank[CanView] {
		s.mu.Unlock()
		c.deniedView(r.job.JobID)
		return
	}
	now := s.now().UnixMilli()
	r.job.schedule(now)
	var out runJSON
	if k < 0 {
		out = s.runJSON(r, now, base)
		if history {
			out.RepairHistory = s.repairHistory(r, now)
		}
	} else {
		out = s.taskMetadataJSON(r, k, now, base)
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

type notebookOutputJSON struct {
	Result    string `json:"result,omitempty"`
	Truncated bool   `json:"truncated"`
}

type runOutputJSON struct {
	NotebookOutput *notebookOutputJSON `json:"notebook_output,omitempty"`
	Error          string              `json:"error,omitempty"`
	ErrorTrace     string              `json:"error_trace,omitempty"`
	Metadata       runJSON             `json:"metadata"`
}

func (s *Server) runsGetOutput(c *call) {
	id, ok := c.queryInt("run_id")
	if !ok {
		return
	}
	base := s.baseURL(c.r)
	s.mu.Lock()
	r, k, found := s.lookupRun(id)
	if !found {
		s.mu.Unlock()
		c.badRequest("Run %d does not exist.", id)
		return
	}
	if s.rank(r.job, c.p) < permRank[CanView] {
		s.mu.Unlock()
		c.deniedView(r.job.JobID)
		return
	}
	if k < 0 {
		// Jobs API 2.1+ treats every job as multi-task: the output of a job run id is refused even for a
		// single-task job (see databricks-sdk-py #375, Airflow #25427); only task run ids work.
		s.mu.Unlock()
		c.badRequest("Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.")
		return
	}
	now := s.now().UnixMilli()
	r.job.schedule(now)
	out := runOutputJSON{Metadata: s.taskMetadataJSON(r, k, now, base)}
	v := r.taskState(k, now)
	t := r.job.Tasks[r.tasks[k]]
	if isTerminal(v.lifecycle) {
		switch v.result {
		case outcomeSuccess:
			if t.NotebookOutput != "" {
				res, truncated := t.NotebookOutput, false
				if len(res) > maxNotebookBytes {
					res, truncated = res[:maxNotebookBytes], true
				}
				out.NotebookOutput = &notebookOutputJSON{Result: res, Truncated: truncated}
			}
		case outcomeFailed:
			out.Error, out.ErrorTrace = t.Error, t.ErrorTrace
			if out.Error == "" {
				out.Error = workloadFailed
			}
		}
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

func (s *Server) runsCancel(c *call) {
	var req struct {
		RunID int64 `json:"run_id"`
	}
	if !c.decodeBody(&req) {
		return
	}
	s.mu.Lock()
	r, _, found := s.lookupRun(req.RunID)
	if !found {
		s.mu.Unlock()
		c.badRequest("Run %d does not exist.", req.RunID)
		return
	}
	if s.rank(r.job, c.p) < permRank[CanManageRun] {
		s.mu.Unlock()
		c.deniedRun(r.job.JobID)
		return
	}
	if r.parent != nil { // a task run of a repair
		r = r.parent
	}
	// The run's latest attempt is the one that can still be active; one that is already terminating or
	// done: no-op.
	r.current().cancel(s.now().UnixMilli(), c.name)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, struct{}{})
}

// ---- jobs/list, jobs/get ----

type jobTaskJSON struct {
	TaskKey            string            `json:"task_key"`
	DependsOn          []taskDepJSON     `json:"depends_on,omitempty"`
	RunIf              string            `json:"run_if"`
	NotebookTask       *notebookTaskJSON `json:"notebook_task"`
	TimeoutSeconds     int               `json:"timeout_seconds"`
	EmailNotifications struct{}          `json:"email_notifications"`
}

type jobParamDefJSON struct {
	Name    string `json:"name"`
	Default string `json:"default"`
}

type runAsJSON struct {
	UserName             string `json:"user_name,omitempty"`
	ServicePrincipalName string `json:"service_principal_name,omitempty"`
}

type settingsJSON struct {
	Name                 string            `json:"name"`
	EmailNotifications   struct{}          `json:"email_notifications"`
	WebhookNotifications struct{}          `json:"webhook_notifications"`
	TimeoutSeconds       int               `json:"timeout_seconds"`
	MaxConcurrentRuns    int               `json:"max_concurrent_runs,omitempty"`
	Tasks                []jobTaskJSON     `json:"tasks,omitempty"`
	Parameters           []jobParamDefJSON `json:"parameters,omitempty"`
	RunAs                *runAsJSON        `json:"run_as,omitempty"`
	Queue                struct {
		Enabled bool `json:"enabled"`
	} `json:"queue"`
	Format string `json:"format"`
}

type jobJSON struct {
	JobID           int64        `json:"job_id"`
	CreatorUserName string       `json:"creator_user_name,omitempty"`
	RunAsUserName   string       `json:"run_as_user_name,omitempty"`
	Settings        settingsJSON `json:"settings"`
	CreatedTime     int64        `json:"created_time"`
}

func jobView(j *job, withTasks bool) jobJSON {
	st := settingsJSON{Name: j.Name, MaxConcurrentRuns: j.MaxConcurrentRuns, Format: "MULTI_TASK"}
	st.Queue.Enabled = true
	if withTasks {
		for _, t := range j.Tasks {
			jt := jobTaskJSON{TaskKey: t.TaskKey, RunIf: "ALL_SUCCESS",
				NotebookTask: &notebookTaskJSON{NotebookPath: notebookPath(j, t), Source: "WORKSPACE"}}
			for _, d := range t.DependsOn {
				jt.DependsOn = append(jt.DependsOn, taskDepJSON{TaskKey: d})
			}
			st.Tasks = append(st.Tasks, jt)
		}
		names := make([]string, 0, len(j.Parameters))
		for n := range j.Parameters {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			st.Parameters = append(st.Parameters, jobParamDefJSON{Name: n, Default: j.Parameters[n]})
		}
		if j.Creator != "" {
			if strings.Contains(j.Creator, "@") {
				st.RunAs = &runAsJSON{UserName: j.Creator}
			} else {
				st.RunAs = &runAsJSON{ServicePrincipalName: j.Creator}
			}
		}
	}
	out := jobJSON{JobID: j.JobID, CreatorUserName: j.Creator, Settings: st, CreatedTime: j.created}
	if withTasks {
		out.RunAsUserName = j.Creator
	}
	return out
}

func (s *Server) jobsGet(c *call) {
	id, ok := c.queryInt("job_id")
	if !ok {
		return
	}
	j := s.jobByID[id]
	if j == nil {
		c.badRequest("Job %d does not exist.", id)
		return
	}
	if s.rank(j, c.p) < permRank[CanView] {
		c.deniedView(j.JobID)
		return
	}
	writeJSON(c.w, http.StatusOK, jobView(j, true))
}

// listJobsJSON is jobs.ListJobsResponse of the Jobs API 2.2 (databricks-sdk-go service/jobs/model.go;
// the same fields in the JavaScript SDK's jobs.v2 ListJobsResponse): has_more ("If true,
// additional jobs matching the provided filter are available for listing") next to the page tokens.
// The SDK's iterator pages on next_page_token; has_more is for clients that stop on it.
type listJobsJSON struct {
	Jobs          []jobJSON `json:"jobs,omitempty"`
	HasMore       bool      `json:"has_more,omitempty"`
	NextPageToken string    `json:"next_page_token,omitempty"`
	PrevPageToken string    `json:"prev_page_token,omitempty"`
}

func (s *Server) jobsList(c *call) {
	q := c.r.URL.Query()
	limit, ok := c.queryInt("limit")
	if !ok {
		return
	}
	if q.Get("limit") == "" {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		c.badRequest("Invalid limit %d: the limit must be greater than 0 and less than or equal to 100.", limit)
		return
	}
	offset, ok := c.queryInt("offset")
	if !ok {
		return
	}
	if offset < 0 {
		c.badRequest("Invalid offset %d: the offset must be greater than or equal to 0.", offset)
		return
	}
	expand, ok := c.queryBool("expand_tasks")
	if !ok {
		return
	}
	name := q.Get("name")
	var visible []*job
	for _, j := range s.jobs {
		if name != "" && !strings.EqualFold(j.Name, name) {
			continue
		}
		if s.rank(j, c.p) >= permRank[CanView] {
			visible = append(visible, j)
		}
	}

	start, end, endSet := min(int(offset), len(visible)), 0, false
	if tok := q.Get("page_token"); tok != "" {
		dir, after, err := decodePageToken(tok)
		if err != nil {
			c.badRequest("Invalid page token.")
			return
		}
		idx := sort.Search(len(visible), func(i int) bool { return visible[i].JobID > after })
		if dir == 'p' {
			idx = sort.Search(len(visible), func(i int) bool { return visible[i].JobID >= after })
			start, end, endSet = max(0, idx-int(limit)), idx, true
		} else {
			start = idx
		}
	}
	if !endSet {
		end = min(start+int(limit), len(visible))
	}
	out := listJobsJSON{}
	for _, j := range visible[start:end] {
		out.Jobs = append(out.Jobs, jobView(j, expand))
	}
	if end < len(visible) && end > start {
		out.NextPageToken = encodePageToken('n', visible[end-1].JobID)
		out.HasMore = true
	}
	if start > 0 && end > start {
		out.PrevPageToken = encodePageToken('p', visible[start].JobID)
	}
	writeJSON(c.w, http.StatusOK, out)
}

// Page tokens are opaque to clients: a direction and the job id the page continues from (keyset paging,
// so jobs added or hidden between pages neither repeat nor go missing).
func encodePageToken(dir byte, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("fw1:%c:%d", dir, id)))
}

func decodePageToken(tok string) (byte, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, err
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "fw1" || (parts[1] != "n" && parts[1] != "p") {
		return 0, 0, errors.New("bad page token")
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return parts[1][0], id, nil
}
