package hoststandin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestStartGivesTheHandlerTheHostEnvironment: the child gets the port and worker id under the customHandler
// and the legacy httpWorker names, the app root, the extra settings, its arguments with %NAME% expanded and
// the working directory relative to the app root (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
func TestStartGivesTheHandlerTheHostEnvironment(t *testing.T) {
	root := writeApp(t, appSpec{
		args:       []string{"--", "%ECHO_ARG%", "%NOT_SET%", "100%"},
		workingDir: "work",
	})
	h := startHost(t, Options{AppRoot: root, Env: []string{"ECHO_SETTING=from-local-settings", "ECHO_ARG=expanded"}})

	resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/env", nil))
	e := readEcho(t, resp, body)

	u, err := url.Parse(h.HandlerURL())
	must(t, err)
	port := u.Port()
	wantEnv := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": port,
		"FUNCTIONS_HTTPWORKER_PORT":    port,
		"FUNCTIONS_APP_ROOT_PATH":      root,
		"ECHO_SETTING":                 "from-local-settings",
		"ECHO_ARG":                     "expanded",
	}
	for k, want := range wantEnv {
		if got := e.Env[k]; got != want {
			t.Errorf("env %s = %q, want %q", k, got, want)
		}
	}
	id := e.Env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"]
	if _, err := uuid.Parse(id); err != nil {
		t.Errorf("FUNCTIONS_CUSTOMHANDLER_WORKER_ID = %q, want a uuid", id)
	}
	if got := e.Env["FUNCTIONS_HTTPWORKER_ID"]; got != id {
		t.Errorf("FUNCTIONS_HTTPWORKER_ID = %q, want the worker id %q", got, id)
	}
	if want := []string{"expanded", "%NOT_SET%", "100%"}; !slices.Equal(e.Args, want) {
		t.Errorf("arguments = %q, want %q (unknown %%NAME%% kept as written)", e.Args, want)
	}
	if want := filepath.Join(root, "work"); e.Dir != want {
		t.Errorf("working directory = %q, want %q", e.Dir, want)
	}
	if pid := h.Pid(); pid <= 0 || processGone(pid) {
		t.Errorf("Pid() = %d, want the running handler", pid)
	}
}

// TestStartWaitsForReadiness: the handler opens its port only after a delay; Start returns once GET / has
// been answered, so the very first call through the host reaches the handler.
func TestStartWaitsForReadiness(t *testing.T) {
	root := writeApp(t, appSpec{args: []string{"-delay=300ms"}})
	h := startHost(t, Options{AppRoot: root})

	resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/first", nil))
	e := readEcho(t, resp, body)
	if e.ReadyProbes < 1 {
		t.Errorf("handler saw %d GET / probes before the first call, want at least 1", e.ReadyProbes)
	}
}

// TestForwarding documents what reaches the handler and what comes back, in forwarding mode
// (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
func TestForwarding(t *testing.T) {
	root := writeApp(t, appSpec{})
	h := startHost(t, Options{AppRoot: root})
	publicHost := strings.TrimPrefix(h.URL(), "http://")

	tests := []struct {
		name  string
		req   func(t *testing.T) *http.Request
		check func(t *testing.T, resp *http.Response, body []byte)
	}{
		{
			name: "path keeps the /api prefix and the handler's status and headers come back unchanged",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodGet, h.URL()+"/api/jobs/runs/42/output", nil)
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				e := readEcho(t, resp, body)
				if e.Path != "/api/jobs/runs/42/output" || e.Method != http.MethodGet {
					t.Errorf("handler got %s %s, want GET /api/jobs/runs/42/output", e.Method, e.Path)
				}
				if resp.StatusCode != http.StatusTeapot || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("caller got %d %q, want the handler's 418 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
			},
		},
		{
			name: "repeated query keys arrive as one comma-joined value, keys grouped case-insensitively",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodGet, h.URL()+"/api/jobs?name=a&wait=true&name=b&NAME=c&q=x+y", nil)
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				e := readEcho(t, resp, body)
				want := map[string][]string{"name": {"a,b,c"}, "wait": {"true"}, "q": {"x y"}}
				for k, v := range want {
					if !slices.Equal(e.Query[k], v) {
						t.Errorf("query %s = %q, want %q (raw %q)", k, e.Query[k], v, e.RawQuery)
					}
				}
				if len(e.Query) != len(want) {
					t.Errorf("query = %v, want exactly %v", e.Query, want)
				}
			},
		},
		{
			name: "headers are copied, Authorization included, and the host adds its own",
			req: func(t *testing.T) *http.Request {
				r := mustRequest(t, http.MethodGet, h.URL()+"/api/jobs", nil)
				r.Header.Set("Authorization", "Bearer test-token")
				r.Header.Set("X-Ms-Workflow-Run-Id", "08585")
				r.Header.Add("X-Multi", "one")
				r.Header.Add("X-Multi", "two")
				r.Header.Set("User-Agent", "test-client/1.0")
				return r
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				e := readEcho(t, resp, body)
				want := map[string]string{
					"Authorization":                 "Bearer test-token",
					"X-Ms-Workflow-Run-Id":          "08585",
					"X-Multi":                       "one, two",
					"X-Azure-Functions-Hostversion": HostVersion,
					"User-Agent":                    "test-client/1.0 Azure-Functions-Host/" + HostVersion,
				}
				for k, v := range want {
					if got := e.Header[k]; !slices.Equal(got, []string{v}) {
						t.Errorf("header %s = %q, want [%q]", k, got, v)
					}
				}
				if _, err := uuid.Parse(e.Header.Get(headerInvocationID)); err != nil {
					t.Errorf("%s = %q, want a uuid", headerInvocationID, e.Header.Get(headerInvocationID))
				}
				if e.Host != publicHost {
					t.Errorf("Host = %q, want the caller's %q, not the handler's address", e.Host, publicHost)
				}
			},
		},
		{
			name: "Host is the app's public host name the caller used",
			req: func(t *testing.T) *http.Request {
				r := mustRequest(t, http.MethodGet, h.URL()+"/api/jobs", nil)
				r.Host = "flowbricks-contoso.azurewebsites.net"
				return r
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if e := readEcho(t, resp, body); e.Host != "flowbricks-contoso.azurewebsites.net" {
					t.Errorf("Host = %q, want flowbricks-contoso.azurewebsites.net", e.Host)
				}
			},
		},
		{
			name: "a body with Content-Length is forwarded with its Content-Type",
			req: func(t *testing.T) *http.Request {
				r := mustRequest(t, http.MethodPost, h.URL()+"/api/jobs/run-now", strings.NewReader(`{"job_id":101}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				e := readEcho(t, resp, body)
				if e.Body != `{"job_id":101}` || e.ContentLength != 14 {
					t.Errorf("handler got body %q (Content-Length %d), want the 14-byte JSON", e.Body, e.ContentLength)
				}
				if got := e.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", got)
				}
			},
		},
		{
			name: "a chunked body without Content-Length fails the call with the host's 500, and never reaches the handler",
			req: func(t *testing.T) *http.Request {
				// A body of unknown length: net/http sends it with Transfer-Encoding: chunked.
				r := mustRequest(t, http.MethodPost, h.URL()+"/api/jobs/run-now", io.MultiReader(strings.NewReader(`{"job_id":101}`)))
				r.ContentLength = -1
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			check: wantHostStatus(http.StatusInternalServerError),
		},
		{
			name: "an empty body with Content-Length: 0 is forwarded as no body",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodPost, h.URL()+"/api/jobs/run-now", http.NoBody)
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if e := readEcho(t, resp, body); e.Body != "" || len(e.TransferEncoding) != 0 {
					t.Errorf("handler got body %q, Transfer-Encoding %q; want none", e.Body, e.TransferEncoding)
				}
			},
		},
		{
			name: "a redirect from the handler is passed to the caller, not followed",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodGet, h.URL()+"/api/redirect", nil)
			},
			check: func(t *testing.T, resp *http.Response, _ []byte) {
				if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/api/elsewhere" || resp.Header.Get("X-Handler") != "echohandler" {
					t.Errorf("caller got %d Location=%q, want the handler's 302 to /api/elsewhere", resp.StatusCode, resp.Header.Get("Location"))
				}
			},
		},
		{
			name: "a method outside the function's methods is 404, not 405",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodDelete, h.URL()+"/api/jobs", nil)
			},
			check: wantHostStatus(http.StatusNotFound),
		},
		{
			name: "HEAD is not implied by GET",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodHead, h.URL()+"/api/jobs", nil)
			},
			check: wantHostStatus(http.StatusNotFound),
		},
		{
			name: "a path outside the route prefix is 404",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodGet, h.URL()+"/jobs", nil)
			},
			check: wantHostStatus(http.StatusNotFound),
		},
		{
			name: "a path that only starts with the prefix's letters is 404",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodGet, h.URL()+"/apiv2/jobs", nil)
			},
			check: wantHostStatus(http.StatusNotFound),
		},
		{
			name: "GET / is the host's own page, not the handler's",
			req: func(t *testing.T) *http.Request {
				return mustRequest(t, http.MethodGet, h.URL()+"/", nil)
			},
			check: func(t *testing.T, resp *http.Response, body []byte) {
				if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Handler") != "" || !strings.Contains(string(body), "Functions 4.0 app is up and running") {
					t.Errorf("GET / = %d %q, want the host's 200 page", resp.StatusCode, body)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.req(t))
			tt.check(t, resp, body)
		})
	}
}

// TestRequestBodyLimit: a Content-Length above FUNCTIONS_REQUEST_BODY_SIZE_LIMIT is refused with 413
// before anything reaches the handler (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
func TestRequestBodyLimit(t *testing.T) {
	h := startHost(t, Options{AppRoot: writeApp(t, appSpec{}), Env: []string{"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=10"}})

	resp, _ := do(t, mustRequest(t, http.MethodPost, h.URL()+"/api/jobs/run-now", strings.NewReader("0123456789A")))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("X-Handler") != "" {
		t.Errorf("status = %d from %q, want the host's 413", resp.StatusCode, resp.Header.Get("X-Handler"))
	}
	resp, body := do(t, mustRequest(t, http.MethodPost, h.URL()+"/api/jobs/run-now", strings.NewReader("0123456789")))
	if e := readEcho(t, resp, body); e.Body != "0123456789" {
		t.Errorf("body at the limit = %q, want it forwarded", e.Body)
	}
}

// TestKeysAreNotEnforcedLocally: authLevel function is accepted, noted in the log, and served without a key,
// as func start does (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
func TestKeysAreNotEnforcedLocally(t *testing.T) {
	root := writeApp(t, appSpec{functions: map[string]string{"keyed": `{"bindings":[
		{"type":"httpTrigger","direction":"in","name":"req","methods":["get"],"route":"{*path}"},
		{"type":"http","direction":"out","name":"res"}]}`}}) // authLevel omitted: defaults to function
	var logs syncBuffer
	h := startHost(t, Options{AppRoot: root, Stderr: &logs})

	resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/jobs", nil))
	readEcho(t, resp, body)
	if !strings.Contains(logs.String(), `authLevel "function" is not enforced locally`) {
		t.Errorf("log does not mention the unenforced key; log:\n%s", logs.String())
	}
}

// TestLegacyHTTPWorkerSection: the deprecated httpWorker section still starts the handler; HTTP functions
// are forwarded to /<FunctionName> (DefaultHttpWorkerService.GetPathValue).
func TestLegacyHTTPWorkerSection(t *testing.T) {
	root := writeApp(t, appSpec{section: "httpWorker"})
	h := startHost(t, Options{AppRoot: root})

	resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/jobs/1?x=1", nil))
	e := readEcho(t, resp, body)
	if e.Path != "/function-trigger" || e.RawQuery != "x=1" {
		t.Errorf("handler got %s?%s, want /function-trigger?x=1", e.Path, e.RawQuery)
	}
}

// TestStartFailsClearly: a handler that cannot come up makes Start fail with the reason, and leaves no
// process behind.
func TestStartFailsClearly(t *testing.T) {
	tests := []struct {
		name    string
		spec    appSpec
		timeout time.Duration
		wantIs  error
		wantMsg string
	}{
		{name: "handler crashes at start", spec: appSpec{args: []string{"-crash"}}, wantIs: ErrHandlerExited, wantMsg: "exit status 3"},
		{name: "handler never opens its port", spec: appSpec{args: []string{"-never-listen"}}, timeout: 300 * time.Millisecond, wantIs: ErrNotReady, wantMsg: "InitializationTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var output syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h, err := Start(ctx, Options{AppRoot: writeApp(t, tt.spec), Listen: "127.0.0.1:0", StartTimeout: tt.timeout, Stderr: &output})
			if err == nil {
				_ = h.Close(ctx)
				t.Fatal("Start succeeded, want an error")
			}
			if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Start error = %v, want %v mentioning %q", err, tt.wantIs, tt.wantMsg)
			}
			if pid := startedPid(output.String()); pid == 0 || !processGone(pid) {
				t.Errorf("handler pid %d still exists after the failed Start", pid)
			}
		})
	}

	t.Run("executable missing", func(t *testing.T) {
		root := writeApp(t, appSpec{})
		must(t, os.Remove(filepath.Join(root, "bin", "echohandler")))
		_, err := Start(context.Background(), Options{AppRoot: root, Listen: "127.0.0.1:0"})
		if err == nil || !strings.Contains(err.Error(), "build the handler first") {
			t.Errorf("Start error = %v, want a missing-executable error", err)
		}
	})
}

// TestCloseStopsTheHandler: Close ends the child — with SIGTERM, or SIGKILL when SIGTERM is ignored until
// the deadline — and stops serving.
func TestCloseStopsTheHandler(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		deadline time.Duration
		killed   bool // SIGKILL was needed
	}{
		{name: "handler exits on SIGTERM", deadline: 10 * time.Second},
		{name: "handler ignores SIGTERM and is killed at the deadline", args: []string{"-ignore-sigterm"}, deadline: 300 * time.Millisecond, killed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var logs syncBuffer
			h, err := Start(ctx, Options{AppRoot: writeApp(t, appSpec{args: tt.args}), Listen: "127.0.0.1:0", Stderr: &logs})
			must(t, err)
			pid := h.Pid()
			defer func() {
				if killed := strings.Contains(logs.String(), "sending SIGKILL"); killed != tt.killed {
					t.Errorf("SIGKILL sent = %v, want %v; log:\n%s", killed, tt.killed, logs.String())
				}
			}()

			closeCtx, closeCancel := context.WithTimeout(context.Background(), tt.deadline)
			defer closeCancel()
			if err := h.Close(closeCtx); err != nil {
				t.Errorf("Close: %v", err)
			}
			if !processGone(pid) {
				t.Errorf("handler pid %d still exists after Close", pid)
			}
			if _, err := noRedirects().Get(h.URL() + "/api/jobs"); err == nil {
				t.Error("the stand-in still answers after Close")
			}
			if err := h.Close(ctx); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func wantHostStatus(status int) func(t *testing.T, resp *http.Response, body []byte) {
	return func(t *testing.T, resp *http.Response, body []byte) {
		t.Helper()
		if resp.StatusCode != status || resp.Header.Get("X-Handler") != "" || len(body) != 0 {
			t.Errorf("got %d %q (X-Handler %q), want the host's own empty %d", resp.StatusCode, body, resp.Header.Get("X-Handler"), status)
		}
	}
}

func mustRequest(t *testing.T, method, target string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, body)
	must(t, err)
	return r
}

// startedPid finds the pid in the stand-in's "started handler … (pid N)" log line.
func startedPid(logs string) int {
	_, rest, ok := strings.Cut(logs, "(pid ")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ')')])
	return n
}
