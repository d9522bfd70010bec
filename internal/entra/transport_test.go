package entra

import (
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// The Entra transport trusts the roots it is given, uses HTTP/2 when the server offers it, and
// keeps its connection between requests.
func TestTransportKeepsConnectionsAndSpeaksHTTP2(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
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
	if tr.MaxIdleConnsPerHost < 32 || tr.IdleConnTimeout <= 0 || tr.DisableKeepAlives {
		t.Errorf("MaxIdleConnsPerHost %d, IdleConnTimeout %v, DisableKeepAlives %v", tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.DisableKeepAlives)
	}
	client := &http.Client{Transport: tr}
	for i := range 3 {
		resp, err := client.Get(srv.URL + "/tenant/discovery/v2.0/keys")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "HTTP/2.0" {
			t.Fatalf("request %d went over %s, want HTTP/2.0", i, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("3 sequential requests opened %d connections, want 1", n)
	}
}
