package app

import (
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
)

// lateHandler lets a server start, so that its URL is known, before the fake that needs the URL.
type lateHandler struct{ h http.Handler }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.h.ServeHTTP(w, r) }

// startTLS serves h over TLS with httptest's own certificate; the handshakes the untrusting
// client refuses are expected, not logged.
func startTLS(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// WithRootCAs is how the local stack and tests make the handler trust their fakes' CA: with it a
// user's call goes through Entra ID and Databricks; without it the same fakes are untrusted, which
// a caller hears as an unavailable upstream.
func TestWithRootCAsTrustsTheFakes(t *testing.T) {
	const (
		tenant, clientID, secret = "7e1a2b3c-0000-4d5e-8f00-00000000fb01", "f10b61c5-0000-4000-8000-00000000a001", "secret-for-test"
		upn                      = "alice@contoso.example"
	)
	entraLate, wsLate := &lateHandler{}, &lateHandler{}
	entraSrv, wsSrv := startTLS(t, entraLate), startTLS(t, wsLate)
	fe, err := fakeentra.New(fakeentra.Config{
		BaseURL: entraSrv.URL, TenantID: tenant,
		API:   fakeentra.APIRegistration{ClientID: clientID, ClientSecret: secret},
		Users: []fakeentra.User{{Name: "alice", OID: "a11ce000-0000-4000-8000-000000000001", UPN: upn}},
	})
	if err != nil {
		t.Fatal(err)
	}
	entraLate.h = fe
	ws, err := fakeworkspace.New(fakeworkspace.Config{
		Verify: func(token string) (fakeworkspace.Principal, error) {
			c, err := fe.Verify(token, azure.DatabricksAppID)
			return fakeworkspace.Principal{UPN: c.UPN, OID: c.OID}, err
		},
		Users: []string{upn}, HostURL: wsSrv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	wsLate.h = ws

	env := map[string]string{
		config.EnvTenantID: tenant, config.EnvClientID: clientID, config.EnvClientSecret: secret,
		config.EnvAuthorityHost: entraSrv.URL + "/", config.EnvDatabricksHost: wsSrv.URL, config.EnvPort: "7071",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	tok, err := fe.MintUserToken("alice", fakeentra.MintOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(entraSrv.Certificate())
	roots.AddCert(wsSrv.Certificate())

	tests := []struct {
		name string
		opts []Option
		want int
	}{
		{"the fakes' CA trusted", []Option{WithRootCAs(roots)}, http.StatusOK},
		{"the system roots only", nil, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, cleanup, err := New(cfg, zerolog.New(io.Discard), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cleanup)
			r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/jobs", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("GET /api/jobs = %d %s, want %d", w.Code, w.Body, tt.want)
			}
		})
	}
}
