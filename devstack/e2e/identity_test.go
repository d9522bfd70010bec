package e2e

// End-to-end tests of flowbricks' identity boundary: app callers, the three kinds of credential
// the handler itself can hold, Entra errors turned into actions, the attack table of the token
// validation, JWKS rotation and refresh limits, workspace and job allow-lists, and the log
// hygiene (audit lines, request and workflow ids on every line). Each test that changes settings
// runs on its own stack (startCapturedStack), with the real handler binary behind the host
// stand-in; TestMain's leak scan covers their logs too.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	"github.com/flowbricks/flowbricks/devstack/pki"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/internal/entra"
)

// ---- helpers ---------------------------------------------------------------------------------

// startCapturedStack is startTestStack that also keeps this stack's own handler output, so a test
// can read the log lines of its requests. Everything still goes to handlerLogs for the leak scan.
func startCapturedStack(t *testing.T, o devstack.Options) (*stack, *lockedBuffer) {
	t.Helper()
	own := &lockedBuffer{}
	o.Dir = t.TempDir()
	s, err := startStack(testContext(t), o, own)
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	return s, own
}

// logEntry is one JSON log line of the handler.
type logEntry map[string]any

func (l logEntry) str(k string) string { s, _ := l[k].(string); return s }

func (l logEntry) num(k string) float64 { n, _ := l[k].(float64); return n }

// logEntries parses the JSON lines of logs; other lines (the host stand-in's) are returned apart.
func logEntries(logs string) (entries []logEntry, other []string) {
	for _, line := range strings.Split(logs, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e logEntry
		if json.Unmarshal([]byte(line), &e) != nil {
			other = append(other, line)
			continue
		}
		entries = append(entries, e)
	}
	return entries, other
}

// waitForLog waits for a log line matching match, bounded by the test's deadline: the handler
// may write it after the response.
func waitForLog(t *testing.T, logs *lockedBuffer, what string, match func(logEntry) bool) logEntry {
	t.Helper()
	ctx := testContext(t)
	for {
		entries, _ := logEntries(logs.String())
		for _, e := range entries {
			if match(e) {
				return e
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no log line %s in:\n%s", what, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// rawCall sends a request with exactly the headers given (several Authorization values are
// possible) and checks, like stack.call, that no JWT comes back.
func (s *stack) rawCall(t *testing.T, method, path string, header http.Header, body string) apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, s.Info.HandlerURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req)
}

func (s *stack) appToken(t *testing.T, clientID string, o fakeentra.MintOptions) string {
	t.Helper()
	tok, err := s.Entra.MintAppToken(clientID, o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fixtureApp returns an app of the default fixture by name.
func fixtureApp(t *testing.T, name string) fakeentra.App {
	t.Helper()
	fx, err := devstack.LoadFixture("")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range fx.Entra.Apps {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("no app %q in the fixture", name)
	return fakeentra.App{}
}

func fixtureUser(t *testing.T, s *stack, name string) fakeentra.User {
	t.Helper()
	for _, u := range s.Fixture.Entra.Users {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no user %q in the fixture", name)
	return fakeentra.User{}
}

// lateServer is a plain-HTTP loopback server whose handler is set after the stack started: for
// settings the handler needs before start-up that must point at a fake (a second workspace
// host, App Service's managed identity endpoint). It counts the requests it forwards.
type lateServer struct {
	URL      string
	mu       sync.Mutex
	h        http.Handler
	requests atomic.Int64
}

func startLateServer(t *testing.T) *lateServer {
	t.Helper()
	ls := &lateServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls.requests.Add(1)
		ls.mu.Lock()
		h := ls.h
		ls.mu.Unlock()
		if h == nil {
			http.Error(w, "not wired yet", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ls.URL = srv.URL
	return ls
}

func (ls *lateServer) forwardTo(h http.Handler) { ls.mu.Lock(); ls.h = h; ls.mu.Unlock() }

// closedLoopbackPort returns a port nothing listens on.
func closedLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func b64url(v any) string {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	default:
		b, _ = json.Marshal(v)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenParts decodes a JWT's header and claims.
func tokenParts(t *testing.T, tok string) (header, claims map[string]any, parts []string) {
	t.Helper()
	parts = strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	for i, into := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims, parts
}

// tenantPublicKey fetches the fake tenant's current signing key from its JWKS, as an attacker can.
func tenantPublicKey(t *testing.T, s *stack, kid string) *rsa.PublicKey {
	t.Helper()
	resp, err := s.HTTPClient().Get(s.Entra.JWKSURL(2))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ KID, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.KID != kid {
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		e, _ := base64.RawURLEncoding.DecodeString(k.E)
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	t.Fatalf("kid %s not in the JWKS", kid)
	return nil
}

var (
	attackerKeyOnce sync.Once
	attackerKey     *rsa.PrivateKey
)

// signWithOwnKey signs claims with a key the tenant never published (an attacker's), RS256.
func signWithOwnKey(t *testing.T, kid string, claims jwt.MapClaims) string {
	t.Helper()
	if kid == "" {
		return signWithOwnKeyHeader(t, nil, claims)
	}
	return signWithOwnKeyHeader(t, map[string]any{"kid": kid}, claims)
}

// signWithOwnKeyHeader is signWithOwnKey with these header parameters besides alg and typ.
func signWithOwnKeyHeader(t *testing.T, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	attackerKeyOnce.Do(func() {
		var err error
		if attackerKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(attackerKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newCertificatePEM returns a self-signed certificate and its PKCS#8 RSA key, both PEM.
func newCertificatePEM(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	c, err := pki.NewClientCertificate("flowbricks-api")
	if err != nil {
		t.Fatal(err)
	}
	return c.CertPEM, c.KeyPEM
}

func testNonce(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// ---- app callers -----------------------------------------------------------------------------

func TestAppCallers(t *testing.T) {
	logicApp, noRoleApp := fixtureApp(t, "logic-app"), fixtureApp(t, "no-role-app")
	unlisted := fakeentra.App{Name: "unlisted-app", ClientID: "1091c0de-0000-4000-8000-00000000b0ff", Roles: []string{"Jobs.Run"}}
	s, logs := startCapturedStack(t, devstack.Options{
		Env:    []string{"FLOWBRICKS_APP_CALLERS=" + logicApp.ClientID + "," + noRoleApp.ClientID},
		Mutate: func(fx *devstack.Fixture) { fx.Entra.Apps = append(fx.Entra.Apps, unlisted) },
	})
	apiSP := strings.ToLower(s.Info.APIClientID)
	appTok := s.appToken(t, logicApp.ClientID, fakeentra.MintOptions{})
	entraBefore, wsBefore := s.Entra.Stats(), s.Workspace.Stats()

	t.Run("an allow-listed app with the role runs a job as the handler's own service principal", func(t *testing.T) {
		run := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: appTok, body: `{"job_id": 101}`})
		if run.status != 200 || run.json["job_id"] != 101.0 {
			t.Fatalf("run-now: %d %s", run.status, run.body)
		}
		runID := run.json["run_id"].(float64)
		if r := s.call(t, apiCall{method: "GET", path: fmt.Sprintf("/api/jobs/runs/%.0f", runID), token: appTok}); r.status != 200 {
			t.Fatalf("get-run: %d %s", r.status, r.body)
		}
		if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=daily-sales-refresh", token: appTok}); r.status != 200 || !strings.Contains(string(r.body), `"job_id":101`) {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=daily-sales-refresh", token: s.appToken(t, logicApp.ClientID, fakeentra.MintOptions{Version: 1})}); r.status != 200 {
			t.Fatalf("v1 app token (appid, App ID URI audience): %d %s", r.status, r.body)
		}

		ws := s.Workspace.Stats()
		if got := ws.RequestsByPrincipal[apiSP] - wsBefore.RequestsByPrincipal[apiSP]; got < 4 {
			t.Errorf("the workspace saw %d requests as the handler's service principal %s, want at least 4", got, apiSP)
		}
		for _, p := range []string{strings.ToLower(logicApp.ClientID), "alice@contoso.example"} {
			if ws.RequestsByPrincipal[p] != wsBefore.RequestsByPrincipal[p] {
				t.Errorf("the workspace saw requests as %s", p)
			}
		}
		audit := waitForLog(t, logs, "auditing the app's run-now", func(e logEntry) bool {
			return e["audit"] == true && e.str("request_id") == run.header.Get("X-Request-Id")
		})
		if audit.str("action") != "run-now" || audit.str("caller_kind") != "app" || audit.str("caller_app") != logicApp.ClientID ||
			audit.num("job_id") != 101 || audit.num("run_id") != runID {
			t.Errorf("audit line does not name the calling app and the run: %v", audit)
		}
	})

	t.Run("the app's Databricks token is fetched once and cached", func(t *testing.T) {
		st := s.Entra.Stats()
		if n := st.ClientCredentialsRequests - entraBefore.ClientCredentialsRequests; n != 1 {
			t.Errorf("%d client-credentials requests for 4 calls, want 1", n)
		}
		if n := st.OBORequests - entraBefore.OBORequests; n != 0 {
			t.Errorf("%d on-behalf-of requests for an app caller, want 0", n)
		}
	})

	refusals := []struct {
		name, token, detail string
	}{
		{"an app that is not allow-listed", s.appToken(t, unlisted.ClientID, fakeentra.MintOptions{}),
			"application " + unlisted.ClientID + " is not an allowed app caller"},
		{"an allow-listed app without the app role", s.appToken(t, noRoleApp.ClientID, fakeentra.MintOptions{}),
			"application " + noRoleApp.ClientID + " lacks the app role Jobs.Run"},
		{"an allow-listed app with another role only", s.appToken(t, logicApp.ClientID, fakeentra.MintOptions{Roles: []string{"Jobs.Read"}}),
			"lacks the app role Jobs.Run"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			entra, ws := s.Entra.Stats(), s.Workspace.Stats()
			r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: tt.token, body: `{"job_id": 101}`})
			if r.status != 403 || r.str("code") != "app_caller_not_allowed" || !strings.Contains(r.str("detail"), tt.detail) {
				t.Fatalf("got %d %s, want 403 app_caller_not_allowed %q", r.status, r.body, tt.detail)
			}
			if s.Entra.Stats().TokenRequests != entra.TokenRequests || s.Workspace.Stats().RequestsTotal != ws.RequestsTotal {
				t.Error("a refused app caller reached Entra or the workspace")
			}
		})
	}
}

// ---- the handler's own credential ------------------------------------------------------------

func TestHandlerCredentialKinds(t *testing.T) {
	logicApp := fixtureApp(t, "logic-app")
	certPEM, keyPEM := newCertificatePEM(t)
	certFile := filepath.Join(t.TempDir(), "flowbricks-api.pem")
	if err := os.WriteFile(certFile, []byte(certPEM+keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	msi := startLateServer(t)
	const miClientID = "3a9c0000-0000-4000-8000-0000000000f1"
	const miObjectID = "0a11ce00-0000-4000-8000-0000000000f1" // a federated subject of the fixture's API
	identityHeader := "identity-header-" + testNonce(t, 16)
	keyBody := strings.Split(strings.TrimSpace(keyPEM), "\n")[3] // a line of the private key

	tests := []struct {
		name       string
		env        []string
		mutate     func(*devstack.Fixture)
		kind       string // the handler's "credential" in its ready line
		method     string // what the fake Entra saw
		wantMSI    bool
		neverInLog []string
	}{
		{name: "client secret", kind: "client_secret", method: fakeentra.ClientAuthSecret},
		{name: "certificate",
			env:    []string{"AZURE_CLIENT_SECRET=", "AZURE_CLIENT_CERTIFICATE_PATH=" + certFile},
			mutate: func(fx *devstack.Fixture) { fx.Entra.API.CertificatesPEM = []string{certPEM} },
			kind:   "certificate", method: fakeentra.ClientAuthCertificate, neverInLog: []string{keyBody}},
		{name: "managed identity as federated credential",
			env: []string{"AZURE_CLIENT_SECRET=", "FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID=" + miClientID,
				"IDENTITY_ENDPOINT=" + msi.URL + "/msi/token", "IDENTITY_HEADER=" + identityHeader},
			mutate: func(fx *devstack.Fixture) {
				fx.Entra.ManagedIdentities = []fakeentra.ManagedIdentity{{ClientID: miClientID, ObjectID: miObjectID}}
				fx.Entra.IdentityHeader = identityHeader
			},
			kind: "managed_identity", method: fakeentra.ClientAuthFederated, wantMSI: true, neverInLog: []string{identityHeader}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kv := range tt.env {
				// azidentity reads the managed identity endpoint from the process environment, which
				// the in-process handler shares with the test.
				if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "IDENTITY_") {
					t.Setenv(k, v)
				}
			}
			s, logs := startCapturedStack(t, devstack.Options{
				Env:    append([]string{"FLOWBRICKS_APP_CALLERS=" + logicApp.ClientID}, tt.env...),
				Mutate: tt.mutate,
			})
			msi.forwardTo(s.Entra)
			ready := waitForLog(t, logs, "flowbricks ready", func(e logEntry) bool { return e.str("message") == "flowbricks ready" })
			if ready.str("credential") != tt.kind {
				t.Fatalf("the handler started with credential %q, want %q", ready.str("credential"), tt.kind)
			}

			alice := s.userToken(t, "alice", fakeentra.MintOptions{})
			run := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101}`})
			if run.status != 200 || run.json["run_id"] == nil {
				t.Fatalf("alice's run-now (on behalf of): %d %s", run.status, run.body)
			}
			app := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=daily-sales-refresh", token: s.appToken(t, logicApp.ClientID, fakeentra.MintOptions{})})
			if app.status != 200 {
				t.Fatalf("app caller (client credentials): %d %s", app.status, app.body)
			}

			st := s.Entra.Stats()
			if len(st.ClientAuthentications) != 1 || st.ClientAuthentications[tt.method] != 2 {
				t.Errorf("the fake Entra saw client authentications %v, want exactly 2 by %s (one OBO, one client credentials)",
					st.ClientAuthentications, tt.method)
			}
			if st.OBORequests != 1 || st.ClientCredentialsRequests != 1 || st.TokenErrors != 0 {
				t.Errorf("obo=%d client_credentials=%d errors=%d, want 1, 1, 0", st.OBORequests, st.ClientCredentialsRequests, st.TokenErrors)
			}
			if (st.MSIRequests > 0) != tt.wantMSI {
				t.Errorf("managed identity endpoint requests = %d", st.MSIRequests)
			}
			if ws := s.Workspace.Stats(); ws.RequestsByPrincipal["alice@contoso.example"] == 0 {
				t.Error("the workspace never saw alice: the run did not happen on her behalf")
			}
			for _, secret := range tt.neverInLog {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("the handler logged credential material")
				}
			}
		})
	}
}

// ---- Entra errors → actions ------------------------------------------------------------------

func TestEntraErrorsMapToActions(t *testing.T) {
	s, logs := startCapturedStack(t, devstack.Options{})
	// Warm up: discovery and keys are cached, so the cases below fail in the exchange only.
	if r := s.call(t, apiCall{method: "GET", path: "/api/health"}); r.status != 200 {
		t.Fatal(r.status)
	}

	t.Run("consent missing: 403 naming who must consent to what", func(t *testing.T) {
		r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: s.userToken(t, "dave", fakeentra.MintOptions{})})
		d := r.str("detail")
		if r.status != 403 || r.str("code") != "consent_required" ||
			!strings.Contains(d, "tenant administrator must grant admin consent") || !strings.Contains(d, "AzureDatabricks user_impersonation") ||
			!strings.Contains(d, "AADSTS65001") {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})

	t.Run("MFA required: 401 with Entra's claims challenge", func(t *testing.T) {
		r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: s.userToken(t, "erin", fakeentra.MintOptions{})})
		www := r.header.Get("WWW-Authenticate")
		_, after, ok := strings.Cut(www, `claims="`)
		claims, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(after, `"`))
		if r.status != 401 || r.str("code") != "interaction_required" || !ok || err != nil ||
			!strings.Contains(www, `error="insufficient_claims"`) || !strings.Contains(string(claims), `"capolids"`) || !json.Valid(claims) {
			t.Fatalf("got %d %q %s (claims %q, %v)", r.status, www, r.body, claims, err)
		}
	})

	t.Run("assertion refused (invalid_grant): 401 get a new token", func(t *testing.T) {
		if err := s.Entra.SetUserError("bob", fakeentra.ErrorInvalidGrant); err != nil {
			t.Fatal(err)
		}
		defer s.Entra.SetUserError("bob", fakeentra.ErrorNone)
		r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: s.userToken(t, "bob", fakeentra.MintOptions{})})
		if r.status != 401 || r.str("code") != "unauthenticated" || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) ||
			!strings.Contains(r.str("detail"), "AADSTS50013") {
			t.Fatalf("got %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
	})

	t.Run("Entra answers 503: 503 with Retry-After, and the failure is not cached", func(t *testing.T) {
		alice := s.userToken(t, "alice", fakeentra.MintOptions{})
		if err := s.Entra.SetUserError("alice", fakeentra.ErrorUnavailable); err != nil {
			t.Fatal(err)
		}
		r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: alice})
		if r.status != 503 || r.str("code") != "upstream_unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("got %d Retry-After=%q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		if err := s.Entra.SetUserError("alice", fakeentra.ErrorNone); err != nil {
			t.Fatal(err)
		}
		if r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: alice}); r.status != 200 {
			t.Fatalf("the same token once Entra recovered: %d %s", r.status, r.body)
		}
	})

	t.Run("Entra unreachable: 503 with Retry-After", func(t *testing.T) {
		bob := s.userToken(t, "bob", fakeentra.MintOptions{}) // never exchanged: needs Entra
		if err := s.StopEntra(testContext(t)); err != nil {   // the fake Entra ID's server
			t.Fatal(err)
		}
		r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: bob})
		if r.status != 503 || r.str("code") != "upstream_unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("got %d Retry-After=%q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		if r := s.call(t, apiCall{method: "GET", path: "/api/health"}); r.status != 200 {
			t.Fatalf("health with Entra down: %d", r.status)
		}
	})

	// No exchange failure is logged without the request it belongs to.
	for _, e := range mustEntries(logs, "entra: token exchange failed") {
		if e.str("request_id") == "" {
			t.Errorf("exchange failure logged without request_id: %v", e)
		}
	}
}

func mustEntries(logs *lockedBuffer, message string) []logEntry {
	entries, _ := logEntries(logs.String())
	var out []logEntry
	for _, e := range entries {
		if e.str("message") == message {
			out = append(out, e)
		}
	}
	return out
}

func TestWrongClientSecretIsMisconfiguredAndTellsTheOperator(t *testing.T) {
	wrong := "wrong-secret-" + testNonce(t, 12)
	s, logs := startCapturedStack(t, devstack.Options{Env: []string{"AZURE_CLIENT_SECRET=" + wrong}})
	r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: s.userToken(t, "alice", fakeentra.MintOptions{})})
	if r.status != 500 || r.str("code") != "misconfigured" || !strings.Contains(r.str("detail"), "administrator") ||
		!strings.HasSuffix(r.str("type"), "docs/troubleshooting.md#misconfigured") {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	line := waitForLog(t, logs, "operator action for the refused secret", func(e logEntry) bool {
		return e.str("message") == "entra: token exchange failed" && e.str("request_id") == r.str("request_id")
	})
	if line.str("level") != "error" || line.str("kind") != "misconfigured" || line.str("aadsts") != "AADSTS7000215" ||
		!strings.Contains(line.str("action"), "AZURE_CLIENT_SECRET") || line.str("trace_id") == "" {
		t.Errorf("the log line does not tell the operator what to fix: %v", line)
	}
	if strings.Contains(logs.String(), wrong) || strings.Contains(string(r.body), wrong) {
		t.Error("the wrong secret itself was logged or answered")
	}
}

func TestUnreachableAuthorityIsUnavailable(t *testing.T) {
	s, _ := startCapturedStack(t, devstack.Options{
		Env: []string{fmt.Sprintf("AZURE_AUTHORITY_HOST=https://127.0.0.1:%d/", closedLoopbackPort(t))},
	})
	r := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: s.userToken(t, "alice", fakeentra.MintOptions{})})
	if r.status != 503 || r.str("code") != "upstream_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("got %d Retry-After=%q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if s.Workspace.Stats().RequestsTotal != 0 {
		t.Error("the workspace was called without a validated token")
	}
}

// ---- attack table ----------------------------------------------------------------------------

// TestAttackTable has one case per validation rule; the reason in the answer shows which check
// refused it (each would be accepted, or refused for another reason, without that check).
// TestRejectedTokensGet401 covers: no token, expired (10 min), a foreign audience, another
// issuer host, a token from another key set, a payload made invalid, a scope missing, not a JWT.
func TestAttackTable(t *testing.T) {
	logicApp, noRoleApp := fixtureApp(t, "logic-app"), fixtureApp(t, "no-role-app")
	s, _ := startCapturedStack(t, devstack.Options{Env: []string{"FLOWBRICKS_APP_CALLERS=" + logicApp.ClientID}})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	bob := fixtureUser(t, s, "bob")
	header, claims, parts := tokenParts(t, alice)
	kid := header["kid"].(string)

	mint := func(o fakeentra.MintOptions) string { return s.userToken(t, "alice", o) }
	with := func(changes map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		for k, v := range changes {
			c[k] = v
		}
		return c
	}
	// alg none: the header says "no signature", the signature is empty.
	algNone := b64url(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + parts[1] + "."
	// HS256 "signed" with the tenant's RSA public key, which anyone can read from the JWKS.
	pub := tenantPublicKey(t, s, kid)
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, with(nil))
	hs.Header["kid"] = kid
	hs256, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	if err != nil {
		t.Fatal(err)
	}
	// The payload edited to be bob, the signature kept.
	tampered := parts[0] + "." + b64url(with(map[string]any{"oid": bob.OID, "preferred_username": bob.UPN})) + "." + parts[2]

	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	tests := []struct {
		name   string
		header http.Header
		status int
		code   string
		reason string // in WWW-Authenticate (401) or the detail (403); "" for accepted requests
	}{
		{"control: the genuine token", bearer(alice), 200, "", ""},
		{"scheme in lower case (RFC 6750: case-insensitive)", http.Header{"Authorization": {"bearer " + alice}}, 200, "", ""},
		{"token without the Bearer scheme", http.Header{"Authorization": {alice}}, 401, "unauthenticated", "Bearer"},
		{"another scheme", http.Header{"Authorization": {"Basic YWxpY2U6cGFzcw=="}}, 401, "unauthenticated", "Bearer"},
		{"two tokens in one header", http.Header{"Authorization": {"Bearer " + alice + " " + alice}}, 401, "unauthenticated", "more than one token"},
		{"two Authorization headers", http.Header{"Authorization": {"Bearer " + alice, "Bearer " + alice}}, 401, "unauthenticated", "more than one token"},
		{"characters outside token68", bearer(alice + "$"), 401, "unauthenticated", "characters not allowed"},
		{"oversized token with a valid signature", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"pad": strings.Repeat("a", 20_000)}})),
			401, "unauthenticated", "token too large"},
		{"alg none", bearer(algNone), 401, "unauthenticated", "signing algorithm not accepted"},
		{"HS256 signed with the RSA public key", bearer(hs256), 401, "unauthenticated", "signing algorithm not accepted"},
		{"unknown kid", bearer(signWithOwnKey(t, "attacker-kid", with(nil))), 401, "unauthenticated", "signing key not found"},
		{"no kid", bearer(signWithOwnKey(t, "", with(nil))), 401, "unauthenticated", "token has no key id"},
		{"tampered payload (oid of another user)", bearer(tampered), 401, "unauthenticated", "signature invalid"},
		{"expired just beyond the clock-skew leeway", bearer(mint(fakeentra.MintOptions{TTL: -3 * time.Minute})), 401, "unauthenticated", "token expired"},
		{"no exp", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"exp": nil}})), 401, "unauthenticated", "exp claim missing"},
		{"nbf in the future", bearer(mint(fakeentra.MintOptions{NotBefore: time.Now().Add(10 * time.Minute)})), 401, "unauthenticated", "token not valid yet"},
		{"iat in the future", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"iat": time.Now().Add(10 * time.Minute).Unix()}})), 401, "unauthenticated", "token issued in the future"},
		{"control: a 28 h token (continuous access evaluation)", bearer(mint(fakeentra.MintOptions{TTL: 28 * time.Hour})), 200, "", ""},
		{"lifetime longer than Entra issues", bearer(mint(fakeentra.MintOptions{TTL: 29 * time.Hour})), 401, "unauthenticated", "token lifetime too long"},
		{"crit header parameter (refused before the key lookup)", bearer(signWithOwnKeyHeader(t, map[string]any{"kid": kid, "crit": []string{"exp"}, "exp": 0}, with(nil))),
			401, "unauthenticated", "critical header not supported"},
		{`"Scp" standing in for scp`, bearer(mint(fakeentra.MintOptions{Scopes: []string{}, Extra: map[string]any{"Scp": "user_impersonation"}})), 401, "unauthenticated", `error="insufficient_scope"`},
		{`"TID" standing in for tid`, bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"tid": nil, "TID": s.Info.TenantID}})), 401, "unauthenticated", "tenant not accepted"},
		{"issuer of the real Entra ID for this tenant", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"iss": "https://login.microsoftonline.com/" + s.Info.TenantID + "/v2.0"}})),
			401, "unauthenticated", "issuer not accepted"},
		{"v1 issuer on a v2 token", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"iss": s.Entra.Issuer(1)}})), 401, "unauthenticated", "issuer not accepted"},
		{"unsupported token version", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"ver": "3.0"}})), 401, "unauthenticated", "token version not supported"},
		{"other tenant", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"tid": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"}})), 401, "unauthenticated", "tenant not accepted"},
		{"no oid", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"oid": nil}})), 401, "unauthenticated", "oid claim missing"},
		{"token for Microsoft Graph", bearer(mint(fakeentra.MintOptions{Audience: "00000003-0000-0000-c000-000000000000"})), 401, "unauthenticated", "audience not accepted"},
		{"token for Azure Databricks sent to flowbricks", bearer(mint(fakeentra.MintOptions{Audience: fakeentra.DatabricksResourceID, Version: 1})),
			401, "unauthenticated", "audience not accepted"},
		{"no scp claim", bearer(mint(fakeentra.MintOptions{Scopes: []string{}})), 401, "unauthenticated", `error="insufficient_scope"`},
		{"scope in other letter case", bearer(mint(fakeentra.MintOptions{Scopes: []string{"USER_IMPERSONATION"}})), 401, "unauthenticated", `error="insufficient_scope"`},
		{"user token of a client application not on FLOWBRICKS_CLIENT_APPS", bearer(mint(fakeentra.MintOptions{ClientAppID: "0ddba11a-0000-4000-8000-000000000000"})),
			403, "client_app_not_allowed", "client application not allowed: 0ddba11a-0000-4000-8000-000000000000"},
		{"user token without azp", bearer(mint(fakeentra.MintOptions{Extra: map[string]any{"azp": nil}})), 403, "client_app_not_allowed", "client application not allowed: (none)"},
		{"control: v1 user token of the listed client (appid)", bearer(mint(fakeentra.MintOptions{Version: 1})), 200, "", ""},
		{"user token carrying app roles instead of a scope", bearer(mint(fakeentra.MintOptions{Scopes: []string{}, Roles: []string{"Jobs.Run"}})),
			403, "app_caller_not_allowed", "is not an allowed app caller"},
		{"app-only token of an app not on the allow-list", bearer(s.appToken(t, noRoleApp.ClientID, fakeentra.MintOptions{Roles: []string{"Jobs.Run"}})),
			403, "app_caller_not_allowed", "is not an allowed app caller"},
		{"app-only token of an allow-listed app without the role", bearer(s.appToken(t, logicApp.ClientID, fakeentra.MintOptions{Roles: []string{}})),
			403, "app_caller_not_allowed", "lacks the app role Jobs.Run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entraBefore, wsBefore := s.Entra.Stats(), s.Workspace.Stats()
			r := s.rawCall(t, "GET", "/api/jobs?name=daily-sales-refresh", tt.header, "")
			www := r.header.Get("WWW-Authenticate")
			switch {
			case r.status != tt.status || r.str("code") != tt.code:
				t.Fatalf("got %d %q, want %d %q: %s", r.status, r.str("code"), tt.status, tt.code, r.body)
			case tt.status == 401 && !strings.Contains(www, tt.reason):
				t.Fatalf("WWW-Authenticate %q lacks %q", www, tt.reason)
			case tt.status == 403 && !strings.Contains(r.str("detail"), tt.reason):
				t.Fatalf("detail %q lacks %q", r.str("detail"), tt.reason)
			}
			if tt.status != 200 && (s.Entra.Stats().TokenRequests != entraBefore.TokenRequests || s.Workspace.Stats().RequestsTotal != wsBefore.RequestsTotal) {
				t.Error("a refused token reached Entra's token endpoint or the workspace")
			}
			if tt.reason == "Bearer" && www != "Bearer" {
				t.Errorf("no credentials: WWW-Authenticate = %q, want a bare challenge (RFC 6750 §3.1)", www)
			}
		})
	}

	t.Run("app-only tokens when no app caller is allow-listed", func(t *testing.T) {
		sh := startTestStack(t, devstack.Options{Env: []string{"FLOWBRICKS_APP_CALLERS="}}) // the stack allow-lists logic-app by default
		r := sh.call(t, apiCall{method: "GET", path: "/api/jobs", token: sh.appToken(t, logicApp.ClientID, fakeentra.MintOptions{})})
		if r.status != 403 || r.str("code") != "app_caller_not_allowed" || !strings.Contains(r.str("detail"), "app-only tokens are not accepted") {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

// ---- signing keys ----------------------------------------------------------------------------

func TestSigningKeyRotationIsPickedUp(t *testing.T) {
	s, _ := startCapturedStack(t, devstack.Options{})
	old := s.userToken(t, "alice", fakeentra.MintOptions{})
	if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=x", token: old}); r.status != 200 {
		t.Fatalf("before rotation: %d %s", r.status, r.body)
	}
	before := s.Entra.Stats().JWKSRequests
	s.Entra.RotateKeys()
	rotated := s.userToken(t, "alice", fakeentra.MintOptions{})
	if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=x", token: rotated}); r.status != 200 {
		t.Fatalf("a token signed with the new key: %d %s", r.status, r.body)
	}
	if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=x", token: old}); r.status != 200 {
		t.Fatalf("a token signed with the previous key, still published: %d %s", r.status, r.body)
	}
	if n := s.Entra.Stats().JWKSRequests - before; n < 1 || n > 2 {
		t.Errorf("the new kid caused %d JWKS fetches, want 1 or 2 (v2 and v1 key sets)", n)
	}
}

func TestUnknownKIDFloodIsRateLimited(t *testing.T) {
	s, _ := startCapturedStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=x", token: alice}); r.status != 200 {
		t.Fatalf("warm-up: %d %s", r.status, r.body)
	}
	_, claims, _ := tokenParts(t, alice)
	before := s.Entra.Stats().JWKSRequests
	start := time.Now()

	const flood = 40
	var wg sync.WaitGroup
	statuses := make(chan int, flood)
	for i := range flood {
		tok := signWithOwnKey(t, fmt.Sprintf("junk-kid-%d", i), jwt.MapClaims(claims))
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- s.call(t, apiCall{method: "GET", path: "/api/jobs?name=x", token: tok}).status
		}()
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 401 {
			t.Fatalf("an unknown-kid token got %d", st)
		}
	}
	// One refresh of the v2 and v1 key sets per interval the flood lasted (one, unless the machine
	// is very slow).
	intervals := 1 + int64(time.Since(start)/entra.DefaultUnknownKIDRefreshInterval)
	if n := s.Entra.Stats().JWKSRequests - before; n > 2*intervals {
		t.Errorf("%d unknown-kid tokens caused %d JWKS fetches, want at most %d (one refresh of the v2 and v1 key sets per %v)",
			flood, n, 2*intervals, entra.DefaultUnknownKIDRefreshInterval)
	}
	if r := s.call(t, apiCall{method: "GET", path: "/api/jobs?name=x", token: alice}); r.status != 200 {
		t.Fatalf("after the flood: %d %s", r.status, r.body)
	}
}

// ---- workspace and job allow-lists -----------------------------------------------------------

func TestWorkspaceAndJobAllowLists(t *testing.T) {
	other := startLateServer(t) // the "other" workspace: the same fake, reached at another host
	s, _ := startCapturedStack(t, devstack.Options{Env: []string{
		"FLOWBRICKS_WORKSPACES=other=" + other.URL,
		"FLOWBRICKS_JOBS=101",
	}})
	other.forwardTo(s.Workspace)
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})

	t.Run("a configured workspace is used by name", func(t *testing.T) {
		before := other.requests.Load()
		r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now?workspace=other&wait=true", token: alice, body: `{"job_id": 101}`})
		if r.status != 202 || !strings.Contains(r.header.Get("Location"), "workspace=other") {
			t.Fatalf("got %d Location=%q %s", r.status, r.header.Get("Location"), r.body)
		}
		if other.requests.Load()-before < 2 {
			t.Error("the run did not go to the other workspace's host")
		}
	})

	for _, name := range []string{"evil", "https://attacker.example", "default/../evil", "127.0.0.1:8443"} {
		t.Run("workspace "+name+" is refused before any upstream call", func(t *testing.T) {
			before, ws := other.requests.Load(), s.Workspace.Stats().RequestsTotal
			r := s.call(t, apiCall{method: "GET", path: "/api/jobs?workspace=" + urlQueryEscape(name), token: alice})
			if r.status != 400 || r.str("code") != "invalid_request" || !strings.Contains(r.str("detail"), "not configured") {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if other.requests.Load() != before || s.Workspace.Stats().RequestsTotal != ws {
				t.Error("an upstream host was called for an unknown workspace")
			}
		})
	}

	t.Run("jobs outside FLOWBRICKS_JOBS are neither listed, run, read nor cancelled", func(t *testing.T) {
		list := s.call(t, apiCall{method: "GET", path: "/api/jobs", token: alice})
		var jobs []struct {
			JobID int64 `json:"job_id"`
		}
		if err := json.Unmarshal(list.body, &jobs); err != nil || list.status != 200 || len(jobs) != 1 || jobs[0].JobID != 101 {
			t.Fatalf("list: %d %s", list.status, list.body)
		}
		ws := s.Workspace.Stats()
		r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 102}`})
		if r.status != 403 || r.str("code") != "job_not_allowed" || !strings.Contains(r.str("detail"), "FLOWBRICKS_JOBS") {
			t.Fatalf("run-now 102: %d %s", r.status, r.body)
		}
		if r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_name": "nightly-ingest"}`}); r.status != 404 {
			t.Fatalf("run-now by the name of job 102: %d %s", r.status, r.body)
		}
		if got := s.Workspace.Stats(); got.RunNow != ws.RunNow {
			t.Error("run-now reached the workspace for a job outside the allow-list")
		}

		// A run of job 102 started directly in the workspace (not through flowbricks).
		runID := startRunDirectly(t, s, "alice", 102)
		for _, c := range []apiCall{
			{method: "GET", path: fmt.Sprintf("/api/jobs/runs/%d", runID), token: alice},
			{method: "GET", path: fmt.Sprintf("/api/jobs/runs/%d/output", runID), token: alice},
			{method: "POST", path: fmt.Sprintf("/api/jobs/runs/%d/cancel", runID), token: alice},
		} {
			if r := s.call(t, c); r.status != 403 || r.str("code") != "job_not_allowed" {
				t.Fatalf("%s %s: %d %s", c.method, c.path, r.status, r.body)
			}
		}
		if s.Workspace.Stats().RunsCancel != ws.RunsCancel {
			t.Error("a run of a job outside the allow-list was cancelled")
		}
	})
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "#", "%23", "?", "%3F", " ", "%20", "/", "%2F", ":", "%3A")
	return r.Replace(s)
}

// startRunDirectly triggers a job at the fake workspace with the user's Databricks token, around
// flowbricks, and returns the run id.
func startRunDirectly(t *testing.T, s *stack, user string, jobID int64) int64 {
	t.Helper()
	dbx, err := s.Entra.MintUserToken(user, fakeentra.MintOptions{Audience: fakeentra.DatabricksResourceID, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", s.Info.DatabricksHost+fakeworkspace.PathRunNow, strings.NewReader(fmt.Sprintf(`{"job_id": %d}`, jobID)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+dbx)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		RunID int64 `json:"run_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.RunID == 0 {
		t.Fatalf("direct run-now: %d %v", resp.StatusCode, err)
	}
	return out.RunID
}

// ---- log hygiene -----------------------------------------------------------------------------

func TestAuditLinesAndRequestIDsOnEveryLogLine(t *testing.T) {
	s, logs := startCapturedStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	aliceUser := fixtureUser(t, s, "alice")
	const workflowRun = "08585RUN-HYGIENE"
	wf := map[string]string{"x-ms-workflow-run-id": workflowRun, "x-ms-workflow-operation-name": "Run_job"}

	runA := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101}`, header: wf})
	runB := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 104}`, header: wf})
	if runA.status != 200 || runB.status != 200 {
		t.Fatalf("run-now: %d %s / %d %s", runA.status, runA.body, runB.status, runB.body)
	}
	cancel := s.call(t, apiCall{method: "POST", path: fmt.Sprintf("/api/jobs/runs/%.0f/cancel", runB.json["run_id"]), token: alice, header: wf})
	if cancel.status != 200 {
		t.Fatalf("cancel: %d %s", cancel.status, cancel.body)
	}
	others := []apiResponse{
		s.call(t, apiCall{method: "GET", path: fmt.Sprintf("/api/jobs/runs/%.0f", runA.json["run_id"]), token: alice, header: wf}),
		s.call(t, apiCall{method: "GET", path: "/api/jobs", token: alice, header: wf}),
		s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: s.userToken(t, "bob", fakeentra.MintOptions{}), body: `{"job_id": 101}`, header: wf}),
		s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": "x"}`, header: wf}),
		s.call(t, apiCall{method: "GET", path: "/api/jobs", token: s.userToken(t, "dave", fakeentra.MintOptions{}), header: wf}),
		s.call(t, apiCall{method: "GET", path: "/api/jobs", token: alice + "x", header: wf}),
		s.call(t, apiCall{method: "GET", path: "/api/nothing-here", header: wf}),
	}
	all := append([]apiResponse{runA, runB, cancel}, others...)
	ids := map[string]bool{}
	for _, r := range all {
		id := r.header.Get("X-Request-Id")
		if id == "" {
			t.Fatalf("no X-Request-Id on %d %s", r.status, r.body)
		}
		ids[id] = true
	}
	last := all[len(all)-1].header.Get("X-Request-Id")
	waitForLog(t, logs, "the access line of the last request", func(e logEntry) bool {
		return e.str("message") == "request" && e.str("request_id") == last
	})

	t.Run("an audit line per state-changing call: who, app, job, run, idempotency token, workflow run", func(t *testing.T) {
		type want struct {
			resp   apiResponse
			action string
			job    float64
			token  string
		}
		for _, w := range []want{
			{runA, "run-now", 101, runA.str("idempotency_token")},
			{runB, "run-now", 104, runB.str("idempotency_token")},
			{cancel, "cancel", 104, ""},
		} {
			a := waitForLog(t, logs, "audit "+w.action, func(e logEntry) bool {
				return e["audit"] == true && e.str("request_id") == w.resp.header.Get("X-Request-Id")
			})
			if a.str("action") != w.action || a.str("caller_oid") != aliceUser.OID || a.str("caller_name") != aliceUser.UPN ||
				a.str("caller_tenant") != s.Info.TenantID || a.str("caller_app") != fakeentra.DefaultClientAppID ||
				a.num("job_id") != w.job || a.num("run_id") != w.resp.json["run_id"] || a.str("workflow_run_id") != workflowRun {
				t.Errorf("audit line %v", a)
			}
			if w.action == "run-now" && (w.token == "" || a.str("idempotency_token") != w.token) {
				t.Errorf("audit line lacks the idempotency token %q: %v", w.token, a)
			}
		}
		entries, _ := logEntries(logs.String())
		audits := 0
		for _, e := range entries {
			if e["audit"] == true {
				audits++
			}
		}
		if audits != 3 {
			t.Errorf("%d audit lines, want 3 (two run-now, one cancel; reads and refusals are not audited)", audits)
		}
	})

	t.Run("every log line of a request carries its request id and workflow run id", func(t *testing.T) {
		entries, other := logEntries(logs.String())
		perRequest := map[string]int{}
		for _, e := range entries {
			switch e.str("message") {
			case "flowbricks ready", "shutting down":
				continue // the process's own lines
			}
			id := e.str("request_id")
			if id == "" {
				t.Errorf("log line without request_id: %v", e)
				continue
			}
			if ids[id] {
				perRequest[id]++
				if e.str("workflow_run_id") != workflowRun {
					t.Errorf("log line of a workflow request without workflow_run_id: %v", e)
				}
			}
		}
		for id := range ids {
			if perRequest[id] == 0 {
				t.Errorf("request %s left no log line", id)
			}
		}
		for _, l := range other {
			if !strings.HasPrefix(l, "[hoststandin]") {
				t.Errorf("a log line that is not JSON: %q", l)
			}
		}
	})
}
