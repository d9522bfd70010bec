package databricks

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runsPage answers runs/list from n runs (ids n..1, newest first), pages of the request's limit,
// with page_token the offset of the next page.
func runsPage(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		from, _ := strconv.Atoi(r.URL.Query().Get("page_token"))
		to := min(from+limit, n)
		var runs []string
		for i := from; i < to; i++ {
			id := n - i
			runs = append(runs, fmt.Sprintf(`{"run_id":%d,"job_id":7,"start_time":%d,"end_time":%d,
				"status":{"state":"TERMINATED","termination_details":{"code":"SUCCESS"}}}`, id, t0+int64(id)*1000, t0+int64(id)*1000+500))
		}
		more := ""
		if to < n {
			more = fmt.Sprintf(`,"has_more":true,"next_page_token":"%d"`, to)
		}
		writeJSON(w, 200, `{"runs":[`+strings.Join(runs, ",")+`]`+more+`}`)
	}
}

func TestListRuns(t *testing.T) {
	from := time.UnixMilli(t0).UTC()
	tests := []struct {
		name      string
		runs      int
		req       ListRunsRequest
		wantRuns  int
		wantQuery []string // of each request, in order
	}{
		{
			name: "filters and page size: job, completed only, start window, tasks; all pages",
			runs: 30, req: ListRunsRequest{JobID: 7, CompletedOnly: true, StartFrom: from, StartTo: from.Add(time.Hour), ExpandTasks: true, Max: 100},
			wantRuns: 30,
			wantQuery: []string{
				"completed_only=true&expand_tasks=true&job_id=7&limit=25&start_time_from=1795860000000&start_time_to=1795863600000",
				"completed_only=true&expand_tasks=true&job_id=7&limit=25&page_token=25&start_time_from=1795860000000&start_time_to=1795863600000",
			},
		},
		{
			name: "every job, no bounds: only the limit is sent",
			runs: 3, req: ListRunsRequest{}, wantRuns: 3,
			wantQuery: []string{"limit=25"},
		},
		{
			name: "max below a page: the limit is max, and no second page is asked for",
			runs: 30, req: ListRunsRequest{Max: 10}, wantRuns: 10,
			wantQuery: []string{"limit=10"},
		},
		{
			name: "max inside the second page: stops there",
			runs: 100, req: ListRunsRequest{Max: 30}, wantRuns: 30,
			wantQuery: []string{"limit=25", "limit=25&page_token=25"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, runsPage(tt.runs))
			c := newTestClient(t, u.srv.URL)
			runs, err := c.ListRuns(userCtx(t, "tok"), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != tt.wantRuns {
				t.Fatalf("runs = %d, want %d", len(runs), tt.wantRuns)
			}
			if runs[0].RunID != int64(tt.runs) || runs[0].EndTimeMs != t0+int64(tt.runs)*1000+500 || !runs[0].Succeeded {
				t.Errorf("first run = %+v, want the newest, mapped like GetRun", runs[0])
			}
			var queries []string
			for _, r := range u.requests() {
				if r.Path != pathRunsList || r.Method != http.MethodGet {
					t.Errorf("request %s %s", r.Method, r.Path)
				}
				queries = append(queries, r.Query)
			}
			if !reflect.DeepEqual(queries, tt.wantQuery) {
				t.Errorf("queries\n got: %q\nwant: %q", queries, tt.wantQuery)
			}
		})
	}
}

func TestListRunsNothingIsAnEmptyList(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{}`) })
	runs, err := newTestClient(t, u.srv.URL).ListRuns(userCtx(t, "tok"), ListRunsRequest{CompletedOnly: true})
	if err != nil || runs == nil || len(runs) != 0 {
		t.Fatalf("runs = %#v, err = %v; want an empty, non-nil list", runs, err)
	}
}

func TestListRunsStopsAtEndlessPages(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"runs":[],"has_more":true,"next_page_token":"again"}`)
	})
	_, err := newTestClient(t, u.srv.URL).ListRuns(userCtx(t, "tok"), ListRunsRequest{})
	if !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v, want ErrUpstream", err)
	}
	if n := u.count(); n != maxRunsListPages {
		t.Errorf("requests = %d, want %d", n, maxRunsListPages)
	}
}

func TestListRunsRefusesBeforeSending(t *testing.T) {
	from := time.UnixMilli(t0)
	for name, req := range map[string]ListRunsRequest{
		"negative job id":    {JobID: -1},
		"window ends before": {StartFrom: from, StartTo: from.Add(-time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUpstream(t, runsPage(1))
			_, err := newTestClient(t, u.srv.URL).ListRuns(userCtx(t, "tok"), req)
			if !errors.Is(err, ErrInvalidRequest) || u.count() != 0 {
				t.Fatalf("err = %v after %d requests; want ErrInvalidRequest before any", err, u.count())
			}
		})
	}
}

// A page token is opaque: it goes back exactly as it came, escaped.
func TestListRunsSendsThePageTokenBack(t *testing.T) {
	const token = "CAEQ+/=&x"
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page_token") == token {
			writeJSON(w, 200, `{"runs":[{"run_id":1}]}`)
			return
		}
		writeJSON(w, 200, `{"runs":[{"run_id":2}],"has_more":true,"next_page_token":"`+token+`"}`)
	})
	runs, err := newTestClient(t, u.srv.URL).ListRuns(userCtx(t, "tok"), ListRunsRequest{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs = %+v, err = %v", runs, err)
	}
	if q, _ := url.ParseQuery(u.requests()[1].Query); q.Get("page_token") != token {
		t.Errorf("second query = %s", u.requests()[1].Query)
	}
}
