package databricks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/secret"
)

// seenRequest is what the fake upstream recorded about one request.
type seenRequest struct {
	Method        string
	Path          string
	Query         string
	Authorization string
	Header        http.Header
	Body          []byte
}

// upstream is a minimal stand-in for a Databricks workspace: each test gives
// it the handler it needs and then inspects what the client sent.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newUpstream(t testing.TB, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{
			Method:        r.Method,
			Path:          r.URL.Path,
			Query:         r.URL.RawQuery,
			Authorization: r.Header.Get("Authorization"),
			Header:        r.Header.Clone(),
			Body:          body,
		})
		u.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// newTestClient builds a client for u with test-friendly timeouts.
func newTestClient(t testing.TB, host string, opts ...func(*Options)) *Client {
	t.Helper()
	o := Options{Host: host, RequestTimeout: 10 * time.Second, RetryTimeout: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func userCtx(t testing.TB, token string) context.Context {
	t.Helper()
	return WithToken(t.Context(), secret.Token(token))
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// jsonEqual compares two JSON documents structurally.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("JSON body\n got: %s\nwant: %s", gb, wb)
	}
}

func mustContainNoToken(t *testing.T, what, s, token string) {
	t.Helper()
	if token != "" && strings.Contains(s, token) {
		t.Errorf("%s contains the token: %q", what, s)
	}
}
