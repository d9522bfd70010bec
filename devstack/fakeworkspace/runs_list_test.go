package fakeworkspace

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// listedRuns is a runs/list answer as the wire carries it.
type listedRuns struct {
	Runs []struct {
		RunID     int64 `json:"run_id"`
		JobID     int64 `json:"job_id"`
		StartTime int64 `json:"start_time"`
		EndTime   int64 `json:"end_time"`
		Tasks     []any `json:"tasks"`
		State     struct {
			LifeCycleState string `json:"life_cycle_state"`
		} `json:"state"`
	} `json:"runs"`
	HasMore       *bool  `json:"has_more"`
	NextPageToken string `json:"next_page_token"`
	PrevPageToken string `json:"prev_page_token"`
}

// listRuns calls runs/list without the SDK; query is the raw query string.
func (h *harness) listRuns(user, query string) (int, listedRuns, map[string]any) {
	h.t.Helper()
	resp := h.raw("GET", PathRunsList+"?"+query, "tok-"+user, "")
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		h.t.Fatalf("runs/list?%s: %v", query, err)
	}
	var page listedRuns
	var m map[string]any
	_ = json.Unmarshal(raw, &page)
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, page, m
}

// fourRuns starts four runs a second apart and stops the clock 5 s after the first:
//
//	r1 job 1 (single)   started +0 s, ends +7 s   → still running
//	r2 job 2 (pipeline) started +1 s, ends +4.5 s → ended (FAILED)
//	r3 job 6 (private)  started +2 s, ends +2.1 s → ended; alice only
//	r4 job 1 (single)   started +3 s, ends +10 s  → still running
//
// runs/list orders by end time, and by start time while a run has not ended: r2 (4.5), r4 (3),
// r3 (2.1), r1 (0) — not the start order r4, r3, r2, r1.
func fourRuns(h *harness) (t0 int64, r1, r2, r3, r4 int64) {
	t0 = h.clk.Now().UnixMilli()
	r1 = h.runNow("alice", jobs.RunNow{JobId: 1})
	h.clk.Advance(time.Second)
	r2 = h.runNow("alice", jobs.RunNow{JobId: 2})
	h.clk.Advance(time.Second)
	r3 = h.runNow("alice", jobs.RunNow{JobId: 6})
	h.clk.Advance(time.Second)
	r4 = h.runNow("alice", jobs.RunNow{JobId: 1})
	h.clk.Advance(2 * time.Second)
	return t0, r1, r2, r3, r4
}

func TestRunsListFiltersOrderAndErrorsOverHTTP(t *testing.T) {
	h := newHarness(t, testConfig())
	t0, r1, r2, r3, r4 := fourRuns(h)
	ids := func(ids ...int64) string {
		var s []string
		for _, id := range ids {
			s = append(s, fmt.Sprint(id))
		}
		return strings.Join(s, ",")
	}
	cases := []struct {
		name, user, query string
		wantStatus        int
		wantIDs           string // for 200
		wantCode, wantMsg string // for errors
	}{
		{name: "every visible run, newest end (or start) first", user: "alice", query: "", wantStatus: 200, wantIDs: ids(r2, r4, r3, r1)},
		{name: "one job", user: "alice", query: "job_id=1", wantStatus: 200, wantIDs: ids(r4, r1)},
		{name: "completed only", user: "alice", query: "completed_only=true", wantStatus: 200, wantIDs: ids(r2, r3)},
		{name: "active only", user: "alice", query: "active_only=true", wantStatus: 200, wantIDs: ids(r4, r1)},
		{name: "start window, both ends inclusive", user: "alice",
			query: fmt.Sprintf("start_time_from=%d&start_time_to=%d", t0+1000, t0+2000), wantStatus: 200, wantIDs: ids(r2, r3)},
		{name: "start_time_from alone", user: "alice", query: fmt.Sprintf("start_time_from=%d", t0+2000), wantStatus: 200, wantIDs: ids(r4, r3)},
		{name: "run_type JOB_RUN is every run-now run", user: "alice", query: "run_type=JOB_RUN", wantStatus: 200, wantIDs: ids(r2, r4, r3, r1)},
		{name: "no submitted runs", user: "alice", query: "run_type=SUBMIT_RUN", wantStatus: 200, wantIDs: ""},
		{name: "deprecated offset", user: "alice", query: "offset=2&limit=2", wantStatus: 200, wantIDs: ids(r3, r1)},
		{name: "limit 0 means the maximum", user: "alice", query: "limit=0", wantStatus: 200, wantIDs: ids(r2, r4, r3, r1)},
		{name: "limit 25 is allowed", user: "alice", query: "limit=25", wantStatus: 200, wantIDs: ids(r2, r4, r3, r1)},
		{name: "bob does not see the private job's run", user: "bob", query: "", wantStatus: 200, wantIDs: ids(r2, r4, r1)},
		{name: "dave may view no job with runs", user: "dave", query: "", wantStatus: 200, wantIDs: ""},
		{name: "the service principal", user: "sp", query: "job_id=2", wantStatus: 200, wantIDs: ids(r2)},

		{name: "bob asks for the private job", user: "bob", query: "job_id=6", wantStatus: 403, wantCode: "PERMISSION_DENIED",
			wantMsg: "User bob@contoso.example does not have Admin or Manage Run or Owner or View permissions on job 6"},
		{name: "a job that does not exist", user: "alice", query: "job_id=999", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE", wantMsg: "Job 999 does not exist."},
		{name: "limit above 25", user: "alice", query: "limit=26", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE", wantMsg: "Invalid limit 26 - it has to be no more than 25."},
		{name: "negative limit", user: "alice", query: "limit=-1", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE", wantMsg: "Invalid limit -1 - it has to be no less than 0."},
		{name: "limit is not a number", user: "alice", query: "limit=ten", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE", wantMsg: "'ten' is not a valid integer"},
		{name: "active and completed", user: "alice", query: "active_only=true&completed_only=true", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE", wantMsg: "cannot both be true"},
		{name: "offset beyond 10000", user: "alice", query: "offset=10001", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE",
			wantMsg: "The supplied offset 10001 has exceeded the value of 10000 allowed for this parameter.Please use the page_token parameter"},
		{name: "a page token the fake never made", user: "alice", query: "page_token=bm9wZQ", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE", wantMsg: "Invalid page token."},
		{name: "an unknown run_type", user: "alice", query: "run_type=NIGHTLY", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE", wantMsg: "Invalid run_type 'NIGHTLY'"},
		{name: "a boolean that is not one", user: "alice", query: "completed_only=yes", wantStatus: 400, wantCode: "INVALID_PARAMETER_VALUE", wantMsg: "'yes' is not a boolean"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, page, m := h.listRuns(c.user, c.query)
			if status != c.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, c.wantStatus, m)
			}
			if status != 200 {
				if m["error_code"] != c.wantCode || !strings.Contains(fmt.Sprint(m["message"]), c.wantMsg) {
					t.Errorf("error %v, want %s containing %q", m, c.wantCode, c.wantMsg)
				}
				return
			}
			var got []int64
			for _, r := range page.Runs {
				got = append(got, r.RunID)
				if r.Tasks != nil {
					t.Errorf("run %d lists its tasks without expand_tasks", r.RunID)
				}
			}
			if ids(got...) != c.wantIDs {
				t.Errorf("runs %v, want %s", got, c.wantIDs)
			}
			if page.HasMore == nil || *page.HasMore {
				t.Errorf("has_more %v, want false (every page here is the last)", page.HasMore)
			}
			if _, present := m["runs"]; present && len(got) == 0 {
				t.Errorf("an empty answer carries runs: %v", m)
			}
		})
	}

	t.Run("expand_tasks adds the task runs", func(t *testing.T) {
		_, page, _ := h.listRuns("alice", "job_id=2&expand_tasks=true")
		if len(page.Runs) != 1 || len(page.Runs[0].Tasks) != 3 {
			t.Fatalf("%+v", page.Runs)
		}
	})
	t.Run("an ended run carries its end time, a running one none", func(t *testing.T) {
		_, page, _ := h.listRuns("alice", "")
		for _, r := range page.Runs {
			if (r.EndTime != 0) != (r.State.LifeCycleState == "TERMINATED") {
				t.Errorf("run %d: %s with end_time %d", r.RunID, r.State.LifeCycleState, r.EndTime)
			}
		}
	})
}

func TestRunsListPageTokensWalkBothWays(t *testing.T) {
	h := newHarness(t, testConfig())
	_, r1, r2, r3, r4 := fourRuns(h)
	want := []int64{r2, r4, r3, r1}

	var tokens []string // tokens[i] = the next_page_token that leads to page i+1
	query := "limit=1"
	for i := range want {
		status, page, m := h.listRuns("alice", query)
		if status != 200 || len(page.Runs) != 1 || page.Runs[0].RunID != want[i] {
			t.Fatalf("page %d: %d %v, want run %d", i, status, m, want[i])
		}
		last := i == len(want)-1
		if *page.HasMore == last || (page.NextPageToken == "") != last || (page.PrevPageToken == "") != (i == 0) {
			t.Fatalf("page %d: has_more %v next %q prev %q", i, *page.HasMore, page.NextPageToken, page.PrevPageToken)
		}
		if !last {
			tokens = append(tokens, page.NextPageToken)
			query = "limit=1&page_token=" + url.QueryEscape(page.NextPageToken)
		} else {
			query = "limit=1&page_token=" + url.QueryEscape(page.PrevPageToken)
		}
	}
	// Back from the last page: prev_page_token leads to the page before, up to the first.
	for i := len(want) - 2; i >= 0; i-- {
		_, page, m := h.listRuns("alice", query)
		if len(page.Runs) != 1 || page.Runs[0].RunID != want[i] {
			t.Fatalf("back to page %d: %v, want run %d", i, m, want[i])
		}
		query = "limit=1&page_token=" + url.QueryEscape(page.PrevPageToken)
		if i == 0 && page.PrevPageToken != "" {
			t.Errorf("the first page has a prev_page_token")
		}
	}

	// A run that starts between two pages does not shift the pages: the token is a position.
	h.runNow("alice", jobs.RunNow{JobId: 1})
	_, page, _ := h.listRuns("alice", "limit=1&page_token="+url.QueryEscape(tokens[1]))
	if len(page.Runs) != 1 || page.Runs[0].RunID != want[2] {
		t.Errorf("after a new run, the third page holds %+v, want run %d", page.Runs, want[2])
	}
}

func TestRunsListShowsARunOnceItHasEnded(t *testing.T) {
	// What a "when a run ends" poller relies on: the run is absent from completed_only while it runs and
	// present, with its end time, from the moment it ends on the fake's clock.
	h := newHarness(t, testConfig())
	id := h.runNow("alice", jobs.RunNow{JobId: 1}) // ends after 7 s
	created := h.clk.Now().UnixMilli()
	steps := []struct {
		at      time.Duration
		present bool
	}{{0, false}, {6999 * time.Millisecond, false}, {7 * time.Second, true}, {time.Hour, true}}
	elapsed := time.Duration(0)
	for _, st := range steps {
		h.clk.Advance(st.at - elapsed)
		elapsed = st.at
		_, page, _ := h.listRuns("alice", fmt.Sprintf("completed_only=true&job_id=1&start_time_from=%d", created))
		if got := len(page.Runs) == 1 && page.Runs[0].RunID == id; got != st.present {
			t.Fatalf("at %v: listed %+v, want present=%v", st.at, page.Runs, st.present)
		}
		if st.present && page.Runs[0].EndTime != created+7000 {
			t.Errorf("at %v: end_time %d, want %d", st.at, page.Runs[0].EndTime, created+7000)
		}
	}
}

func TestRunsListAllWithTheSDK(t *testing.T) {
	h := newHarness(t, testConfig())
	const n = 27 // more than one page of the largest limit
	var started []int64
	for range n {
		started = append(started, h.runNow("alice", jobs.RunNow{JobId: 4})) // ends after 100 ms
		h.clk.Advance(time.Second)
	}
	h.runNow("alice", jobs.RunNow{JobId: 6}) // another job, still running
	cases := []struct {
		name      string
		user      string
		req       jobs.ListRunsRequest
		wantRuns  int
		wantPages int64
	}{
		{name: "25 a page", user: "alice", req: jobs.ListRunsRequest{JobId: 4, Limit: 25}, wantRuns: n, wantPages: 2},
		{name: "the default 20 a page", user: "alice", req: jobs.ListRunsRequest{JobId: 4}, wantRuns: n, wantPages: 2},
		{name: "every job", user: "alice", req: jobs.ListRunsRequest{Limit: 10}, wantRuns: n + 1, wantPages: 3},
		{name: "completed only", user: "alice", req: jobs.ListRunsRequest{CompletedOnly: true, Limit: 25}, wantRuns: n, wantPages: 2},
		{name: "active only, with tasks", user: "alice", req: jobs.ListRunsRequest{ActiveOnly: true, ExpandTasks: true}, wantRuns: 1, wantPages: 1},
		{name: "bob sees job 4's runs", user: "bob", req: jobs.ListRunsRequest{Limit: 25}, wantRuns: n, wantPages: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.ws.Stats().RunsList
			got, err := h.jobs.ListRunsAll(h.as(c.user), c.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.wantRuns {
				t.Fatalf("%d runs, want %d", len(got), c.wantRuns)
			}
			seen := map[int64]bool{}
			for i, r := range got {
				if seen[r.RunId] {
					t.Fatalf("run %d listed twice", r.RunId)
				}
				seen[r.RunId] = true
				if c.req.ExpandTasks != (len(r.Tasks) > 0) {
					t.Errorf("run %d: %d tasks with expand_tasks=%v", r.RunId, len(r.Tasks), c.req.ExpandTasks)
				}
				key := func(r jobs.BaseRun) int64 {
					if r.EndTime != 0 {
						return r.EndTime
					}
					return r.StartTime
				}
				if i > 0 && key(got[i-1]) < key(r) {
					t.Errorf("run %d (%d) after run %d (%d): not newest first", r.RunId, key(r), got[i-1].RunId, key(got[i-1]))
				}
			}
			if pages := h.ws.Stats().RunsList - before; pages != c.wantPages {
				t.Errorf("%d pages, want %d", pages, c.wantPages)
			}
		})
	}
	if got, err := h.jobs.ListRunsAll(h.as("alice"), jobs.ListRunsRequest{JobId: 4, Limit: 1, StartTimeFrom: h.clk.Now().Add(-3 * time.Second).UnixMilli()}); err != nil ||
		len(got) != 3 || got[2].RunId != started[n-3] {
		t.Errorf("the last three runs by start_time_from: %d runs %v", len(got), err)
	}
}
