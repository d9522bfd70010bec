package fakeworkspace

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/databricks"
)

// tokenHarness is the test workspace behind flowbricks' own client, whose verify knows
// "tok-<user>" (valid an hour) and "tok-expiring-<user>" (valid another 20 seconds).
type tokenHarness struct {
	ws     *Server
	srv    *httptest.Server
	client *databricks.Client
}

func newTokenHarness(t *testing.T) *tokenHarness {
	t.Helper()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	cfg := testConfig()
	cfg.Now = func() time.Time { return now }
	cfg.Verify = func(tok string) (Principal, error) {
		exp := now.Add(time.Hour)
		if rest, ok := strings.CutPrefix(tok, "tok-expiring-"); ok {
			tok, exp = "tok-"+rest, now.Add(20*time.Second)
		}
		p, err := verify(tok)
		p.ExpiresAt = exp
		return p, err
	}
	ws, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)
	client, err := databricks.New(databricks.Options{Host: srv.URL, RequestTimeout: 5 * time.Second, RetryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &tokenHarness{ws: ws, srv: srv, client: client}
}

// get reads a job with the raw SDK error visible: status, code, message and headers.
func (h *tokenHarness) get(t *testing.T, tok string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.srv.URL+PathJobsGet+"?job_id=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Each form of refusal is what Azure Databricks sent in the captured reports (see the Reject*
// constants), and each is what databricks-sdk-go parses and flowbricks classifies as a rejected
// token, not as a principal missing from the workspace.
func TestTokenRejectionForms(t *testing.T) {
	tests := []struct {
		form        string
		status      int
		contentType string
		body        []string // parts of the body
		header      map[string]string
		sdkMessage  string
	}{
		{RejectTokenExpired, 401, "application/json", []string{`"error_code":401`, `"message":"Token is expired"`}, nil, "Token is expired"},
		{RejectJWTExpired, 403, "application/json; charset=utf-8", []string{`"error_code": 403`, `"message": "JWT has expired"`},
			map[string]string{"X-Databricks-Reason-Phrase": "JWT has expired"}, "JWT has expired"},
		{RejectExpiring, 403, "text/html;charset=iso-8859-1", []string{"<title>Error 403 Token is expiring within 30 seconds. (token expired)</title>",
			"<pre>    Token is expiring within 30 seconds. (token expired)</pre>"}, nil, "Token is expiring within 30 seconds. (token expired)"},
	}
	for _, tt := range tests {
		t.Run(tt.form, func(t *testing.T) {
			h := newTokenHarness(t)
			if err := h.ws.RejectTokens(TokenRejection{Form: tt.form}); err != nil {
				t.Fatal(err)
			}

			resp, body := h.get(t, "tok-alice")
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) {
				t.Errorf("status %d, Content-Type %q; want %d, %q", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.contentType)
			}
			for _, part := range tt.body {
				if !strings.Contains(body, part) {
					t.Errorf("body lacks %q:\n%s", part, body)
				}
			}
			for k, v := range tt.header {
				if resp.Header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), v)
				}
			}

			_, err := h.client.GetRun(databricks.WithToken(t.Context(), "tok-alice"), 1)
			var e *databricks.Error
			if !errors.As(err, &e) || !errors.Is(err, databricks.ErrTokenRejected) || e.StatusCode != tt.status || e.Detail != tt.sdkMessage {
				t.Errorf("flowbricks' client: %v, want ErrTokenRejected (HTTP %d, %q)", err, tt.status, tt.sdkMessage)
			}
			if st := h.ws.Stats(); st.TokensRejected != 2 {
				t.Errorf("TokensRejected = %d, want 2", st.TokensRejected)
			}
		})
	}
}

// Like Azure Databricks, the fake refuses every token that expires within 30 seconds, without
// being told to.
func TestTokenExpiringWithin30SecondsIsRefused(t *testing.T) {
	h := newTokenHarness(t)
	resp, body := h.get(t, "tok-expiring-alice")
	if resp.StatusCode != 403 || !strings.Contains(body, "Token is expiring within 30 seconds") {
		t.Errorf("a token 20 s from its expiry: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.get(t, "tok-alice"); resp.StatusCode != 200 {
		t.Errorf("a token an hour from its expiry: %d", resp.StatusCode)
	}
}

// SeenOnly "revokes" the tokens the workspace has seen so far: a token obtained afterwards works.
// Count limits how many requests are refused; Path limits which.
func TestTokenRejectionScope(t *testing.T) {
	h := newTokenHarness(t)
	if resp, _ := h.get(t, "tok-alice"); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	if err := h.ws.RejectTokens(TokenRejection{Form: RejectJWTExpired, SeenOnly: true}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := h.get(t, "tok-alice"); resp.StatusCode != 403 {
		t.Errorf("a token seen before the revocation: %d, want 403", resp.StatusCode)
	}
	if resp, _ := h.get(t, "tok-bob"); resp.StatusCode != 200 {
		t.Errorf("a token first seen after the revocation: %d, want 200", resp.StatusCode)
	}
	h.ws.ClearFaults()
	if resp, _ := h.get(t, "tok-alice"); resp.StatusCode != 200 {
		t.Errorf("after ClearFaults: %d, want 200", resp.StatusCode)
	}

	if err := h.ws.RejectTokens(TokenRejection{Form: RejectTokenExpired, Count: 2, Path: PathJobsGet}); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 3 {
		resp, _ := h.get(t, "tok-bob")
		got = append(got, resp.StatusCode)
	}
	if got[0] != 401 || got[1] != 401 || got[2] != 200 {
		t.Errorf("statuses with Count 2: %v, want [401 401 200]", got)
	}
	_ = h.ws.RejectTokens(TokenRejection{Form: RejectTokenExpired, Path: PathRunsGet})
	if resp, _ := h.get(t, "tok-bob"); resp.StatusCode != 200 {
		t.Errorf("another path: %d, want 200", resp.StatusCode)
	}
}

func TestRejectTokensValidates(t *testing.T) {
	h := newTokenHarness(t)
	for _, r := range []TokenRejection{{Form: "nope"}, {Form: RejectJWTExpired, Count: -1}, {Form: RejectJWTExpired, Path: "api"}} {
		if err := h.ws.RejectTokens(r); err == nil {
			t.Errorf("RejectTokens(%+v) accepted", r)
		}
	}
	// A principal not in the workspace still gets the Jetty "User not authorized" page.
	resp, body := h.get(t, "tok-carol")
	if resp.StatusCode != 403 || !strings.Contains(body, "<pre>    User not authorized.</pre>") {
		t.Errorf("carol: %d %s", resp.StatusCode, body)
	}
}
