package app

import (
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The Databricks transport speaks HTTP/1.1 even to a server that prefers HTTP/2, and keeps its
// connections: the second request reuses the first one's connection (no new TLS handshake).
func TestDatabricksTransportUsesKeepAliveHTTP1(t *testing.T) {
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

	tr := newDatabricksTransport()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr.TLSClientConfig.RootCAs = pool
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

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

// The shared transports keep enough idle connections for a burst of flows.
func TestTransportsKeepIdleConnections(t *testing.T) {
	for name, tr := range map[string]*http.Transport{"entra": newTransport(), "databricks": newDatabricksTransport()} {
		if tr.MaxIdleConnsPerHost < 32 || tr.IdleConnTimeout <= 0 || tr.DisableKeepAlives {
			t.Errorf("%s transport: MaxIdleConnsPerHost %d, IdleConnTimeout %v, DisableKeepAlives %v",
				name, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.DisableKeepAlives)
		}
	}
}
