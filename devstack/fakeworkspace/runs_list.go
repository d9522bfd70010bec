package fakeworkspace

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// GET /api/2.2/jobs/runs/list, as the Jobs API 2.2 reference ("List", docs.databricks.com/api/jobs/v2/
// list-runs) and databricks-sdk-go v0.175.0 (service/jobs ListRunsRequest, ListRunsResponse, BaseRun)
// describe it. Where neither says what the service answers, the choice is named in a comment.

const (
	// runsListDefaultLimit and runsListMaxLimit: "This value must be greater than 0 and less than 25. The
	// default value is 20. If a request specifies a limit of 0, the service instead uses the maximum
	// limit." The reference's constraint is [1 .. 25], so 25 is accepted.
	runsListDefaultLimit = 20
	runsListMaxLimit     = 25
	// runsListMaxOffset: a larger (deprecated) offset is refused and page_token recommended
	// (databricks-sdk-py #278 quotes the service's error).
	runsListMaxOffset = 10_000
)

// listRunsJSON is ListRunsResponse. has_more is always sent: the service's own answer carries it even
// when true is the only value a client acts on (the runs/list body quoted in databricks-sdk-py #278).
type listRunsJSON struct {
	Runs          []runJSON `json:"runs,omitempty"`
	HasMore       bool      `json:"has_more"`
	NextPageToken string    `json:"next_page_token,omitempty"`
	PrevPageToken string    `json:"prev_page_token,omitempty"`
}

// listedRun is a run in runs/list order: by end time, newest first, and by start time while it has not
// ended ("List runs in descending order by end time. If a run has not finished, it falls back to start
// time.", JobsAPI.ListRuns in databricks-sdk-go v0.175.0 and the 2.2 reference; the older wording of
// ListRunsResponse.Runs, "from most recently started to least", predates it). Ties go to the higher run id
// so that the order, and the page tokens built on it, are total.
type listedRun struct {
	r   *run
	key int64 // end_time, or start_time while the run has not ended
}

func runsBefore(a, b listedRun) bool {
	if a.key != b.key {
		return a.key > b.key
	}
	return a.r.id > b.r.id
}

func (s *Server) runsList(c *call) {
	q := c.r.URL.Query()
	jobID, ok := c.queryInt("job_id")
	if !ok {
		return
	}
	limit, ok := c.queryInt("limit")
	if !ok {
		return
	}
	switch {
	case q.Get("limit") == "":
		limit = runsListDefaultLimit
	case limit == 0:
		limit = runsListMaxLimit
	case limit < 0:
		// The service's wording for a too-large limit (below); for a negative one it is a guess.
		c.badRequest("Invalid limit %d - it has to be no less than 0.", limit)
		return
	case limit > runsListMaxLimit:
		// databricks/databricks-cli #464 quotes the service: "Invalid limit 27 - it has to be no more than
		// 26." (2022); the bound here is the one the 2.2 reference documents.
		c.badRequest("Invalid limit %d - it has to be no more than %d.", limit, runsListMaxLimit)
		return
	}
	offset, ok := c.queryInt("offset")
	if !ok {
		return
	}
	switch {
	case offset < 0:
		c.badRequest("Invalid offset %d - it has to be no less than 0.", offset) // a guess, like the limit's
		return
	case offset > runsListMaxOffset:
		c.badRequest("The supplied offset %d has exceeded the value of %d allowed for this parameter."+
			"Please use the page_token parameter to paginate: https://docs.databricks.com/api/workspace/jobs/listruns.",
			offset, runsListMaxOffset)
		return
	}
	from, ok := c.queryInt("start_time_from")
	if !ok {
		return
	}
	to, ok := c.queryInt("start_time_to")
	if !ok {
		return
	}
	var flags [3]bool
	for i, name := range []string{"active_only", "completed_only", "expand_tasks"} {
		if flags[i], ok = c.queryBool(name); !ok {
			return
		}
	}
	activeOnly, completedOnly, expand := flags[0], flags[1], flags[2]
	if activeOnly && completedOnly {
		// "This field cannot be `true` when completed_only is `true`." The wording of the refusal is ours.
		c.badRequest("active_only and completed_only cannot both be true.")
		return
	}
	runType := q.Get("run_type")
	switch runType {
	case "", "JOB_RUN", "WORKFLOW_RUN", "SUBMIT_RUN": // RunType in databricks-sdk-go service/jobs
	default:
		c.badRequest("Invalid run_type '%s': expected one of JOB_RUN, WORKFLOW_RUN, SUBMIT_RUN.", runType)
		return
	}
	var after *listedRun
	prev := false
	if tok := q.Get("page_token"); tok != "" {
		dir, key, id, err := decodeRunsPageToken(tok)
		if err != nil {
			c.badRequest("Invalid page token.")
			return
		}
		// The token carries the position, not the filters: the SDK's iterator sends the same filters
		// with every page. Given both, the token wins over the deprecated offset (our choice).
		after, prev, offset = &listedRun{r: &run{id: id}, key: key}, dir == 'p', 0
	}

	base := s.baseURL(c.r)
	s.mu.Lock()
	if jobID != 0 {
		j := s.jobByID[jobID]
		if j == nil {
			s.mu.Unlock()
			c.badRequest("Job %d does not exist.", jobID)
			return
		}
		if s.rank(j, c.p) < permRank[CanView] {
			s.mu.Unlock()
			c.deniedView(jobID)
			return
		}
	}
	now := s.now().UnixMilli()
	for _, j := range s.jobs {
		j.schedule(now)
	}
	var all []listedRun
	for _, r := range s.runs {
		switch {
		case jobID != 0 && r.job.JobID != jobID,
			runType != "" && runType != "JOB_RUN", // every run of the fake is a run-now of a job
			from != 0 && r.created < from,
			to != 0 && r.created > to,
			s.rank(r.job, c.p) < permRank[CanView]: // the caller sees the runs of the jobs they may view
			continue
		}
		cur := r.current()
		terminal := isTerminal(cur.lifecycle(now))
		if (activeOnly && terminal) || (completedOnly && !terminal) {
			continue
		}
		lr := listedRun{r: r, key: r.created}
		if terminal {
			lr.key = cur.endAt()
		}
		all = append(all, lr)
	}
	sort.Slice(all, func(a, b int) bool { return runsBefore(all[a], all[b]) })

	start, end := min(int(offset), len(all)), 0
	switch {
	case after == nil:
		end = min(start+int(limit), len(all))
	case prev:
		end = sort.Search(len(all), func(i int) bool { return !runsBefore(all[i], *after) })
		start = max(0, end-int(limit))
	default:
		start = sort.Search(len(all), func(i int) bool { return runsBefore(*after, all[i]) })
		end = min(start+int(limit), len(all))
	}
	out := listRunsJSON{HasMore: end < len(all)}
	for _, lr := range all[start:end] {
		v := s.runJSON(lr.r, now, base)
		if !expand {
			v.Tasks = nil // "Whether to include task and cluster details in the response."
		}
		out.Runs = append(out.Runs, v)
	}
	if end < len(all) && end > start {
		out.NextPageToken = encodeRunsPageToken('n', all[end-1])
	}
	if start > 0 && end > start {
		out.PrevPageToken = encodeRunsPageToken('p', all[start])
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
}

// queryBool reads an optional boolean query parameter.
func (c *call) queryBool(name string) (bool, bool) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return false, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		c.badRequest("Invalid value for parameter %s: '%s' is not a boolean.", name, v)
		return false, false
	}
	return b, true
}

// Runs page tokens are opaque to clients: a direction and the position (sort key and run id) the page
// continues from. Keyset paging means a run started between two pages does not shift the next page; a
// run that ends between two pages moves to its end time, as it does in the service's order.
func encodeRunsPageToken(dir byte, lr listedRun) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("fw1r:%c:%d:%d", dir, lr.key, lr.r.id)))
}

func decodeRunsPageToken(tok string) (dir byte, key, id int64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, 0, 0, err
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 4 || parts[0] != "fw1r" || (parts[1] != "n" && parts[1] != "p") {
		return 0, 0, 0, errors.New("bad runs page token")
	}
	if key, err = strconv.ParseInt(parts[2], 10, 64); err != nil {
		return 0, 0, 0, err
	}
	if id, err = strconv.ParseInt(parts[3], 10, 64); err != nil {
		return 0, 0, 0, err
	}
	return parts[1][0], key, id, nil
}
