package fakeentra_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/pki"
)

const (
	tenantID     = "7d9f2c1e-4b3a-4e6f-8a2b-1c0d9e8f7a6b"
	apiClientID  = "3a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	apiSecret    = "api-secret-value-0123456789"
	appClientID  = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
	appSecret    = "logicapp-secret-value-9876543210"
	aliceOID     = "11111111-2222-4333-8444-555555555555"
	identityHdr  = "identity-header-secret"
	databricksID = fakeentra.DatabricksResourceID
)

var databricksScope = []string{databricksID + "/.default"}

// baseConfig is the fixture used by most tests: alice works; the other users each fail
// OBO in one of the ways Entra does.
func baseConfig() fakeentra.Config {
	cfg := fakeentra.Config{
		TenantID: tenantID,
		Users: []fakeentra.User{
			{Name: "alice", OID: aliceOID, UPN: "alice@contoso.example", DisplayName: "Alice Example"},
			{Name: "bob", OID: "22222222-3333-4444-8555-666666666666", UPN: "bob@contoso.example", DisplayName: "Bob Example"},
			{Name: "carol", OID: "33333333-4444-4555-8666-777777777777", UPN: "carol@contoso.example", Error: fakeentra.ErrorConsentRequired},
			{Name: "mallory", OID: "44444444-5555-4666-8777-888888888888", UPN: "mallory@contoso.example", Error: fakeentra.ErrorMFARequired},
			{Name: "ivan", OID: "55555555-6666-4777-8888-999999999999", UPN: "ivan@contoso.example", Error: fakeentra.ErrorInvalidGrant},
			{Name: "uma", OID: "66666666-7777-4888-8999-aaaaaaaaaaaa", UPN: "uma@contoso.example", Error: fakeentra.ErrorUnavailable},
			{Name: "mia", OID: "77777777-8888-4999-8aaa-bbbbbbbbbbbb", UPN: "mia@contoso.example", Error: fakeentra.ErrorMFAInteractionRequired},
			{Name: "theo", OID: "88888888-9999-4aaa-8bbb-cccccccccccc", UPN: "theo@contoso.example", Error: fakeentra.ErrorThrottled},
		},
		Apps: []fakeentra.App{
			{Name: "logic-app", ClientID: appClientID, ClientSecret: appSecret, Roles: []string{"Jobs.Run"}},
		},
		IdentityHeader: identityHdr,
	}
	cfg.API.ClientID = apiClientID
	cfg.API.ClientSecret = apiSecret
	return cfg
}

// fixture is a fake Entra ID served over HTTPS with a certificate from its own CA, and
// an HTTP client that trusts that CA (and nothing else).
type fixture struct {
	fe     *fakeentra.Server
	base   string
	client *http.Client
}

func newFixture(t *testing.T, mutate func(*fakeentra.Config)) *fixture {
	t.Helper()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	base := "https://" + srv.Listener.Addr().String()
	cfg := baseConfig()
	cfg.BaseURL = base
	if mutate != nil {
		mutate(&cfg)
	}
	fe, err := fakeentra.New(cfg)
	if err != nil {
		t.Fatalf("fakeentra.New: %v", err)
	}
	srv.Config.Handler = fe
	srv.TLS = tlsCfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tr := &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}
	t.Cleanup(tr.CloseIdleConnections)
	return &fixture{fe: fe, base: base, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// clientOptions are what the handler would configure: the fake as authority host
// and a transport trusting the local CA. noRetry keeps error tests fast.
func (f *fixture) clientOptions(noRetry bool) azcore.ClientOptions {
	o := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.base + "/"},
		Transport: f.client,
	}
	if noRetry {
		o.Retry = policy.RetryOptions{MaxRetries: -1}
	}
	return o
}

func (f *fixture) oboOptions(noRetry bool) *azidentity.OnBehalfOfCredentialOptions {
	return &azidentity.OnBehalfOfCredentialOptions{ClientOptions: f.clientOptions(noRetry), DisableInstanceDiscovery: true}
}

func (f *fixture) userToken(t *testing.T, user string, o fakeentra.MintOptions) string {
	t.Helper()
	tok, err := f.fe.MintUserToken(user, o)
	if err != nil {
		t.Fatalf("MintUserToken(%s): %v", user, err)
	}
	return tok
}

func (f *fixture) appToken(t *testing.T, clientID string, o fakeentra.MintOptions) string {
	t.Helper()
	tok, err := f.fe.MintAppToken(clientID, o)
	if err != nil {
		t.Fatalf("MintAppToken(%s): %v", clientID, err)
	}
	return tok
}

// postForm posts a token request the way MSAL does and decodes the JSON answer.
func (f *fixture) postForm(t *testing.T, path string, form url.Values, hdr http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	for k, v := range hdr {
		req.Header[k] = v
	}
	return f.do(t, req)
}

func (f *fixture) get(t *testing.T, path string, hdr http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return f.do(t, req)
}

func (f *fixture) do(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := f.client.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if len(body) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s %s: invalid JSON body: %v", req.Method, req.URL.Path, err)
		}
	}
	return resp, m
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// entraErrorOf extracts the HTTP status and decoded Entra error body from an azidentity
// error; it fails the test unless err is an *azidentity.AuthenticationFailedError with
// a response.
func entraErrorOf(t *testing.T, err error) (int, http.Header, map[string]any) {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		t.Fatalf("want *azidentity.AuthenticationFailedError with RawResponse, got %T: %v", err, err)
	}
	body, readErr := io.ReadAll(afe.RawResponse.Body)
	if readErr != nil {
		t.Fatal(readErr)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	return afe.RawResponse.StatusCode, afe.RawResponse.Header, m
}

// errorCode returns error_codes[0] of an Entra error body.
func errorCode(m map[string]any) int {
	codes, _ := m["error_codes"].([]any)
	if len(codes) != 1 {
		return 0
	}
	n, _ := codes[0].(float64)
	return int(n)
}

// newClientCertificate returns a self-signed RSA certificate and its key, as an admin
// would upload to the app registration.
func newClientCertificate(t *testing.T) (*x509.Certificate, *rsa.PrivateKey, string) {
	t.Helper()
	c, err := pki.NewClientCertificate("flowbricks-api")
	if err != nil {
		t.Fatal(err)
	}
	return c.Cert, c.Key, c.CertPEM
}

// newManagedIdentity returns a managed identity with fresh ids. MSAL Go keeps managed
// identity tokens in a process-wide cache keyed by client id and resource, so every
// test uses its own identity to stay independent of the others.
func newManagedIdentity() fakeentra.ManagedIdentity {
	return fakeentra.ManagedIdentity{ClientID: uuid.NewString(), ObjectID: uuid.NewString()}
}
