package databricks

import (
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// The Databricks transport speaks HTTP/1.1 even to a server that prefers HTTP/2, keeps its
// connections (the second request reuses the first one's: no new TLS handshake) and trusts the
// roots it is given.
func TestTransportUsesKeepAliveHTTP1(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"proto":"`+r.Proto+`"}`)
	}))
	srv.EnableHTTP2 = true // the server offers h2 in ALPN, like Azure's front ends
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr := NewTransport(roots)
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	for i := range 3 {
		resp, err := client.Get(srv.URL + "/api/2.2/jobs/runs/get?run_id=1")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 1 || resp.StatusCode != http.StatusOK || string(body) != `{"proto":"HTTP/1.1"}` {
			t.Fatalf("request %d: %s %d %s, want HTTP/1.1 200", i, resp.Proto, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("3 sequential requests opened %d connections, want 1 (keep-alive)", n)
	}
}

// The default transport keeps enough idle connections for one client shared by every user, and
// a client built without a transport uses it.
func TestDefaultTransportKeepsIdleConnections(t *testing.T) {
	tr := NewTransport(nil)
	if tr.MaxIdleConnsPerHost < 32 || tr.IdleConnTimeout <= 0 || tr.DisableKeepAlives || tr.ForceAttemptHTTP2 {
		t.Errorf("MaxIdleConnsPerHost %d, IdleConnTimeout %v, DisableKeepAlives %v, ForceAttemptHTTP2 %v",
			tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.DisableKeepAlives, tr.ForceAttemptHTTP2)
	}
	c, err := New(Options{Host: "https://adb-1.2.azuredatabricks.net"})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := c.cfg.HTTPTransport.(boundedTransport).next.(*http.Transport)
	if !ok || got.Protocols == nil || got.Protocols.HTTP2() || !got.Protocols.HTTP1() {
		t.Fatalf("a client without Options.Transport uses %T %+v, want NewTransport's HTTP/1.1", c.cfg.HTTPTransport, got)
	}
}
