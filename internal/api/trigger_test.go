package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/databricks"
)

// triggerT0 is when the trigger tests' flow is saved (its first poll).
var triggerT0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// triggerServer is a test server whose clock the test moves, with its fake workspace's runs and
// an optional change of the configuration.
func triggerServer(t *testing.T, cfg func(*Deps)) (*testServer, *clock) {
	t.Helper()
	clk := &clock{now: triggerT0}
	s := newTestServer(t, func(d *Deps) {
		d.Now = clk.Now
		if cfg != nil {
			cfg(d)
		}
	})
	return s, clk
}

// endedRun is a run of job that started at start and ended at end with result.
func endedRun(id, job int64, result string, start, end time.Time) databricks.Run {
	return databricks.Run{RunID: id, JobID: job, State: "TERMINATED", Result: result, Terminal: true, Succeeded: result == "SUCCESS",
		StartTime: start.UTC().Format(time.RFC3339), EndTime: end.UTC().Format(time.RFC3339), EndTimeMs: end.UnixMilli(),
		Tasks: []databricks.TaskRun{}}
}

// pollResult is one answer of the trigger.
type pollResult struct {
	status     int
	next       string // the Location, without the public base: the next poll's path
	retryAfter string
	runIDs     []int64
	body       string
}

func poll(t *testing.T, s *testServer, path string) pollResult {
	t.Helper()
	res := s.do(t, call{method: "GET", path: path, token: aliceToken})
	p := pollResult{status: res.status, retryAfter: res.header.Get("Retry-After"), body: res.body,
		next: strings.TrimPrefix(res.header.Get("Location"), "https://flowbricks.example")}
	if res.status == 200 || res.status == 202 {
		var runs []databricks.Run
		if err := json.Unmarshal([]byte(res.body), &runs); err != nil {
			t.Fatalf("the answer is not an array of runs: %v: %s", err, res.body)
		}
		p.runIDs = []int64{}
		for _, r := range runs {
			p.runIDs = append(p.runIDs, r.RunID)
		}
		if p.next == "" || p.retryAfter == "" {
			t.Fatalf("%d without Location or Retry-After: %v", res.status, res.header)
		}
	}
	return p
}

// mustPoll polls and expects status and the runs, in order.
func mustPoll(t *testing.T, s *testServer, path string, status int, runs ...int64) pollResult {
	t.Helper()
	p := poll(t, s, path)
	if p.status != status || !slices.Equal(p.runIDs, append([]int64{}, runs...)) {
		t.Fatalf("GET %s: %d with runs %v, want %d with %v: %s", path, p.status, p.runIDs, status, runs, p.body)
	}
	return p
}

func TestTriggerFirstPollSetsTheStateWithoutReplay(t *testing.T) {
	s, clk := triggerServer(t, nil)
	// Ended before the flow was saved: never delivered.
	s.jobs.setRun(endedRun(1, 101, "FAILED", triggerT0.Add(-time.Hour), triggerT0.Add(-time.Second)))
	s.jobs.setRun(endedRun(2, 101, "SUCCESS", triggerT0.Add(-time.Hour), triggerT0.Add(-time.Millisecond)))

	first := mustPoll(t, s, "/api/jobs/runs/ended?job_id=101", 202)
	if first.retryAfter != "7" || !strings.HasPrefix(first.next, "/api/jobs/runs/ended?") {
		t.Fatalf("first poll: Retry-After %q, Location %q", first.retryAfter, first.next)
	}
	next, _ := url.Parse(first.next)
	if q := next.Query(); q.Get("job_id") != "101" || q.Get("after") == "" || q.Has("result") {
		t.Fatalf("first Location %q, want job_id and the cursor (and the default result left out)", first.next)
	}
	// The first poll only checks that the caller can list the job's runs.
	if got := s.jobs.listRuns; len(got) != 1 || got[0].JobID != 101 || got[0].Max != 1 {
		t.Fatalf("first poll listed %+v", got)
	}
	clk.Add(time.Minute)
	mustPoll(t, s, first.next, 202)
}

func TestTriggerDeliversEachEndedRunOnce(t *testing.T) {
	s, clk := triggerServer(t, nil)
	s.jobs.setRun(databricks.Run{RunID: 10, JobID: 101, State: "RUNNING", StartTime: triggerT0.Add(-time.Hour).Format(time.RFC3339)})
	first := mustPoll(t, s, "/api/jobs/runs/ended", 202)

	clk.Add(time.Minute)
	second := mustPoll(t, s, first.next, 202) // still running
	if second.next != first.next {
		t.Fatalf("202 moved the cursor: %q → %q", first.next, second.next)
	}

	// Run 10 ends between two polls; it started an hour before the trigger's state.
	s.jobs.setRun(endedRun(10, 101, "FAILED", triggerT0.Add(-time.Hour), clk.Now().Add(10*time.Second)))
	clk.Add(time.Minute)
	third := mustPoll(t, s, second.next, 200, 10)
	if third.retryAfter != "7" {
		t.Errorf("Retry-After %q after a complete answer", third.retryAfter)
	}
	clk.Add(time.Minute)
	fourth := mustPoll(t, s, third.next, 202)
	// A platform that polls the same Location again (a retried poll) gets the same runs.
	mustPoll(t, s, second.next, 200, 10)
	mustPoll(t, s, fourth.next, 202)
}

func TestTriggerOrdersByEndTimeThenRunID(t *testing.T) {
	s, clk := triggerServer(t, nil)
	first := mustPoll(t, s, "/api/jobs/runs/ended", 202)
	end := triggerT0.Add(30 * time.Second)
	start := triggerT0.Add(-time.Minute)
	s.jobs.setRun(endedRun(40, 101, "SUCCESS", start, end.Add(time.Millisecond)))
	s.jobs.setRun(endedRun(30, 101, "SUCCESS", start.Add(time.Second), end))
	s.jobs.setRun(endedRun(20, 102, "FAILED", start.Add(2*time.Second), end))
	s.jobs.setRun(endedRun(50, 102, "FAILED", start, end.Add(-time.Millisecond)))
	clk.Add(time.Minute)
	got := mustPoll(t, s, first.next, 200, 50, 20, 30, 40)

	// A run that ends at the very millisecond of the last one delivered, with a higher id, is new.
	s.jobs.setRun(endedRun(41, 101, "SUCCESS", start, end.Add(time.Millisecond)))
	// One with a lower id is taken for delivered: the order is (end time, run id).
	s.jobs.setRun(endedRun(39, 101, "SUCCESS", start, end.Add(time.Millisecond)))
	mustPoll(t, s, got.next, 200, 41)
}

func TestTriggerFilters(t *testing.T) {
	start, end := triggerT0.Add(-time.Minute), triggerT0.Add(time.Minute)
	runs := []databricks.Run{
		endedRun(1, 101, "SUCCESS", start, end),
		endedRun(2, 101, "RUN_EXECUTION_ERROR", start, end.Add(time.Second)),
		endedRun(3, 101, "USER_CANCELED", start, end.Add(2*time.Second)),
		endedRun(4, 102, "TIMEDOUT", start, end.Add(3*time.Second)),
		endedRun(5, 102, "CANCELED", start, end.Add(4*time.Second)),
		endedRun(6, 999, "SUCCESS", start, end.Add(5*time.Second)), // outside FLOWBRICKS_JOBS when it is set
		endedRun(7, 101, "SUCCESS_WITH_FAILURES", start, end.Add(6*time.Second)),
	}
	tests := []struct {
		name  string
		query string
		jobs  []int64 // FLOWBRICKS_JOBS
		want  []int64
	}{
		{"any result of every job", "", nil, []int64{1, 2, 3, 4, 5, 6, 7}},
		{"one job", "job_id=101", nil, []int64{1, 2, 3, 7}},
		{"success", "result=success", nil, []int64{1, 6}},
		{"failed: every unsuccessful end but a cancellation", "result=failed", nil, []int64{2, 4, 7}},
		{"canceled, in any letter case", "result=Canceled", nil, []int64{3, 5}},
		{"failed runs of one job", "job_id=102&result=failed", nil, []int64{4}},
		{"FLOWBRICKS_JOBS: runs of other jobs are never delivered", "", []int64{101, 102}, []int64{1, 2, 3, 4, 5, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := triggerServer(t, func(d *Deps) { d.Config.Jobs = tt.jobs })
			for _, r := range runs {
				s.jobs.setRun(r)
			}
			first := mustPoll(t, s, "/api/jobs/runs/ended?"+tt.query, 202)
			clk.Add(time.Hour)
			mustPoll(t, s, first.next, 200, tt.want...)
		})
	}
}

func TestTriggerRefusals(t *testing.T) {
	s, _ := triggerServer(t, func(d *Deps) { d.Config.Jobs = []int64{101, 102} })
	first := mustPoll(t, s, "/api/jobs/runs/ended?job_id=101", 202)
	after, _ := url.Parse(first.next)
	cursor := after.Query().Get("after")
	raw, _ := base64.RawURLEncoding.DecodeString(cursor)
	forged := func(plain string) string { return base64.RawURLEncoding.EncodeToString([]byte(plain)) }
	parts := strings.Split(string(raw), ".")
	digest := parts[3]

	tests := []struct {
		name, query string
		status      int
		code        string
	}{
		{"a job outside FLOWBRICKS_JOBS", "job_id=999", 403, "job_not_allowed"},
		{"a job id that is not one", "job_id=abc", 400, "invalid_request"},
		{"an unknown result", "result=maybe", 400, "invalid_request"},
		{"the cursor of another trigger's filters", "job_id=102&after=" + cursor, 400, "invalid_request"},
		{"the cursor with another result filter", "job_id=101&result=failed&after=" + cursor, 400, "invalid_request"},
		{"a cursor that is not base64url", "job_id=101&after=%25%25%25", 400, "invalid_request"},
		{"a cursor of another version", "job_id=101&after=" + forged("2."+parts[1]+".0."+digest), 400, "invalid_request"},
		{"an edited cursor (not canonical)", "job_id=101&after=" + forged("1.0"+parts[1]+".0."+digest), 400, "invalid_request"},
		{"a negative position", "job_id=101&after=" + forged("1.-5.0."+digest), 400, "invalid_request"},
		{"position zero", "job_id=101&after=" + forged("1.0.0."+digest), 400, "invalid_request"},
		{"a cursor in the future", "job_id=101&after=" + forged(fmt.Sprintf("1.%d.0.%s", triggerT0.Add(time.Hour).UnixMilli(), digest)), 400, "invalid_request"},
		{"an absurdly long cursor", "job_id=101&after=" + strings.Repeat("A", 200), 400, "invalid_request"},
		{"a workspace that is not configured", "job_id=101&workspace=other&after=" + cursor, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.jobs.listRuns)
			res := s.do(t, call{method: "GET", path: "/api/jobs/runs/ended?" + tt.query, token: aliceToken})
			if res.status != tt.status || res.json["code"] != tt.code {
				t.Fatalf("%d %v, want %d %s: %s", res.status, res.json["code"], tt.status, tt.code, res.body)
			}
			if len(s.jobs.listRuns) != before {
				t.Fatal("a refused poll listed runs")
			}
		})
	}
	// A cursor a few seconds ahead of this instance's clock (another instance's) is fine.
	ahead := forged(fmt.Sprintf("1.%d.0.%s", triggerT0.Add(time.Minute).UnixMilli(), digest))
	mustPoll(t, s, "/api/jobs/runs/ended?job_id=101&after="+ahead, 202)
}

// runs/list filters by start time: a poll lists the runs that started up to the look-back before
// the cursor, and a run that ran longer than that is missed.
func TestTriggerLookBack(t *testing.T) {
	s, clk := triggerServer(t, func(d *Deps) { d.Config.TriggerLookback = 24 * time.Hour })
	first := mustPoll(t, s, "/api/jobs/runs/ended", 202)
	s.jobs.setRun(endedRun(1, 101, "SUCCESS", triggerT0.Add(-23*time.Hour), triggerT0.Add(time.Minute)))
	s.jobs.setRun(endedRun(2, 101, "SUCCESS", triggerT0.Add(-25*time.Hour), triggerT0.Add(time.Minute))) // ran 25 hours
	clk.Add(time.Hour)
	mustPoll(t, s, first.next, 200, 1)
	got := s.jobs.listRuns[len(s.jobs.listRuns)-1]
	want := databricks.ListRunsRequest{CompletedOnly: true, ExpandTasks: true, StartFrom: triggerT0.Add(-24 * time.Hour), Max: triggerScanMax}
	if !got.StartFrom.Equal(want.StartFrom) || got.CompletedOnly != want.CompletedOnly || got.ExpandTasks != want.ExpandTasks ||
		got.Max != want.Max || got.JobID != 0 || !got.StartTo.IsZero() {
		t.Fatalf("listed %+v, want %+v", got, want)
	}
}

func TestTriggerBoundsEachPoll(t *testing.T) {
	s, clk := triggerServer(t, nil)
	first := mustPoll(t, s, "/api/jobs/runs/ended", 202)
	const ended = triggerMaxRuns + 50
	var want []int64
	for i := range int64(ended) {
		s.jobs.setRun(endedRun(1000+i, 101, "SUCCESS", triggerT0, triggerT0.Add(time.Duration(i+1)*time.Second)))
		want = append(want, 1000+i)
	}
	clk.Add(time.Hour)
	page1 := mustPoll(t, s, first.next, 200, want[:triggerMaxRuns]...)
	if page1.retryAfter != "1" {
		t.Errorf("Retry-After %q with runs left for the next poll, want 1", page1.retryAfter)
	}
	page2 := mustPoll(t, s, page1.next, 200, want[triggerMaxRuns:]...)
	if page2.retryAfter != "7" {
		t.Errorf("Retry-After %q after the last runs, want the poll interval", page2.retryAfter)
	}
	mustPoll(t, s, page2.next, 202)
}

// A run that is over without an end time is not delivered: the cursor needs one.
func TestTriggerSkipsRunsWithoutAnEnd(t *testing.T) {
	s, clk := triggerServer(t, nil)
	first := mustPoll(t, s, "/api/jobs/runs/ended", 202)
	noEnd := endedRun(1, 101, "SKIPPED", triggerT0, triggerT0)
	noEnd.EndTime, noEnd.EndTimeMs = "", 0
	s.jobs.setRun(noEnd)
	clk.Add(time.Hour)
	mustPoll(t, s, first.next, 202)
}

func TestTriggerWorkspaceAndUpstreamErrors(t *testing.T) {
	other := newFakeJobs()
	s, clk := triggerServer(t, func(d *Deps) { d.Workspaces["emea"] = other })
	first := mustPoll(t, s, "/api/jobs/runs/ended?workspace=emea", 202)
	if next, _ := url.Parse(first.next); next.Query().Get("workspace") != "emea" {
		t.Fatalf("Location %q does not keep the workspace", first.next)
	}
	other.setRun(endedRun(5, 101, "SUCCESS", triggerT0, triggerT0.Add(time.Second)))
	s.jobs.setRun(endedRun(6, 101, "SUCCESS", triggerT0, triggerT0.Add(time.Second)))
	clk.Add(time.Minute)
	mustPoll(t, s, first.next, 200, 5)

	s.jobs.err = &databricks.Error{Kind: databricks.ErrPermissionDenied, Op: databricks.OpListRuns, Detail: "no view permission on job 101"}
	res := s.do(t, call{method: "GET", path: "/api/jobs/runs/ended?job_id=101", token: aliceToken})
	if res.status != 403 || res.json["code"] != "forbidden" {
		t.Fatalf("%d %s", res.status, res.body)
	}
}
