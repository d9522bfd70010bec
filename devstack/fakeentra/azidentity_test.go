package fakeentra_test

// These tests drive the fake with the real client libraries the handler uses
// (azidentity and MSAL Go underneath): if they pass, the handler's code paths work
// against the local stack unchanged.

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
)

func TestOBOWithClientSecretReturnsAVerifiableDatabricksTokenAndIsCachedByMSAL(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name string
		opts fakeentra.MintOptions
	}{
		{"v2 user token (aud = API client id)", fakeentra.MintOptions{}},
		{"v1 user token (aud = App ID URI)", fakeentra.MintOptions{Version: 1}},
		{"v2 user token with aud = App ID URI", fakeentra.MintOptions{Audience: "api://" + apiClientID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.fe.ResetStats()
			userTok := f.userToken(t, "alice", tt.opts)
			cred, err := azidentity.NewOnBehalfOfCredentialWithSecret(tenantID, apiClientID, userTok, apiSecret, f.oboOptions(false))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			c, err := f.fe.Verify(tok.Token, databricksID)
			if err != nil {
				t.Fatalf("the OBO token must verify for the Databricks audience: %v", err)
			}
			if c.OID != aliceOID || c.UPN != "alice@contoso.example" || c.TenantID != tenantID {
				t.Errorf("OBO token is not alice's: oid=%q upn=%q tid=%q", c.OID, c.UPN, c.TenantID)
			}
			if c.AppID != apiClientID || c.IsApp || c.Version != 1 || c.Issuer != f.fe.Issuer(1) {
				t.Errorf("want a v1 delegated token issued to the API: appid=%q isApp=%v ver=%d iss=%q", c.AppID, c.IsApp, c.Version, c.Issuer)
			}
			if strings.Join(c.Scopes, " ") != "user_impersonation" || c.Raw["unique_name"] != "alice@contoso.example" {
				t.Errorf("scp=%q unique_name=%v", c.Scopes, c.Raw["unique_name"])
			}
			if tok.ExpiresOn.Sub(c.ExpiresAt).Abs() > time.Second {
				t.Errorf("credential's ExpiresOn %v does not match the token's exp %v", tok.ExpiresOn, c.ExpiresAt)
			}

			again, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope})
			if err != nil {
				t.Fatal(err)
			}
			if again.Token != tok.Token {
				t.Error("second GetToken on the same credential must come from MSAL's cache")
			}
			st := f.fe.Stats()
			if st.TokenRequests != 1 || st.OBORequests != 1 || st.TokenErrors != 0 || st.DiscoveryRequests != 1 {
				t.Errorf("want 1 discovery and 1 OBO token request, got %+v", st)
			}
			if st.OBOByAssertion[fakeentra.AssertionKey(userTok)] != 1 || st.OBOByUser["alice"] != 1 {
				t.Errorf("per-assertion / per-user counters: %v %v", st.OBOByAssertion, st.OBOByUser)
			}
		})
	}
}

func TestClientSecretCredentialGetsAppOnlyTokens(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name, clientID, secret, scope, audience string
		wantRoles                               []string
		wantVersion                             int
	}{
		{"app for the flowbricks API by App ID URI", appClientID, appSecret, "api://" + apiClientID + "/.default", apiClientID, []string{"Jobs.Run"}, 2},
		{"app for the flowbricks API by client id", appClientID, appSecret, apiClientID + "/.default", apiClientID, []string{"Jobs.Run"}, 2},
		{"API's own identity for Databricks", apiClientID, apiSecret, databricksID + "/.default", databricksID, nil, 1},
		{"app for Databricks", appClientID, appSecret, databricksID + "/.default", databricksID, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := azidentity.NewClientSecretCredential(tenantID, tt.clientID, tt.secret, &azidentity.ClientSecretCredentialOptions{
				ClientOptions: f.clientOptions(false), DisableInstanceDiscovery: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{tt.scope}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			c, err := f.fe.Verify(tok.Token, tt.audience)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// No idtyp: the API registration of baseConfig does not ask for the optional claim.
			if _, ok := c.Raw["idtyp"]; !c.IsApp || ok || len(c.Scopes) != 0 || c.UPN != "" {
				t.Errorf("want an app-only token (no scp, no upn, no idtyp): %+v", c.Raw)
			}
			if c.AppID != tt.clientID || c.OID != f.fe.ServicePrincipalObjectID(tt.clientID) || c.Subject != c.OID {
				t.Errorf("appid=%q oid=%q sub=%q", c.AppID, c.OID, c.Subject)
			}
			if strings.Join(c.Roles, ",") != strings.Join(tt.wantRoles, ",") || c.Version != tt.wantVersion {
				t.Errorf("roles=%v version=%d, want %v and %d", c.Roles, c.Version, tt.wantRoles, tt.wantVersion)
			}
		})
	}
}

func TestManagedIdentityTokenIsAFederatedCredentialForTheAPI(t *testing.T) {
	mi, stranger := newManagedIdentity(), newManagedIdentity()
	f := newFixture(t, func(c *fakeentra.Config) {
		c.ManagedIdentities = []fakeentra.ManagedIdentity{mi, stranger}
		c.API.FederatedSubjects = []string{mi.ObjectID}
	})
	t.Setenv("IDENTITY_ENDPOINT", f.fe.MSIEndpoint())
	t.Setenv("IDENTITY_HEADER", identityHdr)

	assertionFrom := func(t *testing.T, clientID string) func(context.Context) (string, error) {
		miCred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(clientID), ClientOptions: f.clientOptions(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		return func(ctx context.Context) (string, error) {
			tk, err := miCred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{fakeentra.TokenExchangeAudience + "/.default"}})
			return tk.Token, err
		}
	}

	t.Run("the managed identity token is a v2 app token for api://AzureADTokenExchange", func(t *testing.T) {
		tok, err := assertionFrom(t, mi.ClientID)(ctxT(t))
		if err != nil {
			t.Fatalf("ManagedIdentityCredential.GetToken: %v", err)
		}
		c, err := f.fe.Verify(tok, fakeentra.TokenExchangeAudience)
		if err != nil {
			t.Fatal(err)
		}
		if c.Issuer != f.fe.Issuer(2) || c.Subject != mi.ObjectID || c.OID != mi.ObjectID || c.AppID != mi.ClientID || !c.IsApp {
			t.Errorf("iss=%q sub=%q oid=%q azp=%q isApp=%v", c.Issuer, c.Subject, c.OID, c.AppID, c.IsApp)
		}
		if f.fe.Stats().MSIRequests != 1 {
			t.Errorf("want exactly one request to the fake's managed identity endpoint, got %d", f.fe.Stats().MSIRequests)
		}
	})

	t.Run("client assertion credential (client credentials) for Databricks", func(t *testing.T) {
		cred, err := azidentity.NewClientAssertionCredential(tenantID, apiClientID, assertionFrom(t, mi.ClientID),
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: f.clientOptions(true), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope})
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		c, err := f.fe.Verify(tok.Token, databricksID)
		if err != nil {
			t.Fatal(err)
		}
		if c.AppID != apiClientID || !c.IsApp || c.Raw["appidacr"] != "2" {
			t.Errorf("appid=%q isApp=%v appidacr=%v", c.AppID, c.IsApp, c.Raw["appidacr"])
		}
	})

	t.Run("OBO with the managed identity assertion", func(t *testing.T) {
		userTok := f.userToken(t, "alice", fakeentra.MintOptions{})
		cred, err := azidentity.NewOnBehalfOfCredentialWithClientAssertions(tenantID, apiClientID, userTok, assertionFrom(t, mi.ClientID), f.oboOptions(true))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope})
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		c, err := f.fe.Verify(tok.Token, databricksID)
		if err != nil {
			t.Fatal(err)
		}
		if c.OID != aliceOID || c.AppID != apiClientID || c.IsApp {
			t.Errorf("oid=%q appid=%q isApp=%v", c.OID, c.AppID, c.IsApp)
		}
	})

	t.Run("an identity without a federated credential is refused", func(t *testing.T) {
		cred, err := azidentity.NewClientAssertionCredential(tenantID, apiClientID, assertionFrom(t, stranger.ClientID),
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: f.clientOptions(true), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope})
		status, _, body := entraErrorOf(t, err)
		if status != 401 || body["error"] != "invalid_client" || errorCode(body) != 700213 {
			t.Errorf("want 401 invalid_client AADSTS700213, got %d %v %d", status, body["error"], errorCode(body))
		}
	})
}

func TestOBOWithCertificateCredential(t *testing.T) {
	cert, key, certPEM := newClientCertificate(t)
	otherCert, otherKey, _ := newClientCertificate(t)
	f := newFixture(t, func(c *fakeentra.Config) { c.API.CertificatesPEM = []string{certPEM} })
	tests := []struct {
		name     string
		cert     *x509.Certificate
		key      any
		sendX5C  bool
		wantCode int // 0 = success
	}{
		{"registered certificate", cert, key, false, 0},
		{"registered certificate, chain sent (SNI)", cert, key, true, 0},
		{"certificate not registered on the app", otherCert, otherKey, false, 700027},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			userTok := f.userToken(t, "bob", fakeentra.MintOptions{})
			opts := f.oboOptions(true)
			opts.SendCertificateChain = tt.sendX5C
			cred, err := azidentity.NewOnBehalfOfCredentialWithCertificate(tenantID, apiClientID, userTok, []*x509.Certificate{tt.cert}, tt.key, opts)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope})
			if tt.wantCode != 0 {
				status, _, body := entraErrorOf(t, err)
				if status != 401 || body["error"] != "invalid_client" || errorCode(body) != tt.wantCode {
					t.Fatalf("want 401 invalid_client AADSTS%d, got %d %v %d", tt.wantCode, status, body["error"], errorCode(body))
				}
				return
			}
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			c, err := f.fe.Verify(tok.Token, databricksID)
			if err != nil {
				t.Fatal(err)
			}
			if c.UPN != "bob@contoso.example" || c.Raw["appidacr"] != "2" {
				t.Errorf("upn=%q appidacr=%v (want 2: certificate)", c.UPN, c.Raw["appidacr"])
			}
		})
	}
}

var (
	guidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$`)
)

func TestOBOFailuresComeBackAsEntraErrorsThroughAzidentity(t *testing.T) {
	f := newFixture(t, nil)
	other := newFixture(t, nil) // another tenant's keys: a token the fake never issued

	tests := []struct {
		name         string
		assertion    func(t *testing.T) string
		secret       string
		wantStatus   int
		wantError    string
		wantCode     int
		wantSuberror string
	}{
		{"consent missing", func(t *testing.T) string { return f.userToken(t, "carol", fakeentra.MintOptions{}) },
			apiSecret, 400, "invalid_grant", 65001, "consent_required"},
		{"MFA required by conditional access", func(t *testing.T) string { return f.userToken(t, "mallory", fakeentra.MintOptions{}) },
			apiSecret, 400, "invalid_grant", 50076, "basic_action"},
		{"MFA required, in the interaction_required form", func(t *testing.T) string { return f.userToken(t, "mia", fakeentra.MintOptions{}) },
			apiSecret, 400, "interaction_required", 50076, ""},
		{"assertion rejected", func(t *testing.T) string { return f.userToken(t, "ivan", fakeentra.MintOptions{}) },
			apiSecret, 400, "invalid_grant", 50013, ""},
		{"Entra unavailable", func(t *testing.T) string { return f.userToken(t, "uma", fakeentra.MintOptions{}) },
			apiSecret, 503, "temporarily_unavailable", 90033, ""},
		{"expired assertion", func(t *testing.T) string { return f.userToken(t, "alice", fakeentra.MintOptions{TTL: -time.Minute}) },
			apiSecret, 400, "invalid_grant", 500133, ""},
		{"app-only assertion", func(t *testing.T) string { return f.appToken(t, appClientID, fakeentra.MintOptions{}) },
			apiSecret, 400, "unauthorized_client", 7000114, ""},
		{"assertion for another audience", func(t *testing.T) string {
			return f.userToken(t, "alice", fakeentra.MintOptions{Audience: "api://someone-else"})
		}, apiSecret, 400, "invalid_grant", 50013, ""},
		{"assertion signed by someone else", func(t *testing.T) string { return other.userToken(t, "alice", fakeentra.MintOptions{}) },
			apiSecret, 400, "invalid_grant", 50013, ""},
		{"wrong client secret", func(t *testing.T) string { return f.userToken(t, "alice", fakeentra.MintOptions{}) },
			"not-the-secret", 401, "invalid_client", 7000215, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertion := tt.assertion(t)
			cred, err := azidentity.NewOnBehalfOfCredentialWithSecret(tenantID, apiClientID, assertion, tt.secret, f.oboOptions(true))
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope})
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), assertion) || strings.Contains(err.Error(), tt.secret) {
				t.Fatal("the error must not contain the assertion or the client secret")
			}
			status, hdr, body := entraErrorOf(t, err)
			if status != tt.wantStatus || body["error"] != tt.wantError || errorCode(body) != tt.wantCode {
				t.Fatalf("want %d %s AADSTS%d, got %d %v %d (%v)", tt.wantStatus, tt.wantError, tt.wantCode, status, body["error"], errorCode(body), body["error_description"])
			}
			if got, _ := body["suberror"].(string); got != tt.wantSuberror {
				t.Errorf("suberror = %q, want %q", got, tt.wantSuberror)
			}
			assertEntraErrorShape(t, f, body, tt.wantCode)
			if tt.wantStatus == 503 && hdr.Get("Retry-After") == "" {
				t.Error("503 must carry Retry-After")
			}
			if tt.wantCode == 50076 {
				var claims struct {
					AccessToken struct {
						Capolids struct {
							Essential bool     `json:"essential"`
							Values    []string `json:"values"`
						} `json:"capolids"`
					} `json:"access_token"`
				}
				s, _ := body["claims"].(string)
				if err := json.Unmarshal([]byte(s), &claims); err != nil || !claims.AccessToken.Capolids.Essential || len(claims.AccessToken.Capolids.Values) != 1 {
					t.Errorf("claims challenge %q is not a capolids challenge: %v", s, err)
				}
			} else if _, ok := body["claims"]; ok {
				t.Error("only the MFA error carries a claims challenge")
			}
		})
	}
}

// assertEntraErrorShape checks the fields every Entra error body has.
func assertEntraErrorShape(t *testing.T, f *fixture, body map[string]any, code int) {
	t.Helper()
	desc, _ := body["error_description"].(string)
	trace, _ := body["trace_id"].(string)
	corr, _ := body["correlation_id"].(string)
	ts, _ := body["timestamp"].(string)
	prefix := "AADSTS" + strconv.Itoa(code) + ": "
	if !strings.HasPrefix(desc, prefix) {
		t.Errorf("error_description must start with %q: %q", prefix, desc)
	}
	for _, want := range []string{"\r\nTrace ID: " + trace, "\r\nCorrelation ID: " + corr, "\r\nTimestamp: " + ts} {
		if !strings.Contains(desc, want) {
			t.Errorf("error_description lacks %q", want)
		}
	}
	if !guidRE.MatchString(trace) || !guidRE.MatchString(corr) || !timestampRE.MatchString(ts) {
		t.Errorf("trace_id %q / correlation_id %q / timestamp %q malformed", trace, corr, ts)
	}
	if body["error_uri"] != f.base+"/error?code="+strconv.Itoa(code) {
		t.Errorf("error_uri = %v", body["error_uri"])
	}
}

func TestConcurrentOBOCountsEveryRequest(t *testing.T) {
	f := newFixture(t, nil)
	const users = 8
	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = f.userToken(t, []string{"alice", "bob"}[i%2], fakeentra.MintOptions{Extra: map[string]any{"uti": uuid.NewString()}})
	}
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cred, err := azidentity.NewOnBehalfOfCredentialWithSecret(tenantID, apiClientID, tok, apiSecret, f.oboOptions(true))
			if err == nil {
				_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: databricksScope})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := f.fe.Stats()
	if st.OBORequests != users || len(st.OBOByAssertion) != users || st.OBOByUser["alice"] != users/2 || st.OBOByUser["bob"] != users/2 {
		t.Errorf("counters after %d concurrent OBO exchanges: %+v", users, st)
	}
}
