package fakeworkspace

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/client"
	"github.com/databricks/databricks-sdk-go/config"
	"github.com/databricks/databricks-sdk-go/config/credentials"
	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// The client below is built the way flowbricks builds its production client (docs/architecture.md, databricks-sdk-go): one
// shared client, the user's bearer token taken from the request context, no config loaders and no
// host-metadata discovery.

type tokenKey struct{}

type ctxBearer struct{}

func (ctxBearer) Name() string { return "ctx-bearer" }
func (ctxBearer) Configure(context.Context, *config.Config) (credentials.CredentialsProvider, error) {
	return credentials.NewCredentialsProvider(func(r *http.Request) error {
		tok, _ := r.Context().Value(tokenKey{}).(string)
		if tok == "" {
			return errors.New("no user token in context")
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}), nil
}

type noLoad struct{}

func (noLoad) Name() string                   { return "none" }
func (noLoad) Configure(*config.Config) error { return nil }

const (
	aliceUPN = "alice@contoso.example"
	bobUPN   = "bob@contoso.example"
	carolUPN = "carol@contoso.example"
	daveUPN  = "dave@contoso.example"
	adminUPN = "admin@contoso.example"
	spAppID  = "f10b61c5-0000-4000-8000-00000000a001"
	clientID = "f10b61c5-0000-4000-8000-00000000a001"
)

// principals maps the opaque test tokens ("tok-alice", …) to who they belong to.
var principals = map[string]Principal{
	"tok-alice": {UPN: "Alice@Contoso.example", OID: "a11ce000-0000-4000-8000-000000000001", AppID: clientID},
	"tok-bob":   {UPN: bobUPN, OID: "b0b00000-0000-4000-8000-000000000002", AppID: clientID},
	"tok-carol": {UPN: carolUPN, OID: "ca201000-0000-4000-8000-000000000003", AppID: clientID},
	"tok-dave":  {UPN: daveUPN, OID: "da4e0000-0000-4000-8000-000000000004", AppID: clientID},
	"tok-admin": {UPN: adminUPN, OID: "ad000000-0000-4000-8000-000000000005", AppID: clientID},
	"tok-sp":    {AppID: spAppID, OID: "5b000000-0000-4000-8000-000000000006", App: true},
}

func verify(tok string) (Principal, error) {
	if tok == "tok-expired" {
		return Principal{}, ErrTokenExpired
	}
	p, ok := principals[tok]
	if !ok {
		return Principal{}, errors.New("signature invalid")
	}
	return p, nil
}

// clock is the injected clock runs progress on.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t    *testing.T
	ws   *Server
	srv  *httptest.Server
	clk  *clock
	jobs *jobs.JobsAPI
	// client is the SDK client the jobs API above uses, for the other services' APIs.
	client *client.DatabricksClient
	// wellKnownByTest is how many discovery calls the test made itself (raw, not through the SDK).
	wellKnownByTest int64
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
	cfg.Verify = verify
	cfg.Now = clk.Now
	ws, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() }) // after srv.Close: cleanups run last-in first-out
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)
	c, err := client.New(&config.Config{
		Host:                 srv.URL,
		Credentials:          ctxBearer{},
		Loaders:              []config.Loader{noLoad{}},
		HostMetadataResolver: func(context.Context, string) (*config.HostMetadata, error) { return nil, nil },
		RateLimitPerSecond:   10000,
		RetryTimeoutSeconds:  5,
	})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	h := &harness{t: t, ws: ws, srv: srv, clk: clk, jobs: jobs.NewJobs(c), client: c}
	t.Cleanup(func() {
		// The product's promise: a client built like this never asks for host metadata.
		if n := ws.Stats().WellKnown - h.wellKnownByTest; n != 0 {
			t.Errorf("the SDK client called %s %d times; want 0", PathWellKnown, n)
		}
	})
	return h
}

// as returns a context carrying user's token ("alice" → "tok-alice").
func (h *harness) as(user string) context.Context {
	return context.WithValue(h.t.Context(), tokenKey{}, "tok-"+user)
}

func (h *harness) runNow(user string, req jobs.RunNow) int64 {
	h.t.Helper()
	w, err := h.jobs.RunNow(h.as(user), req)
	if err != nil {
		h.t.Fatalf("RunNow(%+v) as %s: %v", req, user, err)
	}
	if w.RunId == 0 || w.Response.RunId != w.RunId || w.Response.NumberInJob != w.RunId {
		h.t.Fatalf("RunNow answer: run_id %d, response %+v", w.RunId, w.Response)
	}
	return w.RunId
}

func (h *harness) getRun(user string, id int64) *jobs.Run {
	h.t.Helper()
	r, err := h.jobs.GetRun(h.as(user), jobs.GetRunRequest{RunId: id})
	if err != nil {
		h.t.Fatalf("GetRun(%d) as %s: %v", id, user, err)
	}
	return r
}

// raw sends a request without the SDK.
func (h *harness) raw(method, path, token, body string) *http.Response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// rawJSON sends a request without the SDK and decodes the JSON answer into a generic map.
func (h *harness) rawJSON(method, path, token, body string) (int, http.Header, map[string]any) {
	h.t.Helper()
	resp := h.raw(method, path, token, body)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			h.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// testConfig is a small workspace with timings chosen to make every state easy to reach.
func testConfig() Config {
	acl := func() map[string]string {
		return map[string]string{aliceUPN: CanManageRun, bobUPN: CanView, spAppID: CanManageRun}
	}
	return Config{
		Users:             []string{aliceUPN, bobUPN, daveUPN, adminUPN},
		ServicePrincipals: []string{spAppID},
		Admins:            []string{adminUPN},
		Jobs: []Job{
			{JobID: 1, Name: "single", ACL: acl(), Parameters: map[string]string{"date": "today"},
				Tasks:    []Task{{TaskKey: "main", NotebookOutput: `{"rows": 1}`}},
				QueuedMs: 1000, PendingMs: 2000, RunningMs: 3000, TerminatingMs: 1000},
			{JobID: 2, Name: "pipeline", ACL: acl(),
				Tasks: []Task{
					{TaskKey: "ingest", NotebookOutput: "ingested"},
					{TaskKey: "transform", DependsOn: []string{"ingest"}, Result: ResultFailed,
						Error: "java.lang.IllegalStateException: boom", ErrorTrace: "java.lang.IllegalStateException: boom\n\tat Transform.run(Transform.scala:7)"},
					{TaskKey: "publish", DependsOn: []string{"transform"}, NotebookOutput: "never"},
				},
				PendingMs: 1000, RunningMs: 3000, TerminatingMs: 500},
			{JobID: 3, Name: "limited", ACL: acl(), MaxConcurrentRuns: 1,
				Tasks:     []Task{{TaskKey: "main"}},
				PendingMs: 1000, RunningMs: 5000, TerminatingMs: 1000},
			{JobID: 4, Name: "Duplicate-Name", ACL: acl(), Tasks: []Task{{TaskKey: "main"}}, RunningMs: 100},
			{JobID: 5, Name: "duplicate-name", ACL: acl(), Tasks: []Task{{TaskKey: "main"}}, RunningMs: 100},
			{JobID: 6, Name: "private", ACL: map[string]string{aliceUPN: IsOwner}, Tasks: []Task{{TaskKey: "main"}}, RunningMs: 100},
		},
		FillerJobs: 16,
		HostURL:    "https://adb-1234567890123456.7.azuredatabricks.net",
	}
}
