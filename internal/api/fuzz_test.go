package api

// Fuzz targets for the parts of the HTTP surface that read untrusted input before any upstream
// call: the run-now body decoder and the {run_id} path parameter. Their seed corpora live in
// testdata/fuzz/<target>/ and run with every `go test ./...`; explore further with
//
//	go test -run '^$' -fuzz FuzzDecodeRunNow -fuzztime 2m ./internal/api
//	go test -run '^$' -fuzz FuzzRunIDPath -fuzztime 2m ./internal/api
//
// Properties: no input panics or causes a 5xx; nothing invalid is accepted; every refusal is a
// problem document with a 4xx status that never carries a token-shaped string.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
	"github.com/flowbricks/flowbricks/internal/redact"
)

// fuzzToken is the one bearer token the fuzz server accepts. It is JWT-shaped so that any echo of
// it would also be caught by the token-shape check.
const fuzzToken = "eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJmdXp6In0.c2lnbmF0dXJl"

type fuzzAuth struct{}

func (fuzzAuth) Validate(_ context.Context, header string) (entra.Principal, entra.Token, error) {
	if header != "Bearer "+fuzzToken {
		return entra.Principal{}, "", &entra.InvalidTokenError{Reason: "signature invalid"}
	}
	return entra.Principal{Kind: entra.User, ObjectID: "oid-fuzz", TenantID: "tid"}, fuzzToken, nil
}

type fuzzExchanger struct{}

func (fuzzExchanger) TokenFor(context.Context, entra.Principal, entra.Token) (entra.Token, time.Time, error) {
	return "dbx-fuzz", time.Now().Add(time.Hour), nil
}

func (fuzzExchanger) Refresh(context.Context, entra.Principal, entra.Token, entra.Token) (entra.Token, time.Time, error) {
	return "dbx-fuzz-fresh", time.Now().Add(time.Hour), nil
}

// fuzzJobs knows every run id (a run of job 101) and records the ids it was asked for.
type fuzzJobs struct {
	mu  sync.Mutex
	ids []int64
	noSQL
}

func (j *fuzzJobs) record(id int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ids = append(j.ids, id)
}

func (j *fuzzJobs) asked() []int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]int64(nil), j.ids...)
}

func (j *fuzzJobs) RunNow(context.Context, databricks.RunNowRequest) (int64, error) { return 1, nil }
func (j *fuzzJobs) GetRun(_ context.Context, id int64) (databricks.Run, error) {
	j.record(id)
	return databricks.Run{RunID: id, JobID: 101, State: "RUNNING", Tasks: []databricks.TaskRun{}}, nil
}
func (j *fuzzJobs) RunOutputs(context.Context, databricks.Run) ([]databricks.TaskOutput, error) {
	return nil, nil
}
func (j *fuzzJobs) CancelRun(_ context.Context, id int64) error { j.record(id); return nil }
func (j *fuzzJobs) ListJobs(context.Context, string, int) ([]databricks.Job, error) {
	return nil, nil
}
func (j *fuzzJobs) ListRuns(context.Context, databricks.ListRunsRequest) ([]databricks.Run, error) {
	return nil, nil
}
func (j *fuzzJobs) RepairRun(_ context.Context, r databricks.RepairRequest) (int64, error) {
	j.record(r.RunID)
	return 1, nil
}

func newFuzzServer(jobs *fuzzJobs) http.Handler {
	return NewServer(Deps{
		Config:         config.Config{PublicURL: "https://flowbricks.example", PollInterval: time.Second},
		Logger:         zerolog.New(io.Discard),
		Auth:           fuzzAuth{},
		Exchanger:      fuzzExchanger{},
		Workspaces:     map[string]Workspace{"default": jobs},
		RequestTimeout: 5 * time.Second,
	})
}

// checkProblem asserts that a refusal is a well-formed 4xx problem without a token in it.
func checkProblem(t *testing.T, status int, body []byte, allowed map[int]string) {
	t.Helper()
	var p problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("refusal is not a problem document: %v: %q", err, body)
	}
	if code, ok := allowed[status]; !ok || (code != "" && p.Code != code) || p.Status != status {
		t.Fatalf("refused with %d %q, want one of %v: %s", status, p.Code, allowed, body)
	}
	if redact.JWT.Match(body) || bytes.Contains(body, []byte(fuzzToken)) {
		t.Fatalf("the problem echoes a token: %s", body)
	}
	if len(p.Detail) > maxDetail+len("…") {
		t.Fatalf("detail of %d bytes", len(p.Detail))
	}
}

// FuzzDecodeRunNow feeds arbitrary bodies and content types to decode[runNowRequest], the way
// handleRunNow reads them.
func FuzzDecodeRunNow(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{"application/json", `{"job_id": 101}`},
		{"application/json; charset=utf-8", `{"job_name": "daily-sales-refresh", "job_parameters": {"date": "2026-11-28"}, "queue": true}`},
		{"", `{"job_id": 103, "only": ["ingest"], "idempotency_token": "fb-1"}`},
		{"application/problem+json", `{"job_id": 104, "notebook_params": {"a": "b"}, "python_params": ["x"], "python_named_params": {"k": "v"}}`},
		{"application/json", `{"job_id": 101, "jar_params": ["1"], "sql_params": {"p": "q"}}`},
		{"application/json", `{"job_id": 101}]`},
		{"application/json", `{"JOB_ID": 101}`},
		{"application/json", `{"job_id": 101, "job_id": 102}`},
		{"application/json", `{"` + fuzzToken + `": 1}`},
		{"application/json", `{"job_id": "` + fuzzToken + `"}`},
		{"text/plain", `job_id=101`},
		{"application/json", `null`},
		{"application/json", `[]`},
		{"application/json", `{"job_id": 1e3}`},
		{"application/json", `{"job_id": -1}`},
		{"application/json", `{"job_id": 9223372036854775808}`},
		{"application/json", "{\"job_id\": 101, \"python_params\": [\"\u00e9\"]}"},
		{"application/json", `{"job_parameters": {"": "x"}, "job_id": 1}`},
		{"application/json", ""},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/jobs/run-now", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if strings.ContainsAny(contentType, "\r\n") {
			r.Header.Del("Content-Type") // not representable on the wire
		}
		req, err := decode[runNowRequest](r)
		if err != nil {
			var p *problem
			if !errors.As(err, &p) {
				t.Fatalf("decode returned %T (%v), want a problem", err, err)
			}
			rec := httptest.NewRecorder()
			writeProblem(rec, r, err)
			checkProblem(t, rec.Code, rec.Body.Bytes(), map[int]string{
				http.StatusBadRequest: "invalid_request", http.StatusRequestEntityTooLarge: "payload_too_large",
				http.StatusUnsupportedMediaType: "unsupported_media_type",
			})
			return
		}

		// Accepted: exactly one JSON object of known, exactly named, unique fields within the size
		// limit, which validates and survives a round trip unchanged.
		trimmed := bytes.TrimSpace(body)
		if len(body) > maxBodyBytes || !json.Valid(trimmed) || trimmed[0] != '{' {
			t.Fatalf("accepted a body that is not one JSON object within %d bytes: %q", maxBodyBytes, body)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &fields); err != nil {
			t.Fatal(err)
		}
		names := jsonFieldNames(reflect.TypeFor[runNowRequest]())
		for name := range fields {
			if !containsString(names, name) {
				t.Fatalf("accepted unknown field %q in %q", name, body)
			}
		}
		if err := req.validate(); err != nil {
			t.Fatalf("accepted a request that does not validate: %v", err)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var back runNowRequest
		dec := json.NewDecoder(bytes.NewReader(again))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil || !reflect.DeepEqual(normalize(back), normalize(req)) {
			t.Fatalf("round trip changed the request: %+v → %s → %+v (%v)", req, again, back, err)
		}
	})
}

// normalize makes empty and nil collections compare equal (omitempty drops both).
func normalize(q runNowRequest) runNowRequest {
	emptyMap := func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return nil
		}
		return m
	}
	emptySlice := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	q.JobParameters, q.NotebookParams = emptyMap(q.JobParameters), emptyMap(q.NotebookParams)
	q.PythonNamedParams, q.SQLParams = emptyMap(q.PythonNamedParams), emptyMap(q.SQLParams)
	q.PythonParams, q.JarParams, q.Only = emptySlice(q.PythonParams), emptySlice(q.JarParams), emptySlice(q.Only)
	return q
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzRunIDPath sends arbitrary {run_id} path segments through the router to the three routes
// that take one.
func FuzzRunIDPath(f *testing.F) {
	for _, seed := range []string{
		"5001", "412000000000001", "9223372036854775807", "9223372036854775808", "0", "-1", "+7", "007",
		"1e3", "0x10", " 1", "1 ", "abc", "", "%2F", "1/2", "١٢٣", fuzzToken, "1;DROP", "..", strings.Repeat("9", 100),
	} {
		f.Add(seed)
	}
	jobs := &fuzzJobs{}
	srv := newFuzzServer(jobs)
	f.Fuzz(func(t *testing.T, seg string) {
		for _, route := range []struct{ method, suffix string }{
			{http.MethodGet, ""}, {http.MethodGet, "/output"}, {http.MethodPost, "/cancel"},
		} {
			r := httptest.NewRequest(route.method, "/api/jobs/runs/1"+route.suffix, nil)
			r.URL.Path = "/api/jobs/runs/" + seg + route.suffix // any bytes, as a host could forward them
			r.URL.RawPath = ""
			r.Header.Set("Authorization", "Bearer "+fuzzToken)
			before := len(jobs.asked())
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, r)

			want, err := strconv.ParseInt(seg, 10, 64)
			parses := err == nil && want > 0
			switch {
			case rec.Code == http.StatusOK:
				asked := jobs.asked()
				if len(asked) == before || asked[len(asked)-1] <= 0 {
					t.Fatalf("%s %q answered 200 without asking the workspace for a positive run id: %v", route.method, r.URL.Path, asked[before:])
				}
				// A segment with a slash may route elsewhere ("1/output"); any other must be the id.
				if !strings.Contains(seg, "/") && (!parses || asked[len(asked)-1] != want) {
					t.Fatalf("%s %q answered 200 but the workspace was asked for %v (want run %d, parses=%v)",
						route.method, r.URL.Path, asked[before:], want, parses)
				}
			case parses && !strings.Contains(seg, "/"):
				t.Fatalf("%s %q: valid run id refused with %d: %s", route.method, r.URL.Path, rec.Code, rec.Body)
			default:
				if len(jobs.asked()) != before {
					t.Fatalf("%s %q: refused, but the workspace was called", route.method, r.URL.Path)
				}
				// 400 for a bad id; 404/405 when the segment changes which route matches (e.g. "a/b").
				checkProblem(t, rec.Code, rec.Body.Bytes(), map[int]string{
					http.StatusBadRequest: "invalid_request", http.StatusNotFound: "not_found", http.StatusMethodNotAllowed: "method_not_allowed",
				})
			}
		}
	})
}
