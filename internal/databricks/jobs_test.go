package databricks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestRunNowSendsWhatTheJobsAPIExpects(t *testing.T) {
	tests := []struct {
		name     string
		req      RunNowRequest
		wantBody string
	}{
		{
			name: "every field",
			req: RunNowRequest{
				JobID: 101, IdempotencyToken: "fb-0123456789",
				JobParameters:     map[string]string{"date": "2026-11-28"},
				NotebookParams:    map[string]string{"nb": "1"},
				PythonNamedParams: map[string]string{"named": "v"},
				SQLParams:         map[string]string{"sql": "q"},
				PythonParams:      []string{"a", "b"},
				JarParams:         []string{"j"},
				Only:              []string{"ingest", "+report"},
				Queue:             ptr(true),
			},
			wantBody: `{"job_id":101,"idempotency_token":"fb-0123456789",
				"job_parameters":{"date":"2026-11-28"},"notebook_params":{"nb":"1"},"python_named_params":{"named":"v"},"sql_params":{"sql":"q"},
				"python_params":["a","b"],"jar_params":["j"],"only":["ingest","+report"],"queue":{"enabled":true}}`,
		},
		{
			name:     "job and idempotency token only",
			req:      RunNowRequest{JobID: 5, IdempotencyToken: "t"},
			wantBody: `{"job_id":5,"idempotency_token":"t"}`,
		},
		{
			name:     "empty maps and lists are not sent, so the job's defaults apply",
			req:      RunNowRequest{JobID: 5, JobParameters: map[string]string{}, NotebookParams: map[string]string{}, PythonParams: []string{}, Only: []string{}},
			wantBody: `{"job_id":5}`,
		},
		{
			name:     "queue explicitly off",
			req:      RunNowRequest{JobID: 5, Queue: ptr(false)},
			wantBody: `{"job_id":5,"queue":{"enabled":false}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"run_id":5001,"number_in_job":5001}`)
			})
			c := newTestClient(t, u.srv.URL)
			runID, err := c.RunNow(userCtx(t, "tok"), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if runID != 5001 {
				t.Errorf("runID = %d, want 5001", runID)
			}
			reqs := u.requests()
			if len(reqs) != 1 {
				t.Fatalf("sent %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/api/2.2/jobs/run-now" {
				t.Errorf("request = %s %s, want POST /api/2.2/jobs/run-now", r.Method, r.Path)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			jsonEqual(t, r.Body, tt.wantBody)
		})
	}
}

func TestRunNowRejectsBeforeSending(t *testing.T) {
	u := newUpstream(t, okRun)
	c := newTestClient(t, u.srv.URL)
	tests := []struct {
		name string
		req  RunNowRequest
	}{
		{"job id 0", RunNowRequest{JobID: 0}},
		{"negative job id", RunNowRequest{JobID: -1}},
		{"idempotency token over 64 characters", RunNowRequest{JobID: 1, IdempotencyToken: strings.Repeat("x", 65)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.RunNow(userCtx(t, "tok"), tt.req)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
	if n := u.count(); n != 0 {
		t.Errorf("sent %d requests, want 0", n)
	}
}

// The SDK retries POST run-now on 503; the idempotency token is what keeps
// that retry from starting a second run, so both attempts must carry it.
func TestRunNowRetryAfter503CarriesTheSameIdempotencyToken(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) == 1 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(503)
			_, _ = w.Write([]byte("<html><body>No webapps are available to handle your request.</body></html>"))
			return
		}
		writeJSON(w, 200, `{"run_id":5001,"number_in_job":5001}`)
	})
	c := newTestClient(t, u.srv.URL)

	runID, err := c.RunNow(userCtx(t, "tok"), RunNowRequest{JobID: 101, IdempotencyToken: "fb-same-token"})
	if err != nil {
		t.Fatal(err)
	}
	if runID != 5001 {
		t.Errorf("runID = %d, want 5001", runID)
	}
	reqs := u.requests()
	if len(reqs) != 2 {
		t.Fatalf("attempts = %d, want 2 (one 503, one retry)", len(reqs))
	}
	for i, r := range reqs {
		var body struct {
			JobID            int64  `json:"job_id"`
			IdempotencyToken string `json:"idempotency_token"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		if body.IdempotencyToken != "fb-same-token" || body.JobID != 101 {
			t.Errorf("attempt %d body = %s", i+1, r.Body)
		}
		if r.Authorization != "Bearer tok" {
			t.Errorf("attempt %d Authorization = %q", i+1, r.Authorization)
		}
	}
}

func TestCancelRun(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{}`) })
	c := newTestClient(t, u.srv.URL)
	if err := c.CancelRun(userCtx(t, "tok"), 5001); err != nil {
		t.Fatal(err)
	}
	reqs := u.requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/api/2.2/jobs/runs/cancel" {
		t.Fatalf("requests = %+v", reqs)
	}
	jsonEqual(t, reqs[0].Body, `{"run_id":5001}`)

	if err := c.CancelRun(userCtx(t, "tok"), 0); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("CancelRun(0) = %v, want ErrInvalidRequest", err)
	}
}

// listJobsUpstream serves jobs/list over the given jobs, at most pageSize per
// page, with the page token being the next offset.
func listJobsUpstream(t *testing.T, pageSize int, jobsJSON []string) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit <= 0 || limit > pageSize {
			limit = pageSize
		}
		from, _ := strconv.Atoi(q.Get("page_token"))
		to := min(from+limit, len(jobsJSON))
		next := ""
		if to < len(jobsJSON) {
			next = fmt.Sprintf(`,"next_page_token":"%d"`, to)
		}
		writeJSON(w, 200, `{"jobs":[`+strings.Join(jobsJSON[from:to], ",")+`]`+next+`}`)
	})
}

func TestListJobs(t *testing.T) {
	five := []string{
		`{"job_id":1,"settings":{"name":"Daily"}}`,
		`{"job_id":2,"settings":{"name":"daily"}}`,
		`{"job_id":3,"settings":{"name":"DAILY"}}`,
		`{"job_id":4,"settings":{"name":"Daily"}}`,
		`{"job_id":5}`,
	}
	tests := []struct {
		name         string
		jobs         []string
		filter       string
		max          int
		want         []Job
		wantRequests int
		wantQuery    string // of the first request
	}{
		{
			name: "pages through until the API has no more", jobs: five, filter: "Daily", max: 10,
			want:         []Job{{1, "Daily"}, {2, "daily"}, {3, "DAILY"}, {4, "Daily"}, {5, ""}},
			wantRequests: 3, wantQuery: "limit=10&name=Daily",
		},
		{
			name: "stops at max", jobs: five, max: 3,
			want:         []Job{{1, "Daily"}, {2, "daily"}, {3, "DAILY"}},
			wantRequests: 2, wantQuery: "limit=3",
		},
		{
			name: "max <= 0 means the default, pages of at most 100", jobs: five, max: 0,
			want:         []Job{{1, "Daily"}, {2, "daily"}, {3, "DAILY"}, {4, "Daily"}, {5, ""}},
			wantRequests: 3, wantQuery: "limit=100",
		},
		{
			name: "nothing found is an empty list", jobs: nil, filter: "nope", max: 10,
			want: []Job{}, wantRequests: 1, wantQuery: "limit=10&name=nope",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := listJobsUpstream(t, 2, tt.jobs)
			c := newTestClient(t, u.srv.URL)
			got, err := c.ListJobs(userCtx(t, "tok"), tt.filter, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("jobs = %#v, want %#v", got, tt.want)
			}
			reqs := u.requests()
			if len(reqs) != tt.wantRequests {
				t.Errorf("requests = %d, want %d", len(reqs), tt.wantRequests)
			}
			if len(reqs) > 0 && (reqs[0].Path != "/api/2.2/jobs/list" || reqs[0].Query != tt.wantQuery) {
				t.Errorf("first request = %s?%s, want /api/2.2/jobs/list?%s", reqs[0].Path, reqs[0].Query, tt.wantQuery)
			}
		})
	}
}

// outputsUpstream serves get-output; task run 13 fails if failRun is set.
func outputsUpstream(t *testing.T, failRun int64) (*upstream, *sync.Map, *atomic.Int32) {
	calls := &sync.Map{} // run id → *atomic.Int32
	var inFlight, maxInFlight atomic.Int32
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		if r.URL.Path != "/api/2.2/jobs/runs/get-output" {
			writeJSON(w, 404, `{"error_code":"ENDPOINT_NOT_FOUND","message":"no"}`)
			return
		}
		id, _ := strconv.ParseInt(r.URL.Query().Get("run_id"), 10, 64)
		v, _ := calls.LoadOrStore(id, &atomic.Int32{})
		v.(*atomic.Int32).Add(1)
		switch {
		case id == failRun:
			writeJSON(w, 400, `{"error_code":"INVALID_PARAMETER_VALUE","message":"Run `+strconv.FormatInt(id, 10)+` does not exist."}`)
		case id%2 == 0:
			writeJSON(w, 200, fmt.Sprintf(`{"error":"ValueError: bad input %d","error_trace":"Traceback...\nValueError: bad input %d","metadata":{"run_id":%d}}`, id, id, id))
		default:
			writeJSON(w, 200, fmt.Sprintf(`{"notebook_output":{"result":"out-%d","truncated":%v},"metadata":{"run_id":%d}}`, id, id == 11, id))
		}
	})
	return u, calls, &maxInFlight
}

func TestRunOutputsCallsGetOutputOncePerTaskRunInTaskOrder(t *testing.T) {
	u, calls, maxInFlight := outputsUpstream(t, -1)
	c := newTestClient(t, u.srv.URL)

	run := Run{RunID: 100, Tasks: []TaskRun{{TaskKey: "never-started", RunID: 0}}}
	var want []TaskOutput
	want = append(want, TaskOutput{TaskKey: "never-started"})
	for id := int64(11); id <= 22; id++ {
		key := fmt.Sprintf("task-%d", id)
		run.Tasks = append(run.Tasks, TaskRun{TaskKey: key, RunID: id})
		if id%2 == 0 {
			want = append(want, TaskOutput{TaskKey: key, RunID: id,
				Error: fmt.Sprintf("ValueError: bad input %d", id), ErrorTrace: fmt.Sprintf("Traceback...\nValueError: bad input %d", id)})
		} else {
			want = append(want, TaskOutput{TaskKey: key, RunID: id, Result: fmt.Sprintf("out-%d", id), Truncated: id == 11})
		}
	}

	got, err := c.RunOutputs(userCtx(t, "tok"), run)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outputs\n got: %+v\nwant: %+v", got, want)
	}
	for id := int64(11); id <= 22; id++ {
		v, ok := calls.Load(id)
		if !ok || v.(*atomic.Int32).Load() != 1 {
			t.Errorf("get-output for task run %d: called %v times, want 1", id, v)
		}
	}
	if u.count() != 12 {
		t.Errorf("requests = %d, want 12 (none for the task without a run id, none for the job run)", u.count())
	}
	if m := maxInFlight.Load(); m > outputConcurrency {
		t.Errorf("%d get-output calls in flight at once, want at most %d", m, outputConcurrency)
	}
}

func TestRunOutputsEdgeCases(t *testing.T) {
	t.Run("run without tasks: the run's own id", func(t *testing.T) {
		u, _, _ := outputsUpstream(t, -1)
		c := newTestClient(t, u.srv.URL)
		got, err := c.RunOutputs(userCtx(t, "tok"), Run{RunID: 33})
		if err != nil {
			t.Fatal(err)
		}
		if want := []TaskOutput{{RunID: 33, Result: "out-33"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("nothing to ask: empty, no request", func(t *testing.T) {
		u, _, _ := outputsUpstream(t, -1)
		c := newTestClient(t, u.srv.URL)
		got, err := c.RunOutputs(userCtx(t, "tok"), Run{})
		if err != nil || got == nil || len(got) != 0 || u.count() != 0 {
			t.Errorf("got %v, %v after %d requests; want [], nil, 0", got, err, u.count())
		}
	})
	t.Run("one failing task fails the call", func(t *testing.T) {
		u, _, _ := outputsUpstream(t, 13)
		c := newTestClient(t, u.srv.URL)
		run := Run{RunID: 1, Tasks: []TaskRun{{TaskKey: "a", RunID: 11}, {TaskKey: "b", RunID: 13}, {TaskKey: "c", RunID: 15}}}
		got, err := c.RunOutputs(userCtx(t, "tok"), run)
		if !errors.Is(err, ErrRunNotFound) || got != nil {
			t.Errorf("got %v, %v; want nil, ErrRunNotFound", got, err)
		}
	})
}

func TestTaskOutputCutsLongErrorTraces(t *testing.T) {
	long := "Traceback (most recent call last):\n" + strings.Repeat("  File \"/x.py\", line 1, in f\n", 5000) + "ValueError: the real reason"
	body, _ := json.Marshal(map[string]any{"error": "ValueError: the real reason", "error_trace": long,
		"notebook_output": map[string]any{"result": "partial", "truncated": true}})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, string(body)) })
	c := newTestClient(t, u.srv.URL)

	out, err := c.TaskOutput(userCtx(t, "tok"), 77)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.requests()[0]; got.Path != "/api/2.2/jobs/runs/get-output" || got.Query != "run_id=77" {
		t.Errorf("request = %s?%s", got.Path, got.Query)
	}
	if out.RunID != 77 || out.TaskKey != "" || out.Result != "partial" || !out.Truncated || out.Error != "ValueError: the real reason" {
		t.Errorf("output = %+v", out)
	}
	if len(out.ErrorTrace) > MaxErrorTraceBytes || !strings.Contains(out.ErrorTrace, "bytes omitted") {
		t.Errorf("error_trace: %d bytes, marker present: %v", len(out.ErrorTrace), strings.Contains(out.ErrorTrace, "bytes omitted"))
	}
	if !strings.HasPrefix(out.ErrorTrace, "Traceback (most recent call last):") || !strings.HasSuffix(out.ErrorTrace, "ValueError: the real reason") {
		t.Error("error_trace lost its head or its tail")
	}
}

// Jobs API 2.2 returns at most 100 tasks per runs/get answer; GetRun follows
// next_page_token and returns them all.
func TestGetRunFollowsTaskPages(t *testing.T) {
	const tasks = 250
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		from, _ := strconv.Atoi(r.URL.Query().Get("page_token"))
		to := min(from+100, tasks)
		var ts []string
		for i := from; i < to; i++ {
			ts = append(ts, fmt.Sprintf(`{"task_key":"t%03d","run_id":%d,"status":{"state":"RUNNING"}}`, i, 1000+i))
		}
		next := ""
		if to < tasks {
			next = fmt.Sprintf(`,"next_page_token":"%d"`, to)
		}
		writeJSON(w, 200, `{"run_id":5001,"status":{"state":"RUNNING"},"tasks":[`+strings.Join(ts, ",")+`]`+next+`}`)
	})
	c := newTestClient(t, u.srv.URL)

	run, err := c.GetRun(userCtx(t, "tok"), 5001)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Tasks) != tasks {
		t.Fatalf("tasks = %d, want %d", len(run.Tasks), tasks)
	}
	for i, task := range run.Tasks {
		if want := fmt.Sprintf("t%03d", i); task.TaskKey != want || task.RunID != int64(1000+i) {
			t.Fatalf("task %d = %+v, want %s", i, task, want)
		}
	}
	var queries []string
	for _, r := range u.requests() {
		queries = append(queries, r.Query)
	}
	if want := []string{"include_history=true&run_id=5001", "include_history=true&page_token=100&run_id=5001", "include_history=true&page_token=200&run_id=5001"}; !reflect.DeepEqual(queries, want) {
		t.Errorf("queries = %q, want %q", queries, want)
	}
}

func TestGetRunStopsAtEndlessPages(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"run_id":1,"tasks":[],"next_page_token":"again"}`)
	})
	c := newTestClient(t, u.srv.URL)
	_, err := c.GetRun(userCtx(t, "tok"), 1)
	if !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v, want ErrUpstream", err)
	}
	if n := u.count(); n != maxRunPages {
		t.Errorf("requests = %d, want %d", n, maxRunPages)
	}
}
