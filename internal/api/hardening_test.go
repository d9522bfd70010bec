package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/internal/databricks"
)

func TestDecodeRefusesWhatJSONWouldAcceptSilently(t *testing.T) {
	tests := []struct {
		name, body string
		detail     string // "" = accepted
	}{
		{"one object", `{"job_id": 101}`, ""},
		{"trailing whitespace", "{\"job_id\": 101}\r\n\t ", ""},
		{"a stray ] after the object", `{"job_id": 101}]`, "data after the JSON object"},
		{"a stray } after the object", `{"job_id": 101}}`, "data after the JSON object"},
		{"a second object", `{"job_id": 101} {"job_id": 102}`, "data after the JSON object"},
		{"a field name in other letter case", `{"JOB_ID": 101}`, `send "job_id"`},
		{"a field given twice", `{"job_id": 101, "job_id": 102}`, `"job_id" is given more than once`},
		{"an unknown field", `{"job_id": 101, "jobparams": {}}`, `"jobparams"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/jobs/run-now", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			_, err := decode[runNowRequest](r)
			switch {
			case tt.detail == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.detail != "" && (err == nil || problemFor(err).Status != 400 || !strings.Contains(problemFor(err).Detail, tt.detail)):
				t.Fatalf("got %v, want 400 naming %s", err, tt.detail)
			}
		})
	}
}

func TestJSONFieldNamesFollowEncodingJSON(t *testing.T) {
	type inner struct {
		A string `json:"a"`
		B string
	}
	type outer struct {
		inner
		C      int    `json:"c,omitempty"`
		D      string `json:"-"`
		hidden string
		Tagged inner `json:"tagged"`
	}
	got := strings.Join(jsonFieldNames(reflect.TypeFor[outer]()), ",")
	if got != "a,B,c,tagged" {
		t.Fatalf("field names %s, want a,B,c,tagged", got)
	}
	_ = outer{}.hidden
}

func TestProblemsNeverEchoATokenFromTheRequest(t *testing.T) {
	srv := newFuzzServer(&fuzzJobs{})
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"token as run id", "GET", "/api/jobs/runs/" + fuzzToken, "", 400},
		{"token in an unknown path", "GET", "/api/" + fuzzToken, "", 404},
		{"token as workspace name", "GET", "/api/jobs?workspace=" + fuzzToken, "", 400},
		{"token as a field name", "POST", "/api/jobs/run-now", `{"` + fuzzToken + `": 1}`, 400},
		{"token as a field name in other case", "POST", "/api/jobs/run-now", `{"job_id": 1, "` + strings.ToUpper(fuzzToken) + `": 1}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			r.Header.Set("Authorization", "Bearer "+fuzzToken)
			if tt.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, r)
			if rec.Code != tt.status {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			checkProblem(t, rec.Code, rec.Body.Bytes(), map[int]string{tt.status: ""})
		})
	}
}

func TestProblemDetailIsBounded(t *testing.T) {
	// A job name may be 4,096 bytes (Databricks' limit) and is quoted whole in the 404.
	body := `{"job_name": "` + strings.Repeat("é", 2_000) + `"}`
	r := httptest.NewRequest(http.MethodPost, "/api/jobs/run-now", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+fuzzToken)
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	newFuzzServer(&fuzzJobs{}).ServeHTTP(rec, r)
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 404 {
		t.Fatalf("%d %v", rec.Code, err)
	}
	if len(p.Detail) > maxDetail+len("…") || !strings.HasSuffix(p.Detail, "…") || !bytes.Equal([]byte(p.Detail), bytes.ToValidUTF8([]byte(p.Detail), nil)) {
		t.Fatalf("detail of %d bytes: %.80q…", len(p.Detail), p.Detail)
	}
}

// A panic is answered by the recovering middleware; its problem carries the request id the
// answer's X-Request-Id header has, so the caller can quote it.
func TestPanicProblemCarriesTheRequestID(t *testing.T) {
	srv := NewServer(Deps{
		Logger:     zerolog.New(io.Discard),
		Auth:       fuzzAuth{},
		Exchanger:  fuzzExchanger{},
		Workspaces: map[string]Workspace{"default": panicOnGetRun{&fuzzJobs{}}},
	})
	r := httptest.NewRequest(http.MethodGet, "/api/jobs/runs/1", nil)
	r.Header.Set("Authorization", "Bearer "+fuzzToken)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, r)
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 500 || p.Code != "internal_error" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if p.RequestID == "" || p.RequestID != rec.Header().Get("X-Request-Id") {
		t.Fatalf("request_id %q, X-Request-Id %q", p.RequestID, rec.Header().Get("X-Request-Id"))
	}
}

type panicOnGetRun struct{ *fuzzJobs }

func (panicOnGetRun) GetRun(context.Context, int64) (databricks.Run, error) { panic("boom") }

// The bound holds for the detail as a client decodes it: invalid bytes (a path can carry any)
// become one U+FFFD per run before the detail is measured, not three bytes each after.
func TestBoundDetail(t *testing.T) {
	long := strings.Repeat("a", maxDetail+10)
	for _, tt := range []struct {
		name, in, want string
	}{
		{"short text is kept", "No such endpoint.", "No such endpoint."},
		{"a run of invalid bytes becomes one U+FFFD", "run \x94\x94\x94 x", "run \uFFFD x"},
		{"long text is cut and marked", long, long[:maxDetail] + "…"},
		{"a cut never splits a rune", strings.Repeat("a", maxDetail-1) + "é", strings.Repeat("a", maxDetail-1) + "…"},
		{"1,500 invalid bytes are not inflated past the bound", "/api/jobs/runs/" + strings.Repeat("\x94\x00", 750), "/api/jobs/runs/" + strings.Repeat("\uFFFD\x00", 496) + "…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := boundDetail(tt.in)
			if got != tt.want {
				t.Fatalf("boundDetail = %.60q…, want %.60q…", got, tt.want)
			}
			enc, _ := json.Marshal(got)
			var back string
			if err := json.Unmarshal(enc, &back); err != nil || len(back) > maxDetail+len("…") {
				t.Fatalf("decoded detail of %d bytes (%v)", len(back), err)
			}
		})
	}
}
