package hoststandin

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrashedHandlerIsRestartedLikeTheHostDoes: the stand-in restarts a handler that exits the way the
// Functions host does (supervise.go): at once, not after exit code 0, without counting exit code 200, and
// it gives up at the third error within 30 minutes of the previous one, answering 503 from then on.
func TestCrashedHandlerIsRestartedLikeTheHostDoes(t *testing.T) {
	const (
		restarted    = "restarted"     // a new handler answers
		notRestarted = "not restarted" // the host leaves it dead: calls fail with 500
		gaveUp       = "gave up"       // the host shut down: calls get 503
	)
	type crash struct {
		code  int           // exit status; -1 = killed by SIGKILL
		apart time.Duration // clock advance before this crash
		then  string
	}
	tests := []struct {
		name    string
		crashes []crash
	}{
		{"exit status 3: restarted, and calls succeed again", []crash{{code: 3, then: restarted}}},
		{"killed by a signal: restarted", []crash{{code: -1, then: restarted}}},
		{"two crashes in a row: still restarted", []crash{{code: 3, then: restarted}, {code: 1, then: restarted}}},
		{"three crashes in a row: the host gives up", []crash{{code: 3, then: restarted}, {code: 3, then: restarted}, {code: 3, then: gaveUp}}},
		{"three crashes each more than 30 minutes after the last: not in a row", []crash{
			{code: 3, then: restarted}, {code: 3, apart: 31 * time.Minute, then: restarted}, {code: 3, apart: 31 * time.Minute, then: restarted}}},
		{"three crashes within 30 minutes of each other: in a row", []crash{
			{code: 3, then: restarted}, {code: 3, apart: 29 * time.Minute, then: restarted}, {code: 3, apart: 29 * time.Minute, then: gaveUp}}},
		{"exit status 200 (intentional restart) is not counted", []crash{
			{code: 200, then: restarted}, {code: 200, then: restarted}, {code: 200, then: restarted}, {code: 3, then: restarted}}},
		{"exit status 0: not restarted", []crash{{code: 0, then: notRestarted}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
			var elapsed atomic.Int64 // the stand-in's clock: start + elapsed
			now := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
			var logs syncBuffer
			h := startHost(t, Options{AppRoot: writeApp(t, appSpec{}), Stderr: &logs, now: now})
			for i, c := range tt.crashes {
				elapsed.Add(int64(c.apart))
				pid := h.Pid()
				endHandler(t, h, c.code)
				switch c.then {
				case restarted:
					eventually(t, "a new handler process", func() bool { return h.Pid() != pid })
					resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/jobs", nil))
					readEcho(t, resp, body) // the call waited for the restarted handler
				case notRestarted:
					eventually(t, "the host's note", func() bool { return strings.Contains(logs.String(), "the host does not restart it") })
					resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/jobs", nil))
					wantHostStatus(http.StatusInternalServerError)(t, resp, body)
					if h.Pid() != pid {
						t.Error("a handler that exited with status 0 was restarted")
					}
				case gaveUp:
					select {
					case <-h.GaveUp():
					case <-testContext(t).Done():
						t.Fatalf("crash %d: the stand-in did not give up; log:\n%s", i+1, logs.String())
					}
					for _, path := range []string{"/api/jobs", "/"} {
						resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+path, nil))
						if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "Function host is not running." {
							t.Errorf("GET %s after giving up = %d %q, want 503 \"Function host is not running.\"", path, resp.StatusCode, body)
						}
					}
					if h.Pid() != pid || !strings.Contains(logs.String(), "Exceeded http worker restart retry count") {
						t.Errorf("the stand-in restarted the handler after giving up, or did not say so; log:\n%s", logs.String())
					}
				}
			}
			select {
			case <-h.GaveUp():
				if tt.crashes[len(tt.crashes)-1].then != gaveUp {
					t.Error("the stand-in gave up")
				}
			default:
			}
		})
	}
}

// TestCallDuringRestartWaitsForTheHandler: a call that arrives while the handler restarts is held until
// the new handler answers (WorkerFunctionInvoker.DelayUntilFunctionDispatcherInitializedOrShutdown),
// instead of failing.
func TestCallDuringRestartWaitsForTheHandler(t *testing.T) {
	// The handler listens only after 300 ms, so the call below arrives before the restarted one is ready.
	h := startHost(t, Options{AppRoot: writeApp(t, appSpec{args: []string{"-delay", "300ms"}})})
	pid := h.Pid()
	endHandler(t, h, 3)
	eventually(t, "a new handler process", func() bool { return h.Pid() != pid })
	resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/jobs", nil))
	if e := readEcho(t, resp, body); e.ReadyProbes == 0 {
		t.Error("the call reached the handler before the stand-in saw it ready")
	}
}

// endHandler ends the handler in the middle of a call: with exit status code, or SIGKILL when code is -1.
// The call in flight fails with the host's empty 500.
func endHandler(t *testing.T, h *Host, code int) {
	t.Helper()
	if code < 0 {
		p, err := os.FindProcess(h.Pid())
		must(t, err)
		must(t, p.Kill())
		return
	}
	resp, body := do(t, mustRequest(t, http.MethodPost, h.URL()+"/api/exit?code="+strconv.Itoa(code), nil))
	wantHostStatus(http.StatusInternalServerError)(t, resp, body)
}

// testContext ends a little before the test's own deadline, so a failed wait still reports.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-5*time.Second))
	}
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, bounded by the test's deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := testContext(t)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}
