package fakeworkspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/apierr"
	"github.com/databricks/databricks-sdk-go/service/jobs"
)

func TestListJobsPagesWithTheSDKIterator(t *testing.T) {
	h := newHarness(t, testConfig())
	cases := []struct {
		name      string
		user      string
		req       jobs.ListJobsRequest
		wantCount int
		wantIDs   string // when set: the exact ids
		wantPages int64
	}{
		// 6 configured jobs + 16 filler jobs that every workspace principal may view.
		{name: "alice sees all, 5 per page", user: "alice", req: jobs.ListJobsRequest{Limit: 5}, wantCount: 22, wantPages: 5},
		{name: "bob does not see the private job", user: "bob", req: jobs.ListJobsRequest{Limit: 7}, wantCount: 21, wantPages: 3},
		{name: "dave (no ACL entries) sees the filler jobs only", user: "dave", req: jobs.ListJobsRequest{Limit: 100}, wantCount: 16, wantPages: 1},
		{name: "the default page size is 20", user: "admin", req: jobs.ListJobsRequest{}, wantCount: 22, wantPages: 2},
		{name: "name is an exact, case-insensitive filter", user: "alice", req: jobs.ListJobsRequest{Name: "DUPLICATE-name", Limit: 1}, wantIDs: "4,5", wantPages: 2},
		{name: "a name nobody has", user: "alice", req: jobs.ListJobsRequest{Name: "duplicate"}, wantIDs: "", wantPages: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.ws.Stats().JobsList
			got, err := h.jobs.ListAll(h.as(c.user), c.req)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			seen := map[int64]bool{}
			for i, j := range got {
				if seen[j.JobId] || (i > 0 && j.JobId < got[i-1].JobId) {
					t.Fatalf("job %d repeated or out of order", j.JobId)
				}
				seen[j.JobId] = true
				if j.Settings == nil || j.Settings.Name == "" || j.CreatedTime == 0 {
					t.Errorf("job %d: settings %+v created %d", j.JobId, j.Settings, j.CreatedTime)
				}
				ids = append(ids, fmt.Sprint(j.JobId))
			}
			if c.wantIDs != "" || c.wantCount == 0 {
				if strings.Join(ids, ",") != c.wantIDs {
					t.Errorf("ids %v, want %s", ids, c.wantIDs)
				}
			} else if len(got) != c.wantCount {
				t.Errorf("%d jobs, want %d", len(got), c.wantCount)
			}
			if pages := h.ws.Stats().JobsList - before; pages != c.wantPages {
				t.Errorf("%d list requests, want %d", pages, c.wantPages)
			}
		})
	}

	t.Run("expand_tasks adds the tasks", func(t *testing.T) {
		got, err := h.jobs.ListAll(h.as("alice"), jobs.ListJobsRequest{Name: "pipeline", ExpandTasks: true})
		if err != nil || len(got) != 1 || len(got[0].Settings.Tasks) != 3 || got[0].Settings.Tasks[1].DependsOn[0].TaskKey != "ingest" {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("pages carry next and prev tokens, and has_more while there is a next page", func(t *testing.T) {
		_, _, first := h.rawJSON("GET", PathJobsList+"?limit=5", "tok-alice", "")
		next, _ := first["next_page_token"].(string)
		if next == "" || first["has_more"] != true || first["prev_page_token"] != nil {
			t.Fatalf("first page: %v", first)
		}
		_, _, second := h.rawJSON("GET", PathJobsList+"?limit=5&page_token="+next, "tok-alice", "")
		prev, _ := second["prev_page_token"].(string)
		_, _, all := h.rawJSON("GET", PathJobsList+"?limit=100", "tok-alice", "")
		if all["has_more"] != nil || all["next_page_token"] != nil {
			t.Errorf("the last page has neither has_more nor next_page_token: %v", all)
		}
		_, _, back := h.rawJSON("GET", PathJobsList+"?limit=5&page_token="+prev, "tok-alice", "")
		if fmt.Sprint(back["jobs"]) != fmt.Sprint(first["jobs"]) {
			t.Errorf("prev_page_token of page 2 did not lead back to page 1")
		}
		status, _, bad := h.rawJSON("GET", PathJobsList+"?page_token=garbage!", "tok-alice", "")
		if status != 400 || bad["error_code"] != "INVALID_PARAMETER_VALUE" {
			t.Errorf("bad page token: %d %v", status, bad)
		}
	})
	t.Run("get returns the settings", func(t *testing.T) {
		j, err := h.jobs.Get(h.as("bob"), jobs.GetJobRequest{JobId: 3})
		if err != nil || j.Settings.Name != "limited" || j.Settings.MaxConcurrentRuns != 1 || len(j.Settings.Tasks) != 1 || j.JobId != 3 {
			t.Fatalf("got %+v, %v", j, err)
		}
	})
}

func TestFaults(t *testing.T) {
	t.Run("a lost run-now response retried by the SDK with an idempotency token creates exactly one run", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testConfig())
		if err := h.ws.InjectFault(Fault{Path: PathRunNow, Status: 503, Count: 1, AfterEffect: true}); err != nil {
			t.Fatal(err)
		}
		id := h.runNow("alice", jobs.RunNow{JobId: 1, IdempotencyToken: "fb-lost-response"})
		st := h.ws.Stats()
		if st.RunNow != 2 || st.RunsCreated != 1 || st.IdempotentReplays != 1 || st.FaultsServed != 1 {
			t.Errorf("stats %+v; want 2 run-now calls, 1 run created, 1 replay, 1 fault", st)
		}
		if r := h.getRun("alice", id); r.RunId != id {
			t.Errorf("run %d not found", id)
		}
	})
	t.Run("without an idempotency token the same lost response creates a duplicate run", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testConfig())
		if err := h.ws.InjectFault(Fault{Path: PathRunNow, Status: 503, Count: 1, AfterEffect: true, HTML: true}); err != nil {
			t.Fatal(err)
		}
		h.runNow("alice", jobs.RunNow{JobId: 1})
		if st := h.ws.Stats(); st.RunsCreated != 2 {
			t.Errorf("runs_created %d, want 2", st.RunsCreated)
		}
	})
	t.Run("429 is retried by the SDK", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, testConfig())
		id := h.runNow("alice", jobs.RunNow{JobId: 1})
		if err := h.ws.InjectFault(Fault{Path: PathRunsGet, Status: 429, Count: 1}); err != nil {
			t.Fatal(err)
		}
		if r := h.getRun("alice", id); r.RunId != id {
			t.Errorf("GetRun after a 429: run %d", r.RunId)
		}
		if st := h.ws.Stats(); st.RunsGet != 2 || st.FaultsServed != 1 {
			t.Errorf("runs_get %d faults %d; want 2, 1", st.RunsGet, st.FaultsServed)
		}
	})

	h := newHarness(t, testConfig())
	id := h.runNow("alice", jobs.RunNow{JobId: 1})
	cases := []struct {
		name     string
		fault    Fault
		status   int
		code     string
		is       error
		attempts int64
	}{
		{"500 is not retried", Fault{Status: 500, Count: 1}, 500, "INTERNAL_ERROR", apierr.ErrInternalError, 1},
		{"502 gateway HTML is UNKNOWN and not retried", Fault{Status: 502, Count: 1, HTML: true}, 502, "UNKNOWN", apierr.ErrUnknown, 1},
		{"504 gateway HTML is UNKNOWN and not retried", Fault{Status: 504, Count: 1, HTML: true}, 504, "UNKNOWN", apierr.ErrUnknown, 1},
		{"504 JSON", Fault{Path: PathRunsGet, Status: 504, Count: 1}, 504, "DEADLINE_EXCEEDED", apierr.ErrDeadlineExceeded, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.ws.ClearFaults()
			if err := h.ws.InjectFault(c.fault); err != nil {
				t.Fatal(err)
			}
			before := h.ws.Stats().RunsGet
			_, err := h.jobs.GetRun(h.as("alice"), jobs.GetRunRequest{RunId: id})
			var ae *apierr.APIError
			if !errors.As(err, &ae) || ae.StatusCode != c.status || ae.ErrorCode != c.code || !errors.Is(err, c.is) {
				t.Fatalf("got %v (%+v); want %d %s", err, ae, c.status, c.code)
			}
			if n := h.ws.Stats().RunsGet - before; n != c.attempts {
				t.Errorf("%d attempts, want %d", n, c.attempts)
			}
		})
	}
	t.Run("429 carries Retry-After and a Databricks body", func(t *testing.T) {
		h.ws.ClearFaults()
		_ = h.ws.InjectFault(Fault{Status: 429, Count: 1})
		status, hdr, body := h.rawJSON("GET", PathJobsGet+"?job_id=1", "tok-alice", "")
		if status != 429 || hdr.Get("Retry-After") != "1" || body["error_code"] != "REQUEST_LIMIT_EXCEEDED" {
			t.Errorf("got %d Retry-After=%q %v", status, hdr.Get("Retry-After"), body)
		}
	})
	t.Run("a fault on one path leaves the others alone, and Count runs out", func(t *testing.T) {
		h.ws.ClearFaults()
		_ = h.ws.InjectFault(Fault{Path: PathRunNow, Status: 503, Count: 1})
		if _, err := h.jobs.Get(h.as("alice"), jobs.GetJobRequest{JobId: 1}); err != nil {
			t.Errorf("jobs/get with a run-now fault: %v", err)
		}
		if status, _, _ := h.rawJSON("POST", PathRunNow, "tok-alice", `{"job_id":1}`); status != 503 {
			t.Errorf("first run-now: %d, want 503", status)
		}
		if status, _, _ := h.rawJSON("POST", PathRunNow, "tok-alice", `{"job_id":1}`); status != 200 {
			t.Errorf("second run-now: %d, want 200", status)
		}
	})
	t.Run("nonsense faults are refused", func(t *testing.T) {
		for _, f := range []Fault{{Status: 200}, {}, {Status: 503, Count: -1}, {Status: 503, Path: "api/2.2/jobs/get"}} {
			if err := h.ws.InjectFault(f); err == nil {
				t.Errorf("InjectFault(%+v) accepted", f)
			}
		}
	})
}

func TestLatencyFaultStopsWhenTheClientGoesAway(t *testing.T) {
	ws, err := New(Config{Verify: verify, Users: []string{aliceUPN}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.InjectFault(Fault{LatencyMs: int(time.Hour / time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, "GET", PathJobsList, nil)
	req.Header.Set("Authorization", "Bearer tok-alice")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	var aborted any
	go func() {
		// An interrupted delay aborts the answer (net/http's server recovers this panic and
		// closes the connection) rather than sending an empty 200.
		defer func() { aborted = recover(); close(done) }()
		ws.ServeHTTP(rec, req)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a bound for a broken implementation, not a timing assertion
		t.Fatal("the handler kept sleeping after the client went away")
	}
	if aborted != http.ErrAbortHandler {
		t.Errorf("the interrupted delay ended with %v and wrote %d %q, want the answer aborted (http.ErrAbortHandler)", aborted, rec.Code, rec.Body.String())
	}
	if st := ws.Stats(); st.FaultsServed != 1 || st.RequestsByPrincipal[aliceUPN] != 0 {
		t.Errorf("stats %+v; want the fault counted and the request never processed", st)
	}
}

func TestLatencyFaultDelaysThenAnswers(t *testing.T) {
	h := newHarness(t, testConfig())
	_ = h.ws.InjectFault(Fault{Path: PathJobsGet, LatencyMs: 20, Count: 1})
	if _, err := h.jobs.Get(h.as("alice"), jobs.GetJobRequest{JobId: 1}); err != nil {
		t.Fatal(err)
	}
	if st := h.ws.Stats(); st.FaultsServed != 1 {
		t.Errorf("faults_served %d, want 1", st.FaultsServed)
	}
}

func TestDevstackEndpoints(t *testing.T) {
	h := newHarness(t, testConfig())
	if status, _, body := h.rawJSON("POST", "/devstack/faults", "", `{"path":"/api/2.2/jobs/get","status":503,"count":2,"html":true}`); status != 200 ||
		fmt.Sprint(body["faults"]) != "[map[after_effect:false count:2 html:true latency_ms:0 path:/api/2.2/jobs/get status:503]]" {
		t.Fatalf("POST /devstack/faults: %d %v", status, body)
	}
	if status, _, _ := h.rawJSON("POST", "/devstack/faults", "", `{"status":200}`); status != 400 {
		t.Errorf("invalid fault: %d, want 400", status)
	}
	if status, _, _ := h.rawJSON("POST", "/devstack/faults", "", `{"statuss":503}`); status != 400 {
		t.Errorf("unknown field: %d, want 400", status)
	}
	resp := h.raw("GET", PathJobsGet+"?job_id=1", "tok-alice", "")
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(b), "No webapps are available") {
		t.Errorf("faulted jobs/get: %d %s", resp.StatusCode, b)
	}
	if status := h.raw("DELETE", "/devstack/faults", "", "").StatusCode; status != 204 {
		t.Errorf("DELETE /devstack/faults: %d", status)
	}
	if status, _, _ := h.rawJSON("GET", PathJobsGet+"?job_id=1", "tok-alice", ""); status != 200 {
		t.Errorf("jobs/get after clearing faults: %d", status)
	}
	status, _, stats := h.rawJSON("GET", "/devstack/stats", "", "")
	for _, k := range []string{"requests_total", "run_now", "runs_get", "runs_get_output", "runs_cancel", "jobs_list", "jobs_get",
		"well_known", "runs_created", "idempotent_replays", "faults_served", "unauthorized", "forbidden",
		"requests_by_principal", "authorization_headers_seen"} {
		if _, ok := stats[k]; !ok {
			t.Errorf("stats has no %q", k)
		}
	}
	if status != 200 || stats["jobs_get"] != 2.0 || stats["requests_total"] != 2.0 || stats["faults_served"] != 1.0 {
		t.Errorf("stats: %d %v (devstack requests must not count)", status, stats)
	}
}

func TestWireDetails(t *testing.T) {
	h := newHarness(t, testConfig())
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            any
		message                         string
	}{
		{"unknown endpoint", "GET", "/api/2.2/jobs/nope", "tok-alice", "", 404, "ENDPOINT_NOT_FOUND", "No API found for 'GET /jobs/nope'"},
		{"Jobs API 2.1 is not what the SDK calls", "GET", "/api/2.1/jobs/get?job_id=1", "tok-alice", "", 404, "ENDPOINT_NOT_FOUND", "No API found for 'GET /jobs/get'"},
		{"wrong method", "POST", PathJobsGet, "tok-alice", "{}", 404, "ENDPOINT_NOT_FOUND", "No API found for 'POST /jobs/get'"},
		{"no credentials", "GET", PathJobsGet + "?job_id=1", "", "", 401, 401.0, "Credential was not sent or was of an unsupported type for this API."},
		{"malformed run-now body", "POST", PathRunNow, "tok-alice", `{"job_id":"one"}`, 400, "MALFORMED_REQUEST", ""},
		{"run-now without job_id", "POST", PathRunNow, "tok-alice", `{}`, 400, "INVALID_PARAMETER_VALUE", "Job 0 does not exist."},
		{"the SDK's discovery document is not served", "GET", PathWellKnown, "", "", 404, "ENDPOINT_NOT_FOUND", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := h.rawJSON(c.method, c.path, c.token, c.body)
			if status != c.status || body["error_code"] != c.code || (c.message != "" && body["message"] != c.message) {
				t.Errorf("got %d %v; want %d %v %q", status, body, c.status, c.code, c.message)
			}
			if hdr.Get("X-Request-Id") == "" || hdr.Get("X-Databricks-Org-Id") != "1234567890123456" {
				t.Errorf("headers %v", hdr)
			}
		})
	}
	t.Run("the Jetty page for a principal not in the workspace", func(t *testing.T) {
		resp := h.raw("GET", PathRunsGet+"?run_id=1", "tok-carol", "")
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(b), "<pre>    User not authorized.</pre>") || !strings.Contains(string(b), "Problem accessing /api/2.2/jobs/runs/get.") {
			t.Errorf("got %d %s", resp.StatusCode, b)
		}
	})
	if st := h.ws.Stats(); st.WellKnown != 1 || st.EndpointNotFound != 3 {
		t.Errorf("well_known %d endpoint_not_found %d; want 1, 3", st.WellKnown, st.EndpointNotFound)
	}
	h.wellKnownByTest = 1 // the raw call above; the SDK client itself still must not make one
}

func TestConcurrentUsersOnOneClient(t *testing.T) {
	h := newHarness(t, testConfig())
	const workers, perWorker = 8, 10
	users := []string{"alice", "sp"}
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := users[w%len(users)]
			for i := range perWorker {
				resp, err := h.jobs.RunNow(h.as(user), jobs.RunNow{JobId: 1, IdempotencyToken: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					errs <- err
					return
				}
				r, err := h.jobs.GetRun(h.as(user), jobs.GetRunRequest{RunId: resp.RunId})
				if err != nil {
					errs <- err
					return
				}
				if r.CreatorUserName == "" || (user == "sp") != (r.CreatorUserName == spAppID) {
					errs <- fmt.Errorf("run %d by %s has creator %q", r.RunId, user, r.CreatorUserName)
					return
				}
				h.clk.Advance(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := h.ws.Stats()
	if st.RunsCreated != workers*perWorker || st.AuthorizationHeadersSeen != 2 ||
		st.RequestsByPrincipal[aliceUPN] != workers/2*perWorker*2 || st.RequestsByPrincipal[spAppID] != workers/2*perWorker*2 {
		t.Errorf("stats %+v", st)
	}
}

func TestNewRejectsBrokenFixtures(t *testing.T) {
	task := []Task{{TaskKey: "t"}}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no Verify", Config{}, "Verify is required"},
		{"duplicate job id", Config{Jobs: []Job{{JobID: 1, Name: "a", Tasks: task}, {JobID: 1, Name: "b", Tasks: task}}}, "used twice"},
		{"filler collides", Config{FillerJobs: 1, Jobs: []Job{{JobID: 9001, Name: "a", Tasks: task}}}, "used twice"},
		{"no tasks", Config{Jobs: []Job{{JobID: 1, Name: "a"}}}, "at least one task"},
		{"unknown dependency", Config{Jobs: []Job{{JobID: 1, Name: "a", Tasks: []Task{{TaskKey: "x", DependsOn: []string{"y"}}}}}}, "unknown task"},
		{"cycle", Config{Jobs: []Job{{JobID: 1, Name: "a", Tasks: []Task{{TaskKey: "x", DependsOn: []string{"y"}}, {TaskKey: "y", DependsOn: []string{"x"}}}}}}, "cycle"},
		{"bad result", Config{Jobs: []Job{{JobID: 1, Name: "a", Tasks: []Task{{TaskKey: "x", Result: "SUCCEEDED"}}}}}, "SUCCESS or FAILED"},
		{"bad ACL level", Config{Jobs: []Job{{JobID: 1, Name: "a", Tasks: task, ACL: map[string]string{"x": "CAN_RUN"}}}}, "ACL level"},
		{"admin outside the workspace", Config{Admins: []string{"x@y"}}, "not a workspace user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name != "no Verify" {
				c.cfg.Verify = verify
			}
			if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := DecodeConfig(strings.NewReader(`{"jobs":[{"job_id":1,"name":"a","tasks":[{"task_key":"t"}],"runing_ms":5}]}`)); err == nil {
		t.Errorf("DecodeConfig accepted a misspelt field")
	}
}

// TestExampleFixture walks the story of testdata/workspace.json with the SDK.
func TestExampleFixture(t *testing.T) {
	h := newHarness(t, fixtureConfig(t))

	sales := h.runNow("alice", jobs.RunNow{JobId: 101, IdempotencyToken: "demo-1", JobParameters: map[string]string{"date": "2026-11-28"}})
	ingest := h.runNow("alice", jobs.RunNow{JobId: 102})
	pipeline := h.runNow("alice", jobs.RunNow{JobId: 103})
	backfill := h.runNow("alice", jobs.RunNow{JobId: 104})
	h.clk.Advance(10 * time.Second)

	r := h.getRun("bob", sales)
	if r.State.ResultState != jobs.RunResultStateSuccess || r.RunDuration > 4000 || r.RunDuration < 2000 {
		t.Errorf("daily-sales-refresh: %+v after %d ms", r.State, r.RunDuration)
	}
	out, err := h.jobs.GetRunOutput(h.as("bob"), jobs.GetRunOutputRequest{RunId: r.Tasks[0].RunId})
	if err != nil || out.NotebookOutput == nil || out.NotebookOutput.Result != `{"rows_written": 1234, "date": "2026-11-28"}` {
		t.Errorf("daily-sales-refresh output: %+v %v", out, err)
	}

	r = h.getRun("alice", ingest)
	if r.State.ResultState != jobs.RunResultStateFailed {
		t.Errorf("nightly-ingest: %+v", r.State)
	}
	out, err = h.jobs.GetRunOutput(h.as("alice"), jobs.GetRunOutputRequest{RunId: r.Tasks[0].RunId})
	if err != nil || !strings.HasPrefix(out.Error, "java.lang.RuntimeException: Source path abfss://raw@") || strings.Count(out.ErrorTrace, "\n") < 3 {
		t.Errorf("nightly-ingest output: %+v %v", out, err)
	}

	r = h.getRun("alice", pipeline)
	if r.State.ResultState != jobs.RunResultStateSuccess || len(r.Tasks) != 3 {
		t.Fatalf("sales-pipeline: %+v with %d tasks", r.State, len(r.Tasks))
	}
	for _, task := range r.Tasks {
		out, err := h.jobs.GetRunOutput(h.as("alice"), jobs.GetRunOutputRequest{RunId: task.RunId})
		if err != nil || out.NotebookOutput == nil || out.NotebookOutput.Result == "" {
			t.Errorf("sales-pipeline task %s output: %+v %v", task.TaskKey, out, err)
		}
	}

	h.clk.Advance(5 * time.Minute)
	if r := h.getRun("alice", backfill); r.Status.State != jobs.RunLifecycleStateV2StateRunning {
		t.Errorf("long-backfill after 5 min: %s, want RUNNING", r.Status.State)
	}
	h.clk.Advance(6 * time.Minute)
	if r := h.getRun("alice", backfill); r.State.ResultState != jobs.RunResultStateSuccess {
		t.Errorf("long-backfill after 11 min: %+v, want SUCCESS", r.State)
	}

	dups, err := h.jobs.ListAll(h.as("bob"), jobs.ListJobsRequest{Name: "duplicate-name"})
	if err != nil || len(dups) != 2 || dups[0].JobId != 201 || dups[1].JobId != 202 {
		t.Errorf("duplicate-name: %+v %v", dups, err)
	}
	all, err := h.jobs.ListAll(h.as("alice"), jobs.ListJobsRequest{Limit: 25})
	if err != nil || len(all) != 7+30 {
		t.Errorf("alice lists %d jobs (%v), want 37", len(all), err)
	}
	if _, err := h.jobs.RunNow(h.as("bob"), jobs.RunNow{JobId: 101}); !errors.Is(err, apierr.ErrPermissionDenied) {
		t.Errorf("bob runs 101: %v, want PERMISSION_DENIED", err)
	}
	var ae *apierr.APIError
	if _, err := h.jobs.Get(h.as("carol"), jobs.GetJobRequest{JobId: 101}); !errors.As(err, &ae) || ae.ErrorCode != "FORBIDDEN" {
		t.Errorf("carol: %v, want the Jetty 403", err)
	}
	if _, err := h.jobs.RunNow(h.as("sp"), jobs.RunNow{JobId: 101}); err != nil {
		t.Errorf("the flowbricks service principal runs 101: %v", err)
	}
}
