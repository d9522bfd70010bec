package databricks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/secret"
)

// recordingSource is a TokenSource that hands out "stale-token" first and
// "fresh-token-N" for every fresh=true call, and records what it was asked.
type recordingSource struct {
	mu         sync.Mutex
	fresh      int
	plain      int
	refreshErr error
	sameAgain  bool // answer fresh=true with the stale token
}

func (s *recordingSource) token(_ context.Context, fresh bool) (secret.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !fresh {
		s.plain++
		return "stale-token", nil
	}
	s.fresh++
	if s.refreshErr != nil {
		return "", s.refreshErr
	}
	if s.sameAgain {
		return "stale-token", nil
	}
	return secret.Token(fmt.Sprintf("fresh-token-%d", s.fresh)), nil
}

func (s *recordingSource) counts() (plain, fresh int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plain, s.fresh
}

// rejectingUpstream answers every request whose bearer token is in rejected
// with Databricks' 403 "JWT has expired" (captured in
// https://github.com/databricks/databricks-sdk-go/issues/1061) and
// serves the rest with ok.
func rejectingUpstream(t *testing.T, rejected func(token string) bool, ok http.HandlerFunc) *upstream {
	t.Helper()
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if rejected(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) {
			writeJSON(w, http.StatusForbidden, `{"error_code":403,"message":"JWT has expired"}`)
			return
		}
		ok(w, r)
	})
}

func runNowOK(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, `{"run_id":5001,"number_in_job":5001}`)
}

// One rejected token: the operation asks its source for exactly one fresh
// token and repeats itself exactly once with it. Every operation behaves the
// same; run-now repeats the same idempotency token, so Databricks starts one run.
func TestRejectedTokenIsRefreshedOnceAndTheCallRetriedOnce(t *testing.T) {
	ops := []struct {
		op   string
		ok   http.HandlerFunc
		call func(ctx context.Context, c *Client) error
	}{
		{OpRunNow, runNowOK, func(ctx context.Context, c *Client) error {
			_, err := c.RunNow(ctx, RunNowRequest{JobID: 7, IdempotencyToken: "fb-idem-1"})
			return err
		}},
		{OpGetRun, okRun, func(ctx context.Context, c *Client) error { _, err := c.GetRun(ctx, 5001); return err }},
		{OpGetOutput, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 200, `{"notebook_output":{"result":"42","truncated":false}}`)
		}, func(ctx context.Context, c *Client) error { _, err := c.TaskOutput(ctx, 5002); return err }},
		{OpCancelRun, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, `{}`) },
			func(ctx context.Context, c *Client) error { return c.CancelRun(ctx, 5001) }},
		{OpListJobs, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 200, `{"jobs":[{"job_id":7,"settings":{"name":"x"}}]}`)
		}, func(ctx context.Context, c *Client) error { _, err := c.ListJobs(ctx, "x", 10); return err }},
		// Execute is not idempotent, and still repeated after a rejected token: the rejection
		// means Databricks refused the request before it accepted the statement.
		{OpExecuteStatement, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, pendingJSON) },
			func(ctx context.Context, c *Client) error {
				_, err := c.ExecuteStatement(ctx, StatementRequest{WarehouseID: "w", Statement: "SELECT 1", Wait: 10 * time.Second})
				return err
			}},
		{OpGetStatement, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, succeededJSON) },
			func(ctx context.Context, c *Client) error { _, err := c.GetStatement(ctx, "s"); return err }},
		{OpStatementChunk, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, `{"chunk_index":1}`) },
			func(ctx context.Context, c *Client) error { _, err := c.StatementChunk(ctx, "s", 1); return err }},
		{OpCancelStatement, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, `{}`) },
			func(ctx context.Context, c *Client) error { return c.CancelStatement(ctx, "s") }},
		{OpListWarehouses, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, `{"warehouses":[]}`) },
			func(ctx context.Context, c *Client) error { _, err := c.ListWarehouses(ctx); return err }},
	}
	for _, tt := range ops {
		t.Run(tt.op, func(t *testing.T) {
			u := rejectingUpstream(t, func(tok string) bool { return tok == "stale-token" }, tt.ok)
			c := newTestClient(t, u.srv.URL)
			src := &recordingSource{}

			if err := tt.call(WithTokenSource(t.Context(), src.token), c); err != nil {
				t.Fatalf("err = %v, want success with the fresh token", err)
			}

			if plain, fresh := src.counts(); plain != 1 || fresh != 1 {
				t.Errorf("source asked %d times for the token and %d times for a fresh one, want 1 and 1", plain, fresh)
			}
			reqs := u.requests()
			if len(reqs) != 2 {
				t.Fatalf("requests = %d, want 2 (the rejected one and one retry)", len(reqs))
			}
			if reqs[0].Authorization != "Bearer stale-token" || reqs[1].Authorization != "Bearer fresh-token-1" {
				t.Errorf("Authorization = %q then %q", reqs[0].Authorization, reqs[1].Authorization)
			}
			if (tt.op == OpRunNow || tt.op == OpExecuteStatement) && string(reqs[0].Body) != string(reqs[1].Body) {
				t.Errorf("the retried %s sent another body:\n%s\n%s", tt.op, reqs[0].Body, reqs[1].Body)
			}
		})
	}
}

// A token that is rejected again after the refresh fails the call: one fresh
// token, one retry, never a loop.
func TestTokenRejectedAgainFailsAfterOneRetry(t *testing.T) {
	u := rejectingUpstream(t, func(string) bool { return true }, okRun)
	c := newTestClient(t, u.srv.URL)
	src := &recordingSource{}

	_, err := c.GetRun(WithTokenSource(t.Context(), src.token), 5001)

	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrTokenRejected) || e.StatusCode != 403 || e.Detail != "JWT has expired" {
		t.Fatalf("err = %v, want ErrTokenRejected (HTTP 403, JWT has expired)", err)
	}
	if _, fresh := src.counts(); fresh != 1 {
		t.Errorf("fresh tokens asked = %d, want 1", fresh)
	}
	if n := u.count(); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

// The cases in which no retry can help, and the answers that are not about
// the token at all.
func TestNoRetryWithoutAFreshToken(t *testing.T) {
	exchangeDown := errors.New("entra: token exchange failed (unavailable)")
	tests := []struct {
		name        string
		ctx         func(t *testing.T, src *recordingSource) context.Context
		src         *recordingSource // nil: a plain one
		answer      http.HandlerFunc
		wantFresh   int
		wantIs      []error
		wantNotType bool // the error wraps the source's error instead of being an *Error
	}{
		{
			name: "a fixed token (WithToken) is not refreshed",
			ctx:  func(t *testing.T, _ *recordingSource) context.Context { return WithToken(t.Context(), "stale-token") },
			answer: func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, 401, `{"error_code":401,"message":"Token is expired"}`)
			},
			wantIs: []error{ErrTokenRejected},
		},
		{
			name: "the source cannot get a fresh token: its error comes back, wrapped",
			src:  &recordingSource{refreshErr: exchangeDown},
			answer: func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, 401, `{"error_code":401,"message":"Token is expired"}`)
			},
			wantFresh:   1,
			wantIs:      []error{exchangeDown},
			wantNotType: true,
		},
		{
			name: "the source hands back the rejected token: no pointless retry",
			src:  &recordingSource{sameAgain: true},
			answer: func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, 401, `{"error_code":401,"message":"Token is expired"}`)
			},
			wantFresh: 1,
			wantIs:    []error{ErrTokenRejected},
		},
		{
			name: "403 'User not authorized' is not a token problem",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(403)
				_, _ = w.Write([]byte(jettyForbidden))
			},
			wantIs: []error{ErrNotInWorkspace},
		},
		{
			name: "403 PERMISSION_DENIED is not a token problem",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, 403, `{"error_code":"PERMISSION_DENIED","message":"User alice does not have View permissions on job 7"}`)
			},
			wantIs: []error{ErrPermissionDenied},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, tt.answer)
			c := newTestClient(t, u.srv.URL)
			src := tt.src
			if src == nil {
				src = &recordingSource{}
			}
			ctx := WithTokenSource(t.Context(), src.token)
			if tt.ctx != nil {
				ctx = tt.ctx(t, src)
			}

			_, err := c.GetRun(ctx, 5001)

			for _, k := range tt.wantIs {
				if !errors.Is(err, k) {
					t.Errorf("err = %v, want errors.Is %v", err, k)
				}
			}
			var e *Error
			if got := errors.As(err, &e); got == tt.wantNotType {
				t.Errorf("errors.As(*Error) = %v for %v", got, err)
			}
			if _, fresh := src.counts(); fresh != tt.wantFresh {
				t.Errorf("fresh tokens asked = %d, want %d", fresh, tt.wantFresh)
			}
			if n := u.count(); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
			mustContainNoToken(t, "Error()", err.Error(), "stale-token")
		})
	}
}

// Several concurrent get-output calls of one run that are all rejected each
// retry once; how many fresh tokens that takes is the source's business (the
// API's source exchanges once per request and hands the same fresh token to all).
func TestRunOutputsRetriesEachRejectedTask(t *testing.T) {
	u := rejectingUpstream(t, func(tok string) bool { return tok == "stale-token" }, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"notebook_output":{"result":"out-`+r.URL.Query().Get("run_id")+`"}}`)
	})
	c := newTestClient(t, u.srv.URL)
	src := &recordingSource{}
	run := Run{RunID: 1, Tasks: []TaskRun{{TaskKey: "a", RunID: 11}, {TaskKey: "b", RunID: 12}, {TaskKey: "c", RunID: 13}}}

	outs, err := c.RunOutputs(WithTokenSource(t.Context(), src.token), run)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if want := fmt.Sprintf("out-%d", 11+i); o.Result != want {
			t.Errorf("task %d result = %q, want %q", i, o.Result, want)
		}
	}
	if n := u.count(); n != 6 {
		t.Errorf("requests = %d, want 6 (each task rejected once, retried once)", n)
	}
}

// A connection failure tells the caller what happened but not where: the
// address is in Error() (logged), not in Detail (answered).
func TestTransportErrorDetailHasNoAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newTestClient(t, "http://"+addr)
	ctx, cancel := context.WithTimeout(WithToken(t.Context(), "tok"), 300*time.Millisecond)
	defer cancel()

	_, err = c.GetRun(ctx, 42)

	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if e.Detail != "cannot reach Databricks: connection refused" {
		t.Errorf("Detail = %q, want %q", e.Detail, "cannot reach Databricks: connection refused")
	}
	if strings.Contains(e.Detail, "127.0.0.1") || strings.Contains(e.Detail, "dial") {
		t.Errorf("Detail names the address: %q", e.Detail)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("Error() = %q, want the address %s for the log", err.Error(), addr)
	}
}
