package entra

// This package's tests talk to the one fake Microsoft Entra ID, devstack/fakeentra: discovery,
// signing keys, the token endpoint (On-Behalf-Of, client credentials, client secrets,
// certificates, federated credentials) and App Service's managed identity endpoint, served over
// TLS by httptest. fakeEntra only stands in front of it: it counts and records requests, and
// injects what a test needs that Entra does not do on request — an endpoint failing, a token
// request held until the test releases it, or a token answer the test scripted (an error body
// from Entra's error reference, an echo of the request). Everything else is the fake's answer.

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/testsupport"
)

const (
	testTenant    = "8f2c5e1a-3b4d-4c6e-9f0a-1b2c3d4e5f60"
	otherTenant   = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
	testAPIClient = "6e1f0c2d-7a8b-4c9d-8e0f-1a2b3c4d5e6f" // the flowbricks API app registration
	testClientApp = "c0ffee00-1111-4222-8333-444455556666" // the connector's client app
	testAppCaller = "a1b2c3d4-0000-4000-8000-00000000a11a" // an allow-listed Logic App identity
	testSecret    = "s3cr3t~Value.With-Enough_Entropy"
	databricksApp = azure.DatabricksAppID
	grantOBO      = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	aliceOID      = "11111111-2222-4333-8444-555555555555"
)

// testKey is a signing key a test holds, so that it can sign what Entra never would.
type testKey struct {
	kid  string
	priv *rsa.PrivateKey
	sk   *fakeentra.SigningKey
}

var (
	keysOnce sync.Once
	keyPool  []*testKey
)

// testKeys returns n signing keys, generated once per test binary (key generation is slow). The
// fake publishes the first; the others are strangers until a test rotates to one.
func testKeys(tb testing.TB, n int) []*testKey {
	tb.Helper()
	keysOnce.Do(func() {
		for range 4 {
			k, err := fakeentra.NewSigningKey()
			if err != nil {
				panic(err)
			}
			keyPool = append(keyPool, &testKey{kid: k.KeyID(), priv: k.PrivateKey(), sk: k})
		}
	})
	return keyPool[:n]
}

// scripted is a token-endpoint answer a test wrote.
type scripted struct {
	status int
	header map[string]string
	body   any // JSON-encoded unless it is a string
}

type fakeEntra struct {
	fe  *fakeentra.Server
	srv *httptest.Server

	tenant   string
	miHeader string // what the managed identity endpoint expects in X-IDENTITY-HEADER

	mu              sync.Mutex
	keys            []*testKey // published, current first
	counts          map[string]int
	tokenForms      []url.Values
	msiRequests     []*http.Request
	discoveryStatus int                             // non-zero: discovery answers this status
	jwksStatus      int                             // non-zero: the key endpoints answer this status
	miStatus        int                             // non-zero: the managed identity endpoint answers this status
	respond         func(form url.Values) *scripted // scripted token-endpoint answers; nil = the fake's
	block           chan struct{}                   // non-nil: token requests wait for it to close
	entered         chan struct{}                   // receives one value per token request that started
}

// newFakeEntra starts the fake tenant: the flowbricks API registration with testSecret, alice,
// tokens living exactly an hour; mods change the fake's configuration (a certificate, a managed
// identity) before it starts.
func newFakeEntra(t testing.TB, mods ...func(*fakeentra.Config)) *fakeEntra {
	t.Helper()
	f := &fakeEntra{
		tenant:   testTenant,
		keys:     testKeys(t, 1),
		counts:   map[string]int{},
		miHeader: "msi-header-" + fmt.Sprint(time.Now().UnixNano()),
	}
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // tests close the server under clients on purpose
	f.srv.StartTLS()
	cfg := fakeentra.Config{
		BaseURL:  f.srv.URL,
		TenantID: testTenant,
		API:      fakeentra.APIRegistration{ClientID: testAPIClient, ClientSecret: testSecret},
		Users:    []fakeentra.User{{Name: "alice", OID: aliceOID, UPN: "alice@contoso.example", DisplayName: "Alice Example"}},
		Apps:     []fakeentra.App{{ClientID: testAppCaller, Roles: []string{"Jobs.Run"}}},
		TokenTTL: time.Hour,
		// The managed identity endpoint answers only with a header configured.
		IdentityHeader: f.miHeader,
		SigningKey:     f.keys[0].sk,
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	fe, err := fakeentra.New(cfg)
	if err != nil {
		f.srv.Close()
		t.Fatal(err)
	}
	f.mu.Lock()
	f.fe = fe
	f.mu.Unlock()
	t.Cleanup(func() {
		f.mu.Lock()
		if f.block != nil {
			select {
			case <-f.block:
			default:
				close(f.block)
			}
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *fakeEntra) URL() string           { return f.srv.URL }
func (f *fakeEntra) Client() *http.Client  { return f.srv.Client() }
func (f *fakeEntra) v2Issuer() string      { return f.fe.Issuer(2) }
func (f *fakeEntra) v1Issuer() string      { return f.fe.Issuer(1) }
func (f *fakeEntra) count(name string) int { f.mu.Lock(); defer f.mu.Unlock(); return f.counts[name] }

// rotateTo makes Entra roll its signing key over to k: k signs from now on, the key signing until
// now stays published for the overlap.
func (f *fakeEntra) rotateTo(k *testKey) {
	f.fe.RotateKeysTo(k.sk)
	f.mu.Lock()
	f.keys = []*testKey{k, f.keys[0]}
	f.mu.Unlock()
}

func (f *fakeEntra) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.counts {
		n += c
	}
	return n
}

func (f *fakeEntra) forms() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.tokenForms...)
}

func (f *fakeEntra) set(fn func(f *fakeEntra)) { f.mu.Lock(); fn(f); f.mu.Unlock() }

// endpoint names the fake's endpoint a request is for, the key of counts.
func endpoint(path string) string {
	p := strings.ToLower(path)
	switch {
	case strings.HasSuffix(p, "/v2.0/.well-known/openid-configuration"):
		return "disco2"
	case strings.HasSuffix(p, "/.well-known/openid-configuration"):
		return "disco1"
	case strings.HasSuffix(p, "/discovery/v2.0/keys"):
		return "jwks2"
	case strings.HasSuffix(p, "/discovery/keys"):
		return "jwks1"
	case strings.HasSuffix(p, "/oauth2/v2.0/token"), strings.HasSuffix(p, "/oauth2/token"):
		return "token"
	case p == "/msi/token":
		return "msi"
	}
	return "other"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP counts, records and injects, then hands the request to the fake.
func (f *fakeEntra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := endpoint(r.URL.Path)
	f.mu.Lock()
	f.counts[name]++
	fe, discoveryStatus, jwksStatus, miStatus := f.fe, f.discoveryStatus, f.jwksStatus, f.miStatus
	block, entered, respond := f.block, f.entered, f.respond
	if name == "msi" {
		f.msiRequests = append(f.msiRequests, r.Clone(r.Context()))
	}
	f.mu.Unlock()

	switch name {
	case "disco1", "disco2":
		if discoveryStatus != 0 {
			writeJSON(w, discoveryStatus, map[string]any{"error": "temporarily_unavailable"})
			return
		}
	case "jwks1", "jwks2":
		if jwksStatus != 0 {
			w.WriteHeader(jwksStatus)
			return
		}
	case "msi":
		if miStatus != 0 {
			writeJSON(w, miStatus, map[string]any{"statusCode": miStatus, "message": "scripted failure"})
			return
		}
	case "token":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		f.mu.Lock()
		f.tokenForms = append(f.tokenForms, form)
		f.mu.Unlock()
		if entered != nil {
			entered <- struct{}{}
		}
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				f.mu.Lock()
				f.counts["token_cancelled"]++
				f.mu.Unlock()
				return
			}
		}
		if respond != nil {
			if s := respond(form); s != nil {
				s.write(w)
				return
			}
		}
	}
	fe.ServeHTTP(w, r)
}

func (s *scripted) write(w http.ResponseWriter) {
	for k, v := range s.header {
		w.Header().Set(k, v)
	}
	if str, ok := s.body.(string); ok {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(str))
		return
	}
	writeJSON(w, s.status, s.body)
}

// entraError is Entra's error body (reference-error-codes.md), for a scripted answer.
func entraError(status int, errCode string, code int, desc string, extra map[string]any) *scripted {
	body := map[string]any{
		"error":             errCode,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: 0000aaaa-1111-2222-3333-444455556666\r\nCorrelation ID: 7777bbbb-8888-9999-aaaa-bbbbccccdddd\r\nTimestamp: 2026-11-28 10:00:00Z", code, desc),
		"error_codes":       []int{code},
		"timestamp":         "2026-11-28 10:00:00Z",
		"trace_id":          "0000aaaa-1111-2222-3333-444455556666",
		"correlation_id":    "7777bbbb-8888-9999-aaaa-bbbbccccdddd",
		"error_uri":         "https://login.microsoftonline.com/error?code=" + fmt.Sprint(code),
	}
	for k, v := range extra {
		body[k] = v
	}
	return &scripted{status: status, body: body}
}

// untilDeadline ends at the test's deadline (go test -timeout), or with the test: waits are bounded
// by it, never by a fixed figure a loaded machine could exceed.
func untilDeadline(t testing.TB) context.Context { return testsupport.Context(t) }

// eventually polls cond until it holds, failing the test with what when the deadline comes first.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx := untilDeadline(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not before the test's deadline", what)
		case <-time.After(time.Millisecond):
		}
	}
}

// ---- tokens -------------------------------------------------------------------------------

// userToken is a user token the fake issues now for the flowbricks API, for user number n (its
// own oid), as a client would get it; the fake exchanges it On-Behalf-Of.
func userToken(t testing.TB, f *fakeEntra, n int) Token {
	t.Helper()
	tok, err := f.fe.MintUserToken("alice", fakeentra.MintOptions{TTL: time.Hour, ClientAppID: testClientApp,
		Extra: map[string]any{"oid": fmt.Sprintf("00000000-0000-4000-8000-%012d", n)}})
	if err != nil {
		t.Fatal(err)
	}
	return Token(tok)
}

// aliceToken is alice's own token (the faults the fake injects are per user: SetUserError).
func aliceToken(t testing.TB, f *fakeEntra) Token {
	t.Helper()
	tok, err := f.fe.MintUserToken("alice", fakeentra.MintOptions{TTL: time.Hour, ClientAppID: testClientApp})
	if err != nil {
		t.Fatal(err)
	}
	return Token(tok)
}

// databricksClaims are the claims of a Databricks token the fake issued, or false.
func (f *fakeEntra) databricksClaims(dbx Token) (fakeentra.Claims, bool) {
	c, err := f.fe.Verify(dbx.Reveal(), azure.DatabricksAppID)
	return c, err == nil
}

// issuedFor reports whether dbx is a Databricks token the fake issued On-Behalf-Of the user of
// incoming.
func (f *fakeEntra) issuedFor(dbx, incoming Token) bool {
	c, ok := f.databricksClaims(dbx)
	var in jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(incoming.Reveal(), &in); err != nil {
		return false
	}
	return ok && !c.IsApp && c.OID == in["oid"]
}

// isAppToken reports whether dbx is a Databricks token the fake issued to the flowbricks API itself.
func (f *fakeEntra) isAppToken(dbx Token) bool {
	c, ok := f.databricksClaims(dbx)
	return ok && c.IsApp && c.AppID == testAPIClient
}

// testNow is the validator clock in validation tests.
var testNow = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

// userClaimsV2 and the others are the claims of tokens as Entra issues them (access-token-claims-
// reference), at testNow, for tests that sign them themselves to change what Entra never would.
func (f *fakeEntra) userClaimsV2() jwt.MapClaims {
	return jwt.MapClaims{
		"aud":                testAPIClient,
		"iss":                f.v2Issuer(),
		"iat":                testNow.Add(-5 * time.Minute).Unix(),
		"nbf":                testNow.Add(-5 * time.Minute).Unix(),
		"exp":                testNow.Add(time.Hour).Unix(),
		"azp":                testClientApp,
		"azpacr":             "0",
		"name":               "Alice Example",
		"oid":                aliceOID,
		"preferred_username": "alice@contoso.example",
		"scp":                "user_impersonation",
		"sub":                "alice-sub",
		"tid":                f.tenant,
		"ver":                "2.0",
	}
}

func (f *fakeEntra) userClaimsV1() jwt.MapClaims {
	return jwt.MapClaims{
		"aud":         "api://" + testAPIClient,
		"iss":         f.v1Issuer(),
		"iat":         testNow.Add(-5 * time.Minute).Unix(),
		"nbf":         testNow.Add(-5 * time.Minute).Unix(),
		"exp":         testNow.Add(time.Hour).Unix(),
		"appid":       testClientApp,
		"appidacr":    "0",
		"oid":         aliceOID,
		"upn":         "alice@contoso.example",
		"unique_name": "alice@contoso.example",
		"scp":         "user_impersonation",
		"tid":         f.tenant,
		"ver":         "1.0",
	}
}

func (f *fakeEntra) appClaimsV2() jwt.MapClaims {
	return jwt.MapClaims{
		"aud":   testAPIClient,
		"iss":   f.v2Issuer(),
		"iat":   testNow.Add(-5 * time.Minute).Unix(),
		"nbf":   testNow.Add(-5 * time.Minute).Unix(),
		"exp":   testNow.Add(time.Hour).Unix(),
		"azp":   testAppCaller,
		"idtyp": "app",
		"oid":   "99999999-8888-4777-8666-555555555555",
		"roles": []string{"Jobs.Run"},
		"tid":   f.tenant,
		"ver":   "2.0",
	}
}

// sign signs claims with key under kid using RS256 (Entra's algorithm).
func sign(tb testing.TB, key *testKey, kid string, claims jwt.MapClaims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// mint signs claims with the key the fake signs with now.
func (f *fakeEntra) mint(tb testing.TB, claims jwt.MapClaims) string {
	f.mu.Lock()
	k := f.keys[0]
	f.mu.Unlock()
	return sign(tb, k, k.kid, claims)
}

// with returns a copy of c with changes applied; a nil value deletes the claim.
func with(c jwt.MapClaims, changes map[string]any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
