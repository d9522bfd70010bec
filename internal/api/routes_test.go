package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/flowbricks/flowbricks/internal/functionsapp"
)

func TestFillPattern(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		params  map[string]string
		want    string
		wantErr string
	}{
		{name: "one parameter", pattern: "/api/jobs/runs/{run_id}", params: map[string]string{"run_id": "7001"}, want: "/api/jobs/runs/7001"},
		{name: "parameter inside the path", pattern: "/api/jobs/runs/{run_id}/output", params: map[string]string{"run_id": "7001"}, want: "/api/jobs/runs/7001/output"},
		{name: "no parameters", pattern: "/api/jobs", want: "/api/jobs"},
		{name: "values are escaped as one segment", pattern: "/a/{x}", params: map[string]string{"x": "b/c d?"}, want: "/a/b%2Fc%20d%3F"},
		{name: "chi regexp with braces of its own", pattern: "/a/{id:[0-9]{3}}/{k}", params: map[string]string{"id": "123", "k": "v"}, want: "/a/123/v"},
		{name: "missing value", pattern: "/a/{x}", wantErr: "no value for {x}"},
		{name: "empty value", pattern: "/a/{x}", params: map[string]string{"x": ""}, wantErr: "no value for {x}"},
		{name: "value for no parameter", pattern: "/a/{x}", params: map[string]string{"x": "1", "y": "2"}, wantErr: "2 parameters given, 1 used"},
		{name: "unclosed brace", pattern: "/a/{x", params: map[string]string{"x": "1"}, wantErr: "unclosed"},
		{name: "wildcard", pattern: "/files/*", wantErr: "wildcard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fillPattern(tt.pattern, tt.params)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("fillPattern = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("fillPattern = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// matchedOperation is the operationId of the route the router picks for method and path.
func matchedOperation(t *testing.T, h http.Handler, method, path string) string {
	t.Helper()
	rctx := chi.NewRouteContext()
	if !h.(chi.Routes).Match(rctx, method, path) {
		return ""
	}
	for _, op := range (&server{}).operations() {
		if op.Method == method && op.Path == rctx.RoutePattern() {
			return op.ID
		}
	}
	return ""
}

// TestLocationIsTheGetRunRoute: the 202 of run-now?wait=true points at the GetRun operation of
// the route table, with the options the polls need, whatever path the table gives GetRun.
func TestLocationIsTheGetRunRoute(t *testing.T) {
	s := newTestServer(t, nil)
	table := &server{}
	table.ops = table.operations()
	if path, err := table.pathOf("GetRun", map[string]string{"run_id": "42"}); err != nil || matchedOperation(t, s.handler, http.MethodGet, path) != "GetRun" {
		t.Fatalf("pathOf(GetRun) = %q, %v; the router does not send it to GetRun", path, err)
	}
	if _, err := table.pathOf("NoSuchOperation", nil); err == nil {
		t.Error("pathOf accepted an operationId the table does not have")
	}

	res := s.do(t, call{method: "POST", path: "/api/jobs/run-now?wait=true&fail_on_run_failure=false&workspace=default", token: aliceToken, body: `{"job_id":101}`})
	if res.status != http.StatusAccepted {
		t.Fatalf("run-now?wait=true: %d %s", res.status, res.body)
	}
	loc, err := url.Parse(res.header.Get("Location"))
	if err != nil || loc.Scheme != "https" || loc.Host != "flowbricks.example" {
		t.Fatalf("Location %q, %v: want an absolute URL on the configured public base", res.header.Get("Location"), err)
	}
	if id := matchedOperation(t, s.handler, http.MethodGet, loc.Path); id != "GetRun" {
		t.Errorf("Location path %s is routed to %q, want GetRun", loc.Path, id)
	}
	runID, _ := res.json["run_id"].(float64)
	if !strings.HasSuffix(loc.Path, "/"+strconv.FormatInt(int64(runID), 10)) {
		t.Errorf("Location path %s does not end with the run id %v", loc.Path, res.json["run_id"])
	}
	want := url.Values{"wait": {"true"}, "fail_on_run_failure": {"false"}, "workspace": {"default"}}
	if loc.RawQuery != want.Encode() {
		t.Errorf("Location query %q, want %q", loc.RawQuery, want.Encode())
	}
	// And the URL answers: polling it is a GetRun.
	if poll := s.do(t, call{method: "GET", path: loc.RequestURI(), token: aliceToken}); poll.status != http.StatusOK && poll.status != http.StatusAccepted {
		t.Errorf("polling %s: %d %s", loc.RequestURI(), poll.status, poll.body)
	}
}

// TestRoutesLiveUnderTheFunctionsRoutePrefix: the Functions host forwards a request with its full
// path, so every route starts with host.json's extensions.http.routePrefix (apiPrefix), except
// the host's readiness probe at /.
func TestRoutesLiveUnderTheFunctionsRoutePrefix(t *testing.T) {
	h, err := functionsapp.ReadHost("../..")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/" + h.RoutePrefix(); apiPrefix != want {
		t.Fatalf("apiPrefix = %q, host.json's routePrefix makes it %q", apiPrefix, want)
	}
	for _, op := range (&server{}).operations() {
		if op.Path != "/" && !strings.HasPrefix(op.Path, apiPrefix+"/") {
			t.Errorf("%s %s is not under %s/: the host would never forward it", op.Method, op.Path, apiPrefix)
		}
	}
}
