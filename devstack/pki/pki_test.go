package pki_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/pki"
)

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// serve starts an HTTPS server on 127.0.0.1 with a certificate from ca for hosts.
func serve(t *testing.T, ca *pki.CA, hosts ...string) *httptest.Server {
	t.Helper()
	cfg, err := ca.ServerTLSConfig(hosts...)
	if err != nil {
		t.Fatalf("ServerTLSConfig: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// get dials the server's real address but presents serverName for SNI and verification,
// which is what a client that resolved serverName to the server would do.
func get(t *testing.T, srv *httptest.Server, roots *x509.CertPool, serverName string) error {
	t.Helper()
	addr := srv.Listener.Addr().String()
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: serverName},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + net.JoinHostPort(serverName, "1") + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func TestServerCertificateNamesTheLoopbackHostsAndExtraHosts(t *testing.T) {
	ca := newCA(t)
	srv := serve(t, ca, "fakeentra.devstack.internal", "10.1.2.3")

	tests := []struct {
		serverName string
		wantOK     bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
		{"localhost", true},
		{"fakeentra.devstack.internal", true},
		{"10.1.2.3", true},
		{"login.microsoftonline.com", false},
		{"10.1.2.4", false},
	}
	for _, tt := range tests {
		t.Run(tt.serverName, func(t *testing.T) {
			err := get(t, srv, ca.Pool(), tt.serverName)
			if tt.wantOK && err != nil {
				t.Fatalf("want a verified TLS connection, got %v", err)
			}
			if !tt.wantOK {
				var hostErr x509.HostnameError
				if !errors.As(err, &hostErr) {
					t.Fatalf("want x509.HostnameError, got %v", err)
				}
			}
		})
	}
}

func TestAnotherCAIsNotTrusted(t *testing.T) {
	srv := serve(t, newCA(t))
	err := get(t, srv, newCA(t).Pool(), "127.0.0.1")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("want x509.UnknownAuthorityError, got %v", err)
	}
}

func TestCAIsAShortLivedCA(t *testing.T) {
	ca := newCA(t)
	block, rest := pem.Decode(ca.PEM())
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("PEM() is not exactly one CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		t.Error("CA certificate must be a CA (basic constraints)")
	}
	if life := time.Until(cert.NotAfter); life < 6*24*time.Hour || life > 8*24*time.Hour {
		t.Errorf("CA must be valid for about 7 days, remaining validity %v", life)
	}
	leaf, err := ca.IssueServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Leaf.NotAfter.After(cert.NotAfter) {
		t.Error("a leaf must not outlive its CA")
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Errorf("leaf does not verify against the CA: %v", err)
	}
}

func TestWritePEMProducesAFileClientsCanTrust(t *testing.T) {
	ca := newCA(t)
	srv := serve(t, ca)
	path := filepath.Join(t.TempDir(), "state", "ca.pem")
	if err := ca.WritePEM(path); err != nil {
		t.Fatalf("WritePEM: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatal("written file holds no PEM certificate")
	}
	if err := get(t, srv, pool, "localhost"); err != nil {
		t.Fatalf("a client trusting the written file must connect: %v", err)
	}
	// Overwriting is allowed (devstack up run twice with the same state folder).
	if err := newCA(t).WritePEM(path); err != nil {
		t.Fatalf("WritePEM over an existing file: %v", err)
	}
}

func TestServerTLSConfigRejectsEmptyHost(t *testing.T) {
	if _, err := newCA(t).ServerTLSConfig(""); err == nil {
		t.Fatal("want an error for an empty host")
	}
}
