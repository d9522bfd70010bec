// Package e2e holds the end-to-end tests of flowbricks: the real handler (internal/app, served
// in-process) behind the host stand-in, which applies the Functions host's request rules, talking
// HTTPS to the fake Entra ID and the fake workspace. Everything goes through HTTP only; the fakes'
// counters are read to prove what happened upstream. One test (TestHostJSONContract) builds the
// handler binary and starts it the way the Functions host does.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/pki"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/devstack/stack/stacktest"
	"github.com/flowbricks/flowbricks/internal/redact"
	"github.com/flowbricks/flowbricks/internal/testsupport"
)

// The Functions app (host.json, function-trigger/) the stand-in reads, copied from the repository
// once; the CA every stack of this process uses, which the in-process handlers trust.
var (
	repoRoot string
	appRoot  string
	testCA   *pki.CA
)

// stack is a running local stack with the tests' helpers.
type stack struct{ *devstack.Stack }

// handlerLogs collects the output of every handler process the tests start, for the leak test.
var handlerLogs = &lockedBuffer{}

// stacksStarted counts the stacks the tests started, i.e. whether handlerLogs must hold logs.
var stacksStarted atomic.Int32

// lockedBuffer collects handler output while the handlers run.
type lockedBuffer = stacktest.Buffer

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flowbricks-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if appRoot, testCA, err = stacktest.InProcess(repoRoot, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if sharedStack != nil {
		if err := sharedStack.Close(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the shared stack:", err)
			code = 1
		}
	}
	// Every handler has stopped and flushed its output: scan all of it — unless no stack
	// ran at all (`go test -run '^$' -bench .`), which leaves nothing to scan.
	if code == 0 && (stacksStarted.Load() > 0 || handlerLogs.String() != "") {
		if err := stacktest.FindLeaks(handlerLogs.String(), stacktest.FixtureSecrets(), sentTokens.list()); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: handler logs:", err)
			code = 1
		}
	}
	return code
}

// tokenSet collects every token the tests send to the handler (sentTokens): the bearer token of
// each call and anything token-shaped in its method, path, headers or body.
type tokenSet struct {
	mu sync.Mutex
	m  map[string]bool
}

var sentTokens = &tokenSet{m: map[string]bool{}}

func (ts *tokenSet) addFrom(parts ...string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, p := range parts {
		for _, tok := range redact.JWT.FindAllString(p, -1) {
			if len(tok) >= stacktest.PieceLen {
				ts.m[tok] = true
			}
		}
	}
}

func (ts *tokenSet) list() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]string, 0, len(ts.m))
	for tok := range ts.m {
		out = append(out, tok)
	}
	return out
}

// testContext is bounded by the test's deadline.
func testContext(t *testing.T) context.Context { return testsupport.Context(t) }

// startStack starts a stack with the handler in-process, logging at trace level (tokens must not
// leak even there) into log and handlerLogs.
func startStack(ctx context.Context, o devstack.Options, log io.Writer) (*stack, error) {
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "flowbricks-stack-")
		if err != nil {
			return nil, err
		}
		o.Dir = dir
	}
	o.AppRoot = appRoot
	o.InProcess = true
	o.CA = testCA
	o.HandlerLog = handlerLogs
	if log != nil {
		o.HandlerLog = io.MultiWriter(handlerLogs, log)
	}
	o.Env = append([]string{"FLOWBRICKS_LOG_LEVEL=trace"}, o.Env...)
	s, err := devstack.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	stacksStarted.Add(1)
	return &stack{s}, nil
}

// startTestStack starts a whole stack on free ports and stops it when the test ends.
func startTestStack(t *testing.T, o devstack.Options) *stack {
	t.Helper()
	s, _ := startCapturedStack(t, o)
	return s
}

var (
	sharedOnce  sync.Once
	sharedStack *stack
	sharedErr   error
)

// shared returns one stack for the tests that only read and trigger, to keep the suite fast.
// TestMain stops it.
func shared(t *testing.T) *stack {
	t.Helper()
	sharedOnce.Do(func() {
		sharedStack, sharedErr = startStack(testContext(t), devstack.Options{}, nil)
	})
	if sharedErr != nil {
		t.Fatalf("starting the shared stack: %v", sharedErr)
	}
	return sharedStack
}

// apiCall is one HTTP request to the handler through the host stand-in.
type apiCall struct {
	method, path, token, body string
	header                    map[string]string
}

type apiResponse struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (r apiResponse) str(key string) string { s, _ := r.json[key].(string); return s }

func (s *stack) call(t *testing.T, c apiCall) apiResponse {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	url := c.path
	if !strings.HasPrefix(url, "http") {
		url = s.Info.HandlerURL + c.path
	}
	req, err := http.NewRequest(c.method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	sentTokens.addFrom(c.body)
	return send(t, req)
}

// send does the request and reads the answer, failing the test if the answer holds a JWT. The
// tokens in the request join sentTokens, which TestMain looks for in the handler logs.
func send(t *testing.T, req *http.Request) apiResponse {
	t.Helper()
	sentTokens.addFrom(req.Method, req.URL.Path)
	for _, values := range req.Header {
		sentTokens.addFrom(values...)
	}
	resp, err := http.DefaultClient.Do(req.WithContext(testContext(t)))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := apiResponse{status: resp.StatusCode, header: resp.Header, body: b}
	_ = json.Unmarshal(b, &out.json)
	if redact.JWT.Match(b) {
		t.Fatalf("%s %s: the response contains a JWT: %s", req.Method, req.URL.Path, b)
	}
	return out
}

func (s *stack) userToken(t *testing.T, user string, o fakeentra.MintOptions) string {
	t.Helper()
	tok, err := s.Entra.MintUserToken(user, o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// waitFor reads the run until it is terminal. Between reads it moves the fake workspace's clock
// on by a second instead of sleeping: runs progress on that clock, so the loop ends after a few
// reads however loaded the machine is. Bounded by the test's deadline.
func (s *stack) waitFor(t *testing.T, token string, runID any) apiResponse {
	t.Helper()
	ctx := testContext(t)
	for ctx.Err() == nil {
		r := s.call(t, apiCall{method: "GET", path: fmt.Sprintf("/api/jobs/runs/%.0f", runID), token: token})
		if r.status != 200 {
			t.Fatalf("get-run: %d %s", r.status, r.body)
		}
		if r.json["terminal"] == true {
			return r
		}
		s.Clock.Advance(time.Second)
	}
	t.Fatalf("run %v did not finish before the test's deadline", runID)
	return apiResponse{}
}

func TestUsersTriggerAndReadRunsAsThemselves(t *testing.T) {
	s := shared(t)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})
	carol := s.userToken(t, "carol", fakeentra.MintOptions{})

	run := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101, "job_parameters": {"date": "2026-11-28"}}`})
	if run.status != 200 || run.json["run_id"] == nil || run.json["job_id"] != 101.0 || !strings.HasPrefix(run.str("idempotency_token"), "fb-") {
		t.Fatalf("alice run-now: %d %s", run.status, run.body)
	}
	final := s.waitFor(t, alice, run.json["run_id"])
	if final.json["succeeded"] != true || final.str("result") != "SUCCESS" || final.str("state") != "TERMINATED" {
		t.Fatalf("alice's run: %s", final.body)
	}

	tests := []struct {
		name, token, method, path, body string
		status                          int
		code, detail                    string
	}{
		{"bob may read alice's run", bob, "GET", fmt.Sprintf("/api/jobs/runs/%.0f", run.json["run_id"]), "", 200, "", ""},
		{"bob may not trigger", bob, "POST", "/api/jobs/run-now", `{"job_id": 101}`, 403, "forbidden",
			"User bob@contoso.example does not have Manage Run or Owner or Admin permissions on job 101"},
		{"carol is not in the workspace", carol, "GET", "/api/jobs", "", 403, "not_in_workspace", "User not authorized"},
		{"unknown job", alice, "POST", "/api/jobs/run-now", `{"job_id": 424242}`, 404, "job_not_found", "424242"},
		{"unknown run", alice, "GET", "/api/jobs/runs/999", "", 404, "run_not_found", ""},
		{"unknown field", alice, "POST", "/api/jobs/run-now", `{"job_id": 101, "jobparams": {}}`, 400, "invalid_request", `"jobparams"`},
		{"wrong type", alice, "POST", "/api/jobs/run-now", `{"job_id": "101"}`, 400, "invalid_request", `"job_id"`},
		{"missing job", alice, "POST", "/api/jobs/run-now", `{"job_parameters": {}}`, 400, "invalid_request", "job_id"},
		{"not JSON", alice, "POST", "/api/jobs/run-now", `job_id=101`, 400, "invalid_request", "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.call(t, apiCall{method: tt.method, path: tt.path, token: tt.token, body: tt.body})
			if r.status != tt.status || (tt.code != "" && r.str("code") != tt.code) || !strings.Contains(r.str("detail"), tt.detail) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		})
	}

	t.Run("a 65 KiB body is refused with 413, a form body with 415", func(t *testing.T) {
		big := `{"job_id": 101, "job_name": "` + strings.Repeat("x", 66_000) + `"}`
		if r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: big}); r.status != 413 {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `job_id=101`,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		if r.status != 415 || r.str("code") != "unsupported_media_type" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

func TestRejectedTokensGet401(t *testing.T) {
	s := shared(t)
	otherEntra := startOtherEntra(t, s)
	forged, err := otherEntra.MintUserToken("alice", fakeentra.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good := s.userToken(t, "alice", fakeentra.MintOptions{})
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]

	tests := []struct {
		name  string
		token string
		want  string // in WWW-Authenticate
	}{
		{"no token", "", "Bearer"},
		{"expired", s.userToken(t, "alice", fakeentra.MintOptions{TTL: -10 * time.Minute}), "invalid_token"},
		{"wrong audience", s.userToken(t, "alice", fakeentra.MintOptions{Audience: "api://someone-else"}), "invalid_token"},
		{"wrong issuer", s.userToken(t, "alice", fakeentra.MintOptions{Extra: map[string]any{"iss": "https://login.microsoftonline.com/other/v2.0"}}), "invalid_token"},
		{"signed by another key", forged, "invalid_token"},
		{"tampered payload", tampered, "invalid_token"},
		{"missing scope", s.userToken(t, "alice", fakeentra.MintOptions{Scopes: []string{"Other.Read"}}), "insufficient_scope"},
		{"not a JWT", "hello", "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: tt.token})
			if r.status != 401 || r.str("code") != "unauthenticated" || !strings.Contains(r.header.Get("WWW-Authenticate"), tt.want) {
				t.Fatalf("got %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
			}
		})
	}
}

// startOtherEntra is a second fake tenant authority with its own keys: tokens it signs look
// right but must fail signature validation.
func startOtherEntra(t *testing.T, s *stack) *fakeentra.Server {
	t.Helper()
	cfg := s.Fixture.Entra
	cfg.BaseURL = s.Info.Authority // same issuer, different keys
	other, err := fakeentra.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return other
}

func TestEntraIsCalledOncePerUserToken(t *testing.T) {
	s := shared(t)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})
	before := s.Workspace.Stats()
	for range 5 {
		for _, tok := range []string{alice, bob} {
			if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=daily-sales-refresh", token: tok}); r.status != 200 {
				t.Fatalf("list: %d %s", r.status, r.body)
			}
		}
	}
	stats := s.Entra.Stats()
	for name, tok := range map[string]string{"alice": alice, "bob": bob} {
		if n := stats.OBOByAssertion[fakeentra.AssertionKey(tok)]; n != 1 {
			t.Errorf("%s's token was exchanged %d times, want 1", name, n)
		}
	}
	after := s.Workspace.Stats()
	for _, upn := range []string{"alice@contoso.example", "bob@contoso.example"} {
		if got := after.RequestsByPrincipal[upn] - before.RequestsByPrincipal[upn]; got != 5 {
			t.Errorf("workspace saw %d requests as %s, want 5 (tokens shared between users?)", got, upn)
		}
	}
	if after.WellKnown != 0 {
		t.Errorf("the handler called /.well-known/databricks-config %d times", after.WellKnown)
	}
}

func TestEntraErrorsReachTheCaller(t *testing.T) {
	s := shared(t)
	tests := []struct {
		user   string
		status int
		code   string
		detail string
		header string
	}{
		{"dave", 403, "consent_required", "AADSTS65001", ""},
		{"erin", 401, "interaction_required", "AADSTS50076", "claims="},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: s.userToken(t, tt.user, fakeentra.MintOptions{})})
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("detail"), tt.detail) ||
				!strings.Contains(r.header.Get("WWW-Authenticate"), tt.header) {
				t.Fatalf("got %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
			}
		})
	}
}

func TestHealthNeedsNoTokenAndNoUpstream(t *testing.T) {
	s := shared(t)
	before := s.Entra.Stats().TokenRequests
	for _, p := range []string{"/api/health"} {
		r := s.call(t, apiCall{method: "GET", path: p})
		if r.status != 200 || r.str("status") != "ok" {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
	}
	if s.Entra.Stats().TokenRequests != before {
		t.Fatal("health called Entra")
	}
}

func TestFindSecretsDetectsLeaks(t *testing.T) {
	s := shared(t)
	token := s.userToken(t, "alice", fakeentra.MintOptions{})
	tests := []struct {
		name, logs string
		leak       bool
	}{
		{"clean", `{"request_id":"x","msg":"request"}`, false},
		{"a token", `{"request_id":"x","auth":"Bearer ` + token + `"}`, true},
		{"a secret", `{"request_id":"x","secret":"` + s.Fixture.Entra.API.ClientSecret + `"}`, true},
		{"nothing captured", ``, true},
		{"a token's signature", `{"request_id":"x","path":"/api/` + token[strings.LastIndex(token, ".")+1:] + `"}`, true},
		{"20 characters of a token", `{"request_id":"x","workflow_run_id":"` + token[30:50] + `"}`, true},
		{"19 characters of a token", `{"request_id":"x","workflow_run_id":"` + token[30:49] + `"}`, false},
		{"a token's label", `{"request_id":"x","path":"/api/` + redact.Label(token) + `"}`, false},
	}
	for _, tt := range tests {
		if err := stacktest.FindLeaks(tt.logs, stacktest.FixtureSecrets(), []string{token}); (err != nil) != tt.leak {
			t.Errorf("%s: FindLeaks = %v, want leak=%v", tt.name, err, tt.leak)
		}
	}
	// The error paths log the most; make sure they ran before TestMain scans the logs.
	s.call(t, apiCall{method: "GET", path: "/api/jobs", token: s.userToken(t, "dave", fakeentra.MintOptions{})})
	s.call(t, apiCall{method: "GET", path: "/api/jobs", token: token + "x"})
}
