package entra

// A small in-package fake of Microsoft Entra ID, just enough for this package's tests:
// v1/v2 discovery, JWKS (with rotation), the token endpoint (OBO jwt-bearer and client
// credentials, client secret or client assertion, scripted errors) and App Service's managed
// identity endpoint. Every endpoint counts its calls.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flowbricks/flowbricks/internal/azure"
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
)

// testKey is a signing key with the certificate Entra publishes in x5c.
type testKey struct {
	kid  string
	priv *rsa.PrivateKey
	cert []byte
}

var (
	keysOnce sync.Once
	keyPool  []*testKey
)

// testKeys returns n RSA keys, generated once per test binary (key generation is slow).
func testKeys(tb testing.TB, n int) []*testKey {
	tb.Helper()
	keysOnce.Do(func() {
		for i := 0; i < 4; i++ {
			priv, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(int64(i + 1)),
				Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
				NotBefore:    time.Now().Add(-time.Hour),
				NotAfter:     time.Now().Add(24 * time.Hour),
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
			if err != nil {
				panic(err)
			}
			keyPool = append(keyPool, &testKey{kid: fmt.Sprintf("kid-%d-%x", i, sha1.Sum(der)), priv: priv, cert: der})
		}
	})
	return keyPool[:n]
}

// scripted is a canned token-endpoint answer.
type scripted struct {
	status int
	header map[string]string
	body   any // JSON-encoded unless it is a string
}

type fakeEntra struct {
	t      testing.TB
	srv    *httptest.Server
	tenant string

	mu              sync.Mutex
	keys            []*testKey
	counts          map[string]int
	tokenForms      []url.Values
	msiRequests     []*http.Request
	discoveryStatus int // non-zero: discovery answers this status
	jwksStatus      int // non-zero: JWKS answers this status
	seq             int
	expiresIn       int
	respond         func(form url.Values) *scripted // scripted token-endpoint answers; nil = normal
	block           chan struct{}                   // non-nil: token requests wait for it to close
	entered         chan struct{}                   // receives one value per token request that started

	clientID, clientSecret string
	clientCert             *x509.Certificate // accepted client-assertion signer
	miClientID, miHeader   string
	miStatus               int
	miToken                string
}

func newFakeEntra(t testing.TB) *fakeEntra {
	t.Helper()
	f := &fakeEntra{
		t:            t,
		tenant:       testTenant,
		keys:         testKeys(t, 1),
		counts:       map[string]int{},
		expiresIn:    3600,
		clientID:     testAPIClient,
		clientSecret: testSecret,
		miHeader:     "msi-header-" + strconv.FormatInt(time.Now().UnixNano(), 36),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", f.discovery("disco2"))
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", f.discovery("disco1"))
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", f.jwks("jwks2"))
	mux.HandleFunc("GET /{tenant}/discovery/keys", f.jwks("jwks1"))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", f.token)
	mux.HandleFunc("GET /msi/token", f.msi)
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // tests close the server under clients on purpose
	f.srv.StartTLS()
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

func (f *fakeEntra) URL() string             { return f.srv.URL }
func (f *fakeEntra) Client() *http.Client    { return f.srv.Client() }
func (f *fakeEntra) base() string            { return f.srv.URL + "/" + f.tenant }
func (f *fakeEntra) v2Issuer() string        { return f.base() + "/v2.0" }
func (f *fakeEntra) v1Issuer() string        { return "https://sts.windows.net/" + f.tenant + "/" }
func (f *fakeEntra) tokenEndpoint() string   { return f.base() + "/oauth2/v2.0/token" }
func (f *fakeEntra) count(name string) int   { f.mu.Lock(); defer f.mu.Unlock(); return f.counts[name] }
func (f *fakeEntra) setKeys(keys []*testKey) { f.mu.Lock(); f.keys = keys; f.mu.Unlock() }

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

func (f *fakeEntra) hit(name string) {
	f.mu.Lock()
	f.counts[name]++
	f.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeEntra) discovery(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.hit(name)
		f.mu.Lock()
		status := f.discoveryStatus
		f.mu.Unlock()
		if status != 0 {
			writeJSON(w, status, map[string]any{"error": "temporarily_unavailable"})
			return
		}
		if r.PathValue("tenant") != f.tenant {
			writeJSON(w, 400, map[string]any{"error": "invalid_tenant", "error_codes": []int{90002}})
			return
		}
		doc := map[string]any{
			"token_endpoint":                        f.tokenEndpoint(),
			"authorization_endpoint":                f.base() + "/oauth2/v2.0/authorize",
			"issuer":                                f.v2Issuer(),
			"jwks_uri":                              f.base() + "/discovery/v2.0/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"tenant_region_scope":                   "EU",
			"cloud_instance_name":                   "microsoftonline.com",
		}
		if name == "disco1" {
			doc["issuer"] = f.v1Issuer()
			doc["jwks_uri"] = f.base() + "/discovery/keys"
			doc["token_endpoint"] = f.base() + "/oauth2/token"
			doc["authorization_endpoint"] = f.base() + "/oauth2/authorize"
		}
		writeJSON(w, 200, doc)
	}
}

func (f *fakeEntra) jwks(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		f.hit(name)
		f.mu.Lock()
		status, keys := f.jwksStatus, f.keys
		f.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		var out []map[string]any
		for _, k := range keys {
			x5t := sha1.Sum(k.cert)
			out = append(out, map[string]any{
				"kty":    "RSA",
				"use":    "sig",
				"kid":    k.kid,
				"x5t":    base64.RawURLEncoding.EncodeToString(x5t[:]),
				"n":      base64.RawURLEncoding.EncodeToString(k.priv.N.Bytes()),
				"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
				"x5c":    []string{base64.StdEncoding.EncodeToString(k.cert)},
				"issuer": f.v2Issuer(),
			})
		}
		writeJSON(w, 200, map[string]any{"keys": out})
	}
}

// shortHash names the user assertion in the tokens the fake issues, so tests can check that a
// Databricks token was issued for the right incoming token.
func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

func entraError(status int, errCode string, code int, desc string, extra map[string]any) *scripted {
	body := map[string]any{
		"error":             errCode,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: 0000aaaa-1111-2222-3333-444455556666\r\nCorrelation ID: 7777bbbb-8888-9999-aaaa-bbbbccccdddd\r\nTimestamp: 2026-11-28 10:00:00Z", code, desc),
		"error_codes":       []int{code},
		"timestamp":         "2026-11-28 10:00:00Z",
		"trace_id":          "0000aaaa-1111-2222-3333-444455556666",
		"correlation_id":    "7777bbbb-8888-9999-aaaa-bbbbccccdddd",
		"error_uri":         "https://login.microsoftonline.com/error?code=" + strconv.Itoa(code),
	}
	for k, v := range extra {
		body[k] = v
	}
	return &scripted{status: status, body: body}
}

func (f *fakeEntra) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	f.mu.Lock()
	f.counts["token"]++
	f.tokenForms = append(f.tokenForms, r.PostForm)
	block, entered, respond := f.block, f.entered, f.respond
	f.mu.Unlock()

	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			f.hit("token_cancelled")
			return
		case <-time.After(30 * time.Second):
			f.t.Error("fake entra: token request blocked for too long")
			return
		}
	}

	form := r.PostForm
	if form.Get("client_id") != f.clientID {
		f.write(w, entraError(400, "unauthorized_client", 700016, "Application with identifier '"+form.Get("client_id")+"' was not found in the directory.", nil))
		return
	}
	if bad := f.checkClientAuth(form); bad != nil {
		f.write(w, bad)
		return
	}
	if respond != nil {
		if s := respond(form); s != nil {
			f.write(w, s)
			return
		}
	}
	f.mu.Lock()
	f.seq++
	seq, expiresIn := f.seq, f.expiresIn
	f.mu.Unlock()

	var access string
	switch form.Get("grant_type") {
	case grantOBO:
		if form.Get("requested_token_use") != "on_behalf_of" || form.Get("assertion") == "" {
			f.write(w, entraError(400, "invalid_request", 90014, "A required field is missing.", nil))
			return
		}
		access = fmt.Sprintf("dbx-obo-%s-%d", shortHash(form.Get("assertion")), seq)
	case "client_credentials":
		access = fmt.Sprintf("dbx-app-%d", seq)
	default:
		f.write(w, entraError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.", nil))
		return
	}
	if !strings.Contains(form.Get("scope"), databricksApp+"/.default") {
		f.write(w, entraError(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid.", nil))
		return
	}
	writeJSON(w, 200, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     expiresIn,
		"ext_expires_in": expiresIn,
		"access_token":   access,
	})
}

func (f *fakeEntra) checkClientAuth(form url.Values) *scripted {
	if s := form.Get("client_secret"); s != "" {
		if s != f.clientSecret || form.Get("client_assertion") != "" {
			return entraError(401, "invalid_client", 7000215, "Invalid client secret provided.", nil)
		}
		return nil
	}
	if form.Get("client_assertion_type") != assertionType || form.Get("client_assertion") == "" {
		return entraError(401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required.", nil)
	}
	ca := form.Get("client_assertion")
	f.mu.Lock()
	miToken, cert := f.miToken, f.clientCert
	f.mu.Unlock()
	if miToken != "" && ca == miToken {
		return nil
	}
	if cert != nil {
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(ca, claims, func(*jwt.Token) (any, error) { return cert.PublicKey, nil },
			jwt.WithValidMethods([]string{"PS256", "RS256"}), jwt.WithAudience(f.tokenEndpoint()), jwt.WithExpirationRequired())
		if err == nil && claims["iss"] == f.clientID && claims["sub"] == f.clientID {
			return nil
		}
	}
	return entraError(401, "invalid_client", 7000222, "The provided client assertion is invalid.", nil)
}

func (f *fakeEntra) write(w http.ResponseWriter, s *scripted) {
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

// msi serves App Service's managed identity contract (api-version 2019-08-01): GET
// $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=…&client_id=… with header X-IDENTITY-HEADER.
func (f *fakeEntra) msi(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.counts["msi"]++
	f.msiRequests = append(f.msiRequests, r.Clone(r.Context()))
	status, token, header, id := f.miStatus, f.miToken, f.miHeader, f.miClientID
	f.mu.Unlock()
	q := r.URL.Query()
	switch {
	case status != 0:
		writeJSON(w, status, map[string]any{"statusCode": status, "message": "scripted failure"})
	case r.Header.Get("X-IDENTITY-HEADER") != header:
		writeJSON(w, 401, map[string]any{"statusCode": 401, "message": "Unauthorized"})
	case q.Get("api-version") != "2019-08-01" || q.Get("client_id") != id:
		writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "No managed identity found for specified ClientId/ResourceId/PrincipalId."})
	default:
		writeJSON(w, 200, map[string]any{
			"access_token": token,
			"expires_on":   strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10),
			"resource":     q.Get("resource"),
			"token_type":   "Bearer",
			"client_id":    id,
		})
	}
}

// ---- token minting -------------------------------------------------------------------------

// testNow is the validator clock in validation tests.
var testNow = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

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
		"oid":                "11111111-2222-4333-8444-555555555555",
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
		"oid":         "11111111-2222-4333-8444-555555555555",
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

// mint signs claims with the fake's first current key.
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
