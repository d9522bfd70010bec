package fakeworkspace

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Over a real HTTP/1.1 connection a client that gives up on a delayed POST (its run-now) closes
// the connection; the delay must end then too, or the server's Shutdown waits for it.
func TestLatencyFaultStopsWhenAnHTTP1ClientGivesUpOnAPost(t *testing.T) {
	ws, err := New(Config{Verify: verify, Users: []string{aliceUPN}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws) // plain HTTP/1.1
	t.Cleanup(srv.Close)
	if err := ws.InjectFault(Fault{Path: PathRunNow, LatencyMs: int(time.Hour / time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+PathRunNow, strings.NewReader(`{"job_id": 101}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok-alice")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the delayed request was answered")
	}

	// Shutdown waits for the handler: it returns only once the delay has ended.
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound, not a timing assertion
	defer scancel()
	if err := srv.Config.Shutdown(sctx); err != nil {
		t.Fatalf("the handler kept sleeping after the client went away: %v", err)
	}
}
