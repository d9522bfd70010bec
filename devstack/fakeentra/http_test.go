package fakeentra_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
)

func TestDiscoveryDocuments(t *testing.T) {
	f := newFixture(t, nil)
	tb := f.base + "/" + tenantID
	tests := []struct {
		path string
		want map[string]any
	}{
		{"/" + tenantID + "/v2.0/.well-known/openid-configuration", map[string]any{
			"issuer": f.fe.Issuer(2), "token_endpoint": tb + "/oauth2/v2.0/token", "jwks_uri": tb + "/discovery/v2.0/keys",
			"authorization_endpoint": tb + "/oauth2/v2.0/authorize", "tenant_region_scope": "NA"}},
		{"/" + tenantID + "/.well-known/openid-configuration", map[string]any{
			"issuer": f.fe.Issuer(1), "token_endpoint": tb + "/oauth2/token", "jwks_uri": tb + "/discovery/keys",
			"authorization_endpoint": tb + "/oauth2/authorize"}},
		// MSAL lower-cases the authority; paths match regardless of case
		{"/" + strings.ToUpper(tenantID) + "/V2.0/.well-known/OpenID-Configuration", map[string]any{"issuer": f.fe.Issuer(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := f.get(t, tt.path, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for k, v := range tt.want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
			algs, _ := body["id_token_signing_alg_values_supported"].([]any)
			if len(algs) != 1 || algs[0] != "RS256" {
				t.Errorf("id_token_signing_alg_values_supported = %v", algs)
			}
		})
	}
	if st := f.fe.Stats(); st.DiscoveryRequests != int64(len(tests)) {
		t.Errorf("discovery_requests = %d", st.DiscoveryRequests)
	}
}

func TestUnknownTenantIsAnEntraError(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/contoso.example/v2.0/.well-known/openid-configuration", "/common/oauth2/v2.0/token"} {
		var resp *http.Response
		var body map[string]any
		if strings.HasSuffix(path, "token") {
			resp, body = f.postForm(t, path, url.Values{"grant_type": {"client_credentials"}}, nil)
		} else {
			resp, body = f.get(t, path, nil)
		}
		if resp.StatusCode != 400 || body["error"] != "invalid_tenant" || errorCode(body) != 90002 {
			t.Errorf("%s: want 400 invalid_tenant AADSTS90002, got %d %v", path, resp.StatusCode, body)
		}
	}
	if resp, _ := f.get(t, "/"+tenantID+"/no/such/endpoint", nil); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

// TestTokenEndpointProtocolErrors documents the request validation of the token endpoint
// at the wire level.
func TestTokenEndpointProtocolErrors(t *testing.T) {
	cert, key, certPEM := newClientCertificate(t)
	mi := newManagedIdentity()
	f := newFixture(t, func(c *fakeentra.Config) {
		c.API.CertificatesPEM = []string{certPEM}
		c.ManagedIdentities = []fakeentra.ManagedIdentity{mi}
		c.API.FederatedSubjects = []string{mi.ObjectID}
	})
	tokenPath := "/" + tenantID + "/oauth2/v2.0/token"
	certAssertion := func(aud string) string {
		c := jwt.MapClaims{"aud": aud, "iss": apiClientID, "sub": apiClientID, "jti": uuid.NewString(),
			"nbf": jwt.NewNumericDate(time.Now()), "exp": jwt.NewNumericDate(time.Now().Add(10 * time.Minute))}
		tk := jwt.NewWithClaims(jwt.SigningMethodPS256, c)
		sum := sha256Sum(cert.Raw)
		tk.Header["x5t#S256"] = sum
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	miToken := func(o fakeentra.MintOptions) string {
		o.Audience = fakeentra.TokenExchangeAudience
		return f.appToken(t, mi.ClientID, o)
	}
	cc := func(extra url.Values) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {apiClientID}, "scope": {fakeentra.DatabricksResourceID + "/.default"}}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	assertionFor := func(a string) url.Values {
		return url.Values{"client_secret": {""}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
	}

	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantError  string
		wantCode   int
	}{
		{"secret ok", cc(url.Values{"client_secret": {apiSecret}}), 200, "", 0},
		{"certificate assertion for the token endpoint", cc(assertionFor(certAssertion(f.fe.TokenEndpoint(2)))), 200, "", 0},
		{"certificate assertion for the issuer", cc(assertionFor(certAssertion(f.fe.Issuer(2)))), 200, "", 0},
		{"managed identity assertion", cc(assertionFor(miToken(fakeentra.MintOptions{}))), 200, "", 0},
		{"no grant_type", url.Values{"client_id": {apiClientID}}, 400, "invalid_request", 900144},
		{"unsupported grant", cc(url.Values{"grant_type": {"password"}}), 400, "unsupported_grant_type", 70003},
		{"unknown client", cc(url.Values{"client_id": {uuid.NewString()}, "client_secret": {"x"}}), 400, "unauthorized_client", 700016},
		{"no client credential", cc(nil), 401, "invalid_client", 7000218},
		{"client credentials without /.default", cc(url.Values{"client_secret": {apiSecret}, "scope": {fakeentra.DatabricksResourceID + "/user_impersonation"}}), 400, "invalid_scope", 1002012},
		{"unknown resource", cc(url.Values{"client_secret": {apiSecret}, "scope": {"https://graph.microsoft.com/.default"}}), 400, "invalid_resource", 500011},
		{"two resources", cc(url.Values{"client_secret": {apiSecret}, "scope": {fakeentra.DatabricksResourceID + "/.default https://graph.microsoft.com/.default"}}), 400, "invalid_scope", 28000},
		{"certificate assertion for another audience", cc(assertionFor(certAssertion("https://example.com/token"))), 401, "invalid_client", 700023},
		{"expired managed identity assertion", cc(assertionFor(miToken(fakeentra.MintOptions{TTL: -time.Minute}))), 401, "invalid_client", 700024},
		{"managed identity token for another audience", cc(assertionFor(f.appToken(t, mi.ClientID, fakeentra.MintOptions{}))), 401, "invalid_client", 700212},
		{"malformed assertion", cc(assertionFor("abc")), 401, "invalid_client", 50027},
		{"OBO without assertion", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {apiClientID},
			"client_secret": {apiSecret}, "requested_token_use": {"on_behalf_of"}, "scope": {fakeentra.DatabricksResourceID + "/.default"}}, 400, "invalid_request", 900144},
		{"OBO for a resource other than Databricks", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {apiClientID},
			"client_secret": {apiSecret}, "requested_token_use": {"on_behalf_of"}, "assertion": {f.userToken(t, "alice", fakeentra.MintOptions{})},
			"scope": {"https://graph.microsoft.com/.default openid"}}, 400, "invalid_resource", 500011},
		{"OBO by an app with the API's user token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {appClientID},
			"client_secret": {appSecret}, "requested_token_use": {"on_behalf_of"}, "assertion": {f.userToken(t, "alice", fakeentra.MintOptions{})},
			"scope": {fakeentra.DatabricksResourceID + "/.default"}}, 400, "invalid_grant", 50013},
	}
	errorsBefore := f.fe.Stats().TokenErrors
	wantErrors := int64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			corr := uuid.NewString()
			resp, body := f.postForm(t, tokenPath, tt.form, http.Header{"Client-Request-Id": {corr}})
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.wantStatus, body["error_description"])
			}
			if resp.Header.Get("Cache-Control") != "no-store, no-cache" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
			if tt.wantStatus == 200 {
				if exp, _ := body["expires_in"].(float64); body["token_type"] != "Bearer" || exp < 3600 || exp > 5400 || body["access_token"] == "" {
					t.Errorf("success body: token_type=%v expires_in=%v (want 60 to 90 minutes)", body["token_type"], body["expires_in"])
				}
				// Client credentials answers: Entra sends no refresh token, ID token or client_info.
				for _, k := range []string{"scope", "refresh_token", "id_token", "client_info"} {
					if _, ok := body[k]; ok {
						t.Errorf("%s must be omitted", k)
					}
				}
				return
			}
			wantErrors++
			if body["error"] != tt.wantError || errorCode(body) != tt.wantCode {
				t.Fatalf("want %s AADSTS%d, got %v %d: %v", tt.wantError, tt.wantCode, body["error"], errorCode(body), body["error_description"])
			}
			if body["correlation_id"] != corr {
				t.Errorf("correlation_id %v must echo client-request-id %s", body["correlation_id"], corr)
			}
			assertEntraErrorShape(t, f, body, tt.wantCode)
			if desc, _ := body["error_description"].(string); strings.Contains(desc, apiSecret) || strings.Contains(desc, appSecret) {
				t.Error("error_description must not contain a secret")
			}
		})
	}
	if got := f.fe.Stats().TokenErrors - errorsBefore; got != wantErrors {
		t.Errorf("token_errors grew by %d, want %d", got, wantErrors)
	}
}

func TestV1TokenEndpointTakesResource(t *testing.T) {
	f := newFixture(t, nil)
	resp, body := f.postForm(t, "/"+tenantID+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {appClientID}, "client_secret": {appSecret}, "resource": {"api://" + apiClientID},
	}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, body)
	}
	if exp, _ := strconv.Atoi(fmt.Sprint(body["expires_in"])); exp < 3600 || exp > 5400 || body["resource"] != "api://"+apiClientID || body["expires_on"] == nil || body["not_before"] == nil {
		t.Errorf("v1 body fields: %v", body)
	}
	if _, err := f.fe.Verify(body["access_token"].(string), apiClientID); err != nil {
		t.Error(err)
	}
	if resp, body := f.get(t, "/"+tenantID+"/oauth2/token", nil); resp.StatusCode != 400 || errorCode(body) != 900561 {
		t.Errorf("GET on a token endpoint: %d %v", resp.StatusCode, body)
	}
}

func TestManagedIdentityEndpoint(t *testing.T) {
	mi := newManagedIdentity()
	mi.ResourceID = "/subscriptions/x/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/flowbricks"
	mi.Roles = []string{"Jobs.Run"}
	f := newFixture(t, func(c *fakeentra.Config) { c.ManagedIdentities = []fakeentra.ManagedIdentity{mi} })
	hdr := http.Header{"X-Identity-Header": {identityHdr}}
	q := func(kv ...string) string {
		v := url.Values{"api-version": {"2019-08-01"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "/msi/token?" + v.Encode()
	}
	tests := []struct {
		name       string
		path       string
		hdr        http.Header
		wantStatus int
		wantAud    string
	}{
		{"by client id, token exchange audience", q("resource", fakeentra.TokenExchangeAudience, "client_id", mi.ClientID), hdr, 200, fakeentra.TokenExchangeAudience},
		{"by object id, Databricks", q("resource", fakeentra.DatabricksResourceID, "object_id", mi.ObjectID), hdr, 200, fakeentra.DatabricksResourceID},
		{"by resource id, flowbricks API", q("resource", "api://"+apiClientID, "mi_res_id", mi.ResourceID), hdr, 200, apiClientID},
		{"missing identity header", q("resource", fakeentra.TokenExchangeAudience, "client_id", mi.ClientID), nil, 401, ""},
		{"wrong identity header", q("resource", fakeentra.TokenExchangeAudience, "client_id", mi.ClientID), http.Header{"X-Identity-Header": {"nope"}}, 401, ""},
		{"unknown identity", q("resource", fakeentra.TokenExchangeAudience, "client_id", uuid.NewString()), hdr, 400, ""},
		{"no identity selected (no system-assigned identity)", q("resource", fakeentra.TokenExchangeAudience), hdr, 400, ""},
		{"old api-version", "/msi/token?api-version=2017-09-01&resource=x&client_id=" + mi.ClientID, hdr, 400, ""},
		{"unknown resource", q("resource", "https://vault.azure.net", "client_id", mi.ClientID), hdr, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.get(t, tt.path, tt.hdr)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != 200 {
				if body["statusCode"] != float64(tt.wantStatus) || body["message"] == "" {
					t.Errorf("error body: %v", body)
				}
				return
			}
			if body["token_type"] != "Bearer" || body["client_id"] != mi.ClientID || body["resource"] == "" {
				t.Errorf("body: %v", body)
			}
			if _, ok := body["expires_on"].(string); !ok {
				t.Errorf("expires_on must be a string of unix seconds: %v", body["expires_on"])
			}
			c, err := f.fe.Verify(body["access_token"].(string), tt.wantAud)
			if err != nil {
				t.Fatal(err)
			}
			if c.OID != mi.ObjectID || c.AppID != mi.ClientID || !c.IsApp {
				t.Errorf("claims: %+v", c)
			}
			if tt.wantAud == apiClientID && strings.Join(c.Roles, ",") != "Jobs.Run" {
				t.Errorf("roles for the API = %v", c.Roles)
			}
		})
	}
	if st := f.fe.Stats(); st.MSIRequests != int64(len(tests)) {
		t.Errorf("msi_requests = %d", st.MSIRequests)
	}
}

func TestDevstackEndpoints(t *testing.T) {
	f := newFixture(t, nil)
	postJSON := func(path string, v any) (*http.Response, map[string]any) {
		b, _ := json.Marshal(v)
		req, _ := http.NewRequest(http.MethodPost, f.base+path, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		return f.do(t, req)
	}

	t.Run("mint a user token", func(t *testing.T) {
		resp, body := postJSON("/devstack/token", map[string]any{"user": "alice", "ttl_seconds": 900, "version": 1})
		if resp.StatusCode != 200 || body["expires_in"] != float64(900) || body["token_type"] != "Bearer" {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
		c, err := f.fe.Verify(body["access_token"].(string), "api://"+apiClientID)
		if err != nil || c.OID != aliceOID || c.Version != 1 {
			t.Fatalf("claims %+v, err %v", c, err)
		}
	})
	t.Run("mint an app token with roles", func(t *testing.T) {
		resp, body := postJSON("/devstack/token", map[string]any{"app": appClientID, "roles": []string{"Jobs.Read"}})
		if resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
		c, err := f.fe.Verify(body["access_token"].(string), apiClientID)
		if err != nil || !c.IsApp || strings.Join(c.Roles, ",") != "Jobs.Read" {
			t.Fatalf("claims %+v, err %v", c, err)
		}
	})
	for name, req := range map[string]any{
		"both user and app": map[string]any{"user": "alice", "app": appClientID},
		"unknown user":      map[string]any{"user": "nobody"},
		"unknown field":     map[string]any{"user": "alice", "colour": "blue"},
		"scopes on an app":  map[string]any{"app": appClientID, "scopes": []string{"x"}},
	} {
		t.Run("bad request: "+name, func(t *testing.T) {
			if resp, body := postJSON("/devstack/token", req); resp.StatusCode != 400 || body["error_description"] == "" {
				t.Errorf("%d %v", resp.StatusCode, body)
			}
		})
	}
	t.Run("rotate keys", func(t *testing.T) {
		before := kidOf(t, f.userToken(t, "alice", fakeentra.MintOptions{}))
		resp, body := postJSON("/devstack/rotate-keys", map[string]any{})
		if resp.StatusCode != 200 || body["kid"] == before {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
		if kidOf(t, f.userToken(t, "alice", fakeentra.MintOptions{})) != body["kid"] {
			t.Error("new tokens must be signed with the new key")
		}
	})
	t.Run("inject a user error, then the OBO fails", func(t *testing.T) {
		if resp, body := postJSON("/devstack/user-error", map[string]any{"user": "bob", "entra_error": "consent_required"}); resp.StatusCode != 204 {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
		resp, body := f.postForm(t, "/"+tenantID+"/oauth2/v2.0/token", url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {apiClientID}, "client_secret": {apiSecret},
			"requested_token_use": {"on_behalf_of"}, "assertion": {f.userToken(t, "bob", fakeentra.MintOptions{})},
			"scope": {fakeentra.DatabricksResourceID + "/.default openid offline_access profile"},
		}, nil)
		if resp.StatusCode != 400 || errorCode(body) != 65001 {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
		if resp, _ := postJSON("/devstack/user-error", map[string]any{"user": "nobody", "entra_error": ""}); resp.StatusCode != 404 {
			t.Errorf("unknown user: %d", resp.StatusCode)
		}
		if resp, _ := postJSON("/devstack/user-error", map[string]any{"user": "bob", "entra_error": "teapot"}); resp.StatusCode != 400 {
			t.Errorf("unknown error kind: %d", resp.StatusCode)
		}
	})
	t.Run("stats, then reset", func(t *testing.T) {
		resp, body := f.get(t, "/devstack/stats", nil)
		if resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
		for _, k := range []string{"discovery_requests", "jwks_requests", "token_requests", "obo_requests", "client_credentials_requests",
			"token_errors", "msi_requests", "obo_by_assertion", "obo_by_user"} {
			if _, ok := body[k]; !ok {
				t.Errorf("stats lack %s", k)
			}
		}
		if body["obo_requests"] != float64(1) || body["token_errors"] != float64(1) {
			t.Errorf("stats: %v", body)
		}
		req, _ := http.NewRequest(http.MethodDelete, f.base+"/devstack/stats", nil)
		if resp, _ := f.do(t, req); resp.StatusCode != 204 {
			t.Fatalf("reset: %d", resp.StatusCode)
		}
		if st := f.fe.Stats(); st.TokenRequests != 0 || len(st.OBOByUser) != 0 {
			t.Errorf("after reset: %+v", st)
		}
	})
}
