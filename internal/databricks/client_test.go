package databricks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go/logger"
	"github.com/databricks/databricks-sdk-go/service/jobs"

	"github.com/flowbricks/flowbricks/internal/secret"
)

const runJSON = `{"run_id":5001,"job_id":101,"run_name":"daily","state":{"life_cycle_state":"RUNNING"},"status":{"state":"RUNNING"}}`

func okRun(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, runJSON) }

func TestNewValidatesHostAndMakesNoRequest(t *testing.T) {
	u := newUpstream(t, okRun)
	tests := []struct {
		name    string
		host    string
		wantErr bool
	}{
		{"https workspace URL", "https://adb-123.4.azuredatabricks.net", false},
		{"trailing slash is fine", "https://adb-123.4.azuredatabricks.net/", false},
		{"http for local fakes", u.srv.URL, false},
		{"empty", "", true},
		{"no scheme", "adb-123.4.azuredatabricks.net", true},
		{"other scheme", "ftp://adb-123.4.azuredatabricks.net", true},
		{"path", "https://adb-123.4.azuredatabricks.net/api", true},
		{"query", "https://adb-123.4.azuredatabricks.net/?o=123", true},
		{"credentials in URL", "https://user:pw@adb-123.4.azuredatabricks.net", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Options{Host: tt.host})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%q) succeeded, want an error", tt.host)
				}
				return
			}
			if err != nil || c == nil {
				t.Fatalf("New(%q) = %v, %v", tt.host, c, err)
			}
		})
	}
	if n := u.count(); n != 0 {
		t.Errorf("building clients sent %d requests, want 0", n)
	}
}

func TestNewConfiguresTheSDK(t *testing.T) {
	tests := []struct {
		name                 string
		opts                 Options
		wantRetry, wantHTTPs int
		wantRequestTimeout   time.Duration
	}{
		// The SDK's inactivity timeout leaves room for the longest wait_timeout (50 s), during
		// which Databricks sends nothing on purpose.
		{"defaults", Options{}, 20, 80, DefaultRequestTimeout},
		{"explicit", Options{RequestTimeout: 5 * time.Second, RetryTimeout: 3 * time.Second}, 3, 55, 5 * time.Second},
		{"sub-second values round up to one second", Options{RequestTimeout: 200 * time.Millisecond, RetryTimeout: time.Millisecond}, 1, 51, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Host = "https://adb-1.2.azuredatabricks.net"
			c, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			cfg := c.cfg
			if cfg.RetryTimeoutSeconds != tt.wantRetry {
				t.Errorf("RetryTimeoutSeconds = %d, want %d", cfg.RetryTimeoutSeconds, tt.wantRetry)
			}
			if cfg.HTTPTimeoutSeconds != tt.wantHTTPs {
				t.Errorf("HTTPTimeoutSeconds = %d, want %d", cfg.HTTPTimeoutSeconds, tt.wantHTTPs)
			}
			if c.requestTimeout != tt.wantRequestTimeout {
				t.Errorf("requestTimeout = %v, want %v", c.requestTimeout, tt.wantRequestTimeout)
			}
			if cfg.DebugHeaders {
				t.Error("DebugHeaders is on; the SDK would log the Authorization header at debug level")
			}
			if cfg.RateLimitPerSecond != sdkRateLimitPerSecond {
				t.Errorf("RateLimitPerSecond = %d, want %d", cfg.RateLimitPerSecond, sdkRateLimitPerSecond)
			}
			if len(cfg.Loaders) != 1 || cfg.Loaders[0].Name() != (noLoader{}).Name() {
				t.Errorf("Loaders = %v, want only the no-op loader", cfg.Loaders)
			}
			if cfg.Credentials == nil || cfg.Credentials.Name() != "flowbricks-obo" {
				t.Errorf("Credentials = %v, want flowbricks-obo", cfg.Credentials)
			}
			if cfg.HostMetadataResolver == nil {
				t.Error("HostMetadataResolver is nil; the SDK would GET /.well-known/databricks-config")
			}
			bounded, ok := cfg.HTTPTransport.(boundedTransport)
			if !ok {
				t.Fatalf("HTTPTransport = %T, want boundedTransport", cfg.HTTPTransport)
			}
			if tr, ok := bounded.next.(*http.Transport); !ok || tr.MaxIdleConnsPerHost < 32 {
				t.Errorf("HTTPTransport = %T, want a tuned *http.Transport", cfg.HTTPTransport)
			}
		})
	}
}

func TestAuthorizationCarriesTheContextToken(t *testing.T) {
	u := newUpstream(t, okRun)
	c := newTestClient(t, u.srv.URL)

	if _, err := c.GetRun(userCtx(t, "user-token-1"), 5001); err != nil {
		t.Fatal(err)
	}
	reqs := u.requests()
	if len(reqs) != 1 {
		t.Fatalf("sent %d requests, want 1", len(reqs))
	}
	if got := reqs[0].Authorization; got != "Bearer user-token-1" {
		t.Errorf("Authorization = %q, want %q", got, "Bearer user-token-1")
	}
	if got := reqs[0].Path + "?" + reqs[0].Query; got != "/api/2.2/jobs/runs/get?include_history=true&run_id=5001" {
		t.Errorf("request = %s", got)
	}
}

// Ten goroutines, each a different "user" switching between ten tokens, share
// one client; every request must carry the token of the context it was made
// with. The fake echoes the Authorization header as the run name.
func TestConcurrentUsersEachSendTheirOwnToken(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"run_id":1,"run_name":%q,"status":{"state":"RUNNING"}}`, r.Header.Get("Authorization")))
	})
	c := newTestClient(t, u.srv.URL)

	const goroutines, tokensEach = 10, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*tokensEach)
	for g := range goroutines {
		wg.Go(func() {
			for i := range tokensEach {
				tok := fmt.Sprintf("tok-%d-%d", g, i)
				run, err := c.GetRun(WithToken(t.Context(), secret.Token(tok)), 1)
				if err != nil {
					errs <- err
					continue
				}
				if want := "Bearer " + tok; run.RunName != want {
					errs <- fmt.Errorf("request made with %s was sent as %q", tok, run.RunName)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	distinct := map[string]bool{}
	for _, r := range u.requests() {
		distinct[r.Authorization] = true
	}
	if len(distinct) != goroutines*tokensEach {
		t.Errorf("upstream saw %d distinct Authorization values, want %d", len(distinct), goroutines*tokensEach)
	}
}

func TestNoTokenMeansErrNoTokenAndNoRequest(t *testing.T) {
	u := newUpstream(t, okRun)
	c := newTestClient(t, u.srv.URL)

	contexts := map[string]context.Context{
		"no token in context":     t.Context(),
		"empty token":             WithToken(t.Context(), ""),
		"token with a space":      WithToken(t.Context(), "abc def"),
		"token with a line break": WithToken(t.Context(), "abc\r\nX-Evil: 1"),
	}
	ops := map[string]func(context.Context) error{
		OpRunNow: func(ctx context.Context) error {
			_, err := c.RunNow(ctx, RunNowRequest{JobID: 1, IdempotencyToken: "t"})
			return err
		},
		OpGetRun:    func(ctx context.Context) error { _, err := c.GetRun(ctx, 1); return err },
		OpGetOutput: func(ctx context.Context) error { _, err := c.TaskOutput(ctx, 1); return err },
		"run-outputs": func(ctx context.Context) error {
			_, err := c.RunOutputs(ctx, Run{RunID: 1, Tasks: []TaskRun{{TaskKey: "a", RunID: 2}}})
			return err
		},
		OpCancelRun: func(ctx context.Context) error { return c.CancelRun(ctx, 1) },
		OpListJobs:  func(ctx context.Context) error { _, err := c.ListJobs(ctx, "", 10); return err },
		OpExecuteStatement: func(ctx context.Context) error {
			_, err := c.ExecuteStatement(ctx, StatementRequest{WarehouseID: "w", Statement: "SELECT 1"})
			return err
		},
		OpGetStatement:    func(ctx context.Context) error { _, err := c.GetStatement(ctx, "s"); return err },
		OpStatementChunk:  func(ctx context.Context) error { _, err := c.StatementChunk(ctx, "s", 1); return err },
		OpCancelStatement: func(ctx context.Context) error { return c.CancelStatement(ctx, "s") },
		OpListWarehouses:  func(ctx context.Context) error { _, err := c.ListWarehouses(ctx); return err },
	}
	for cname, ctx := range contexts {
		for op, call := range ops {
			t.Run(cname+"/"+op, func(t *testing.T) {
				err := call(ctx)
				if !errors.Is(err, ErrNoToken) {
					t.Fatalf("err = %v, want ErrNoToken", err)
				}
				var e *Error
				if !errors.As(err, &e) || e.StatusCode != 0 {
					t.Errorf("err = %#v, want *Error without status", err)
				}
			})
		}
	}
	if n := u.count(); n != 0 {
		t.Errorf("upstream got %d requests, want 0", n)
	}
}

// The operations check the token before calling the SDK; the credentials
// provider is the second line of defence for any SDK call made without one.
func TestCredentialsProviderRefusesToSendWithoutToken(t *testing.T) {
	u := newUpstream(t, okRun)
	c := newTestClient(t, u.srv.URL)

	_, err := c.jobs.GetRun(t.Context(), jobs.GetRunRequest{RunId: 1})
	if !errors.Is(err, ErrNoToken) {
		t.Fatalf("SDK call without token: err = %v, want ErrNoToken", err)
	}
	if n := u.count(); n != 0 {
		t.Errorf("upstream got %d requests, want 0", n)
	}
}

func TestNoHostMetadataRequest(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/2.2/jobs/runs/get":
			okRun(w, r)
		case "/api/2.2/jobs/list":
			writeJSON(w, 200, `{"jobs":[]}`)
		default:
			writeJSON(w, 404, `{"error_code":"ENDPOINT_NOT_FOUND","message":"no"}`)
		}
	})
	for range 3 { // several clients, several calls each
		c := newTestClient(t, u.srv.URL)
		ctx := userCtx(t, "tok")
		if _, err := c.GetRun(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ListJobs(ctx, "", 5); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range u.requests() {
		if r.Path == "/.well-known/databricks-config" || !strings.HasPrefix(r.Path, "/api/2.2/jobs/") {
			t.Errorf("unexpected request %s %s", r.Method, r.Path)
		}
	}
	if n := u.count(); n != 6 {
		t.Errorf("upstream got %d requests, want exactly the 6 API calls", n)
	}
}

// Stray DATABRICKS_* variables (and a ~/.databrickscfg) on the Functions host
// must change nothing: no construction error, no other host, no other token,
// no debug headers, no rate limit.
func TestStrayDatabricksEnvironmentIsIgnored(t *testing.T) {
	home := t.TempDir()
	cfgFile := filepath.Join(home, ".databrickscfg")
	if err := os.WriteFile(cfgFile, []byte("[DEFAULT]\nhost = http://127.0.0.1:1\ntoken = file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"HOME":                      home,
		"DATABRICKS_CONFIG_FILE":    cfgFile,
		"DATABRICKS_HOST":           "http://127.0.0.1:1",
		"DATABRICKS_TOKEN":          "env-pat-token",
		"DATABRICKS_CLIENT_ID":      "env-client-id",
		"DATABRICKS_CLIENT_SECRET":  "env-client-secret",
		"DATABRICKS_AUTH_TYPE":      "pat",
		"DATABRICKS_WORKSPACE_ID":   "999",
		"DATABRICKS_DEBUG_HEADERS":  "true",
		"DATABRICKS_RATE_LIMIT":     "1",
		"DATABRICKS_CONFIG_PROFILE": "DEFAULT",
	} {
		t.Setenv(k, v)
	}

	u := newUpstream(t, okRun)
	c, err := New(Options{Host: u.srv.URL})
	if err != nil {
		t.Fatalf("New with stray env: %v", err)
	}
	if _, err := c.GetRun(userCtx(t, "user-token"), 5001); err != nil {
		t.Fatalf("GetRun with stray env: %v", err)
	}
	reqs := u.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream got %d requests, want 1", len(reqs))
	}
	if got := reqs[0].Authorization; got != "Bearer user-token" {
		t.Errorf("Authorization = %q, want the context token", got)
	}
	if got := reqs[0].Header.Get("X-Databricks-Workspace-Id"); got != "" {
		t.Errorf("X-Databricks-Workspace-Id = %q, want none", got)
	}
	if c.cfg.DebugHeaders || c.cfg.RateLimitPerSecond != sdkRateLimitPerSecond || c.cfg.Token != "" || c.cfg.ClientID != "" {
		t.Errorf("env leaked into config: debug=%v rate=%d token=%q client=%q",
			c.cfg.DebugHeaders, c.cfg.RateLimitPerSecond, c.cfg.Token, c.cfg.ClientID)
	}
}

// With the SDK's default limiter (15/s, burst 15) at most 15+15*5 = 90
// requests could start within the 5 s context below; all 200 must complete.
// The assertion is on the count completed within the context, not on time.
func TestSDKRateLimitDoesNotThrottleSharedClient(t *testing.T) {
	if sdkRateLimitPerSecond < 10_000 {
		t.Fatalf("sdkRateLimitPerSecond = %d; a shared client must not be limited to a few requests/second", sdkRateLimitPerSecond)
	}
	u := newUpstream(t, okRun)
	c := newTestClient(t, u.srv.URL)

	ctx, cancel := context.WithTimeout(WithToken(t.Context(), "tok"), 5*time.Second)
	defer cancel()
	const total, workers = 200, 16
	var done atomic.Int64
	var wg sync.WaitGroup
	next := make(chan int, total)
	for i := range total {
		next <- i + 1
	}
	close(next)
	for range workers {
		wg.Go(func() {
			for id := range next {
				if _, err := c.GetRun(ctx, int64(id)); err == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := done.Load(); got != total {
		t.Errorf("%d of %d requests completed within the context; the client-side limiter is throttling", got, total)
	}
}

// recordingLogger is an SDK logger at trace level that remembers every line.
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
	debug int
}

func (l *recordingLogger) Enabled(context.Context, logger.Level) bool { return true }
func (l *recordingLogger) add(debug bool, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
	if debug {
		l.debug++
	}
}
func (l *recordingLogger) Tracef(_ context.Context, f string, v ...any) { l.add(true, f, v...) }
func (l *recordingLogger) Debugf(_ context.Context, f string, v ...any) { l.add(true, f, v...) }
func (l *recordingLogger) Infof(_ context.Context, f string, v ...any)  { l.add(false, f, v...) }
func (l *recordingLogger) Warnf(_ context.Context, f string, v ...any)  { l.add(false, f, v...) }
func (l *recordingLogger) Errorf(_ context.Context, f string, v ...any) { l.add(false, f, v...) }

// Even when the process's SDK logger is at trace level (here: set on the
// context, not globally), calls through this package produce no SDK debug
// output, and nothing the SDK logs contains the token.
func TestSDKLoggerNeverSeesRequestDumpsOrToken(t *testing.T) {
	const token = "secret-user-token"
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("run_id") == "404" {
			writeJSON(w, 400, `{"error_code":"INVALID_PARAMETER_VALUE","message":"Run 404 does not exist."}`)
			return
		}
		okRun(w, r)
	})
	c := newTestClient(t, u.srv.URL)

	// Control: the SDK does log request dumps at debug level when called directly.
	control := &recordingLogger{}
	// (The SDK's credentials provider sends the token of the current attempt, which the client's
	// operations put into the context under tokenKey.)
	attempt := &attemptToken{token: secret.Token(token), header: "Bearer " + token}
	if _, err := c.jobs.GetRun(logger.NewContext(context.WithValue(t.Context(), tokenKey{}, attempt), control), jobs.GetRunRequest{RunId: 1}); err != nil {
		t.Fatal(err)
	}
	if control.debug == 0 {
		t.Fatal("control: the SDK logged nothing at debug level; this test would prove nothing")
	}

	rec := &recordingLogger{}
	ctx := logger.NewContext(WithToken(t.Context(), token), rec)
	if _, err := c.GetRun(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRun(ctx, 404); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("err = %v", err)
	}
	if rec.debug != 0 {
		t.Errorf("SDK logged %d debug/trace lines through flowbricks calls: %q", rec.debug, rec.lines)
	}
	for _, l := range append(rec.lines, control.lines...) {
		mustContainNoToken(t, "SDK log line", l, token)
	}
}
