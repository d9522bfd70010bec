package fakeentra_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
)

// oboForm is the On-Behalf-Of request MSAL Go sends (accesstokens.go FromUserAssertionClientSecret),
// adjusted by edit.
func oboForm(assertion string, edit func(url.Values)) url.Values {
	f := url.Values{
		"grant_type":          {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"client_id":           {apiClientID},
		"client_secret":       {apiSecret},
		"assertion":           {assertion},
		"requested_token_use": {"on_behalf_of"},
		"client_info":         {"1"},
		"scope":               {databricksID + "/.default openid offline_access profile"},
	}
	if edit != nil {
		edit(f)
	}
	return f
}

const v2TokenPath = "/" + tenantID + "/oauth2/v2.0/token"

func TestOBOAnswerCarriesWhatTheRequestAskedFor(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.userToken(t, "alice", fakeentra.MintOptions{})
	tests := []struct {
		name                                     string
		edit                                     func(url.Values)
		wantScope                                string
		wantRefresh, wantIDToken, wantClientInfo bool
	}{
		{name: "what MSAL asks for: scope, refresh token, ID token and client_info",
			wantScope: databricksID + "/user_impersonation " + databricksID + "/.default", wantRefresh: true, wantIDToken: true, wantClientInfo: true},
		{name: "no client_info=1: no client_info", edit: func(v url.Values) { v.Del("client_info") },
			wantScope: databricksID + "/user_impersonation " + databricksID + "/.default", wantRefresh: true, wantIDToken: true},
		{name: "no openid: no ID token", edit: func(v url.Values) { v.Set("scope", databricksID+"/.default offline_access") },
			wantScope: databricksID + "/user_impersonation " + databricksID + "/.default", wantRefresh: true, wantClientInfo: true},
		{name: "no offline_access: no refresh token", edit: func(v url.Values) { v.Set("scope", databricksID+"/.default openid profile") },
			wantScope: databricksID + "/user_impersonation " + databricksID + "/.default", wantIDToken: true, wantClientInfo: true},
		{name: "the permission by name: scope names it without .default",
			edit:      func(v url.Values) { v.Set("scope", databricksID+"/user_impersonation"); v.Del("client_info") },
			wantScope: databricksID + "/user_impersonation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.postForm(t, v2TokenPath, oboForm(alice, tt.edit), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %v", resp.StatusCode, body["error_description"])
			}
			if body["scope"] != tt.wantScope {
				t.Errorf("scope = %v, want %q", body["scope"], tt.wantScope)
			}
			if _, err := f.fe.Verify(body["access_token"].(string), databricksID); err != nil {
				t.Errorf("access token: %v", err)
			}
			rt, hasRT := body["refresh_token"].(string)
			if hasRT != tt.wantRefresh {
				t.Errorf("refresh_token present=%v, want %v", hasRT, tt.wantRefresh)
			}
			if _, _, err := jwt.NewParser().ParseUnverified(rt, jwt.MapClaims{}); hasRT && err == nil {
				t.Error("a refresh token is opaque, not a JWT")
			}
			idt, hasID := body["id_token"].(string)
			if hasID != tt.wantIDToken {
				t.Errorf("id_token present=%v, want %v", hasID, tt.wantIDToken)
			}
			if hasID { // MSAL parses the payload (it does not verify the signature)
				c := jwt.MapClaims{}
				if _, _, err := jwt.NewParser().ParseUnverified(idt, c); err != nil {
					t.Fatalf("id_token does not parse: %v", err)
				}
				if c["aud"] != apiClientID || c["oid"] != aliceOID || c["tid"] != tenantID || c["ver"] != "2.0" ||
					c["preferred_username"] != "alice@contoso.example" || c["iss"] != f.fe.Issuer(2) {
					t.Errorf("id_token claims: %v", c)
				}
			}
			ci, hasCI := body["client_info"].(string)
			if hasCI != tt.wantClientInfo {
				t.Errorf("client_info present=%v, want %v", hasCI, tt.wantClientInfo)
			}
			if hasCI {
				raw, err := base64.RawURLEncoding.DecodeString(ci)
				var info struct{ UID, UTID string }
				if err != nil || json.Unmarshal(raw, &info) != nil || info.UID != aliceOID || info.UTID != tenantID {
					t.Errorf("client_info %q = %s (%v), want base64url {uid: alice's oid, utid: tenant}", ci, raw, err)
				}
			}
		})
	}

	t.Run("client credentials answers carry none of them", func(t *testing.T) {
		resp, body := f.postForm(t, v2TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {appClientID},
			"client_secret": {appSecret}, "scope": {databricksID + "/.default"}, "client_info": {"1"}}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for _, k := range []string{"scope", "refresh_token", "id_token", "client_info"} {
			if _, ok := body[k]; ok {
				t.Errorf("%s must be omitted", k)
			}
		}
	})
}

func TestRefreshTokenOfAnOBOAnswer(t *testing.T) {
	now := time.Now()
	f := newFixture(t, func(c *fakeentra.Config) { c.Now = func() time.Time { return now } })
	refreshTokenOf := func(t *testing.T, user string) string {
		t.Helper()
		resp, body := f.postForm(t, v2TokenPath, oboForm(f.userToken(t, user, fakeentra.MintOptions{}), nil), nil)
		rt, _ := body["refresh_token"].(string)
		if resp.StatusCode != 200 || rt == "" {
			t.Fatalf("OBO for %s: %d %v", user, resp.StatusCode, body["error_description"])
		}
		return rt
	}
	refresh := func(rt string, edit func(url.Values)) url.Values {
		v := url.Values{"grant_type": {"refresh_token"}, "client_id": {apiClientID}, "client_secret": {apiSecret},
			"refresh_token": {rt}, "client_info": {"1"}, "scope": {databricksID + "/.default openid offline_access profile"}}
		if edit != nil {
			edit(v)
		}
		return v
	}
	aliceRT := refreshTokenOf(t, "alice")
	bobRT := refreshTokenOf(t, "bob")

	tests := []struct {
		name       string
		form       url.Values
		later      time.Duration // how long after issue the token is redeemed
		wantStatus int
		wantCode   int
		wantOID    string
	}{
		{name: "redeemed by the client it was issued to: a new token for the same user", form: refresh(aliceRT, nil), wantStatus: 200, wantOID: aliceOID},
		{name: "after 89 days", form: refresh(bobRT, nil), later: 89 * 24 * time.Hour, wantStatus: 200, wantOID: "22222222-3333-4444-8555-666666666666"},
		{name: "after 90 days it has expired", form: refresh(aliceRT, nil), later: fakeentra.RefreshTokenTTL, wantStatus: 400, wantCode: 700082},
		{name: "by another client", form: refresh(aliceRT, func(v url.Values) { v.Set("client_id", appClientID); v.Set("client_secret", appSecret) }),
			wantStatus: 400, wantCode: 70000},
		{name: "tampered with", form: refresh(strings.Replace(aliceRT, "0.A", "0.A"+"x", 1), nil), wantStatus: 400, wantCode: 9002313},
		{name: "one user's grant with another's signature", form: refresh(aliceRT[:strings.LastIndex(aliceRT, ".")]+bobRT[strings.LastIndex(bobRT, "."):], nil),
			wantStatus: 400, wantCode: 9002313},
		{name: "missing", form: refresh("", nil), wantStatus: 400, wantCode: 900144},
		{name: "for another resource", form: refresh(aliceRT, func(v url.Values) { v.Set("scope", "https://graph.microsoft.com/.default") }),
			wantStatus: 400, wantCode: 500011},
		{name: "without the client's credential", form: refresh(aliceRT, func(v url.Values) { v.Del("client_secret") }), wantStatus: 401, wantCode: 7000218},
	}
	issued := now
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = issued.Add(tt.later)
			before := f.fe.Stats().RefreshRequests
			resp, body := f.postForm(t, v2TokenPath, tt.form, nil)
			if resp.StatusCode != tt.wantStatus || (tt.wantCode != 0 && errorCode(body) != tt.wantCode) {
				t.Fatalf("got %d AADSTS%d (%v), want %d AADSTS%d", resp.StatusCode, errorCode(body), body["error_description"], tt.wantStatus, tt.wantCode)
			}
			if got := f.fe.Stats().RefreshRequests - before; got != 1 {
				t.Errorf("refresh_requests grew by %d, want 1", got)
			}
			if tt.wantStatus != 200 {
				if body["error"] != "invalid_grant" && body["error"] != "invalid_request" && body["error"] != "invalid_resource" && body["error"] != "invalid_client" {
					t.Errorf("error = %v", body["error"])
				}
				return
			}
			c, err := f.fe.Verify(body["access_token"].(string), databricksID)
			if err != nil || c.OID != tt.wantOID || c.AppID != apiClientID {
				t.Fatalf("refreshed token: %+v, %v", c, err)
			}
			if body["refresh_token"] == nil || body["client_info"] == nil || body["id_token"] == nil {
				t.Errorf("a refresh answer carries what the request asked for, like OBO: %v", body)
			}
		})
	}

	t.Run("the user's injected failure applies on refresh too (Conditional Access is evaluated again)", func(t *testing.T) {
		now = issued
		rt := refreshTokenOf(t, "bob")
		if err := f.fe.SetUserError("bob", fakeentra.ErrorConsentRequired); err != nil {
			t.Fatal(err)
		}
		defer f.fe.SetUserError("bob", fakeentra.ErrorNone)
		resp, body := f.postForm(t, v2TokenPath, refresh(rt, nil), nil)
		if resp.StatusCode != 400 || errorCode(body) != 65001 {
			t.Errorf("got %d AADSTS%d, want the consent error", resp.StatusCode, errorCode(body))
		}
	})
}

func TestThrottledUserGets429WithRetryAfter(t *testing.T) {
	tests := []struct {
		name           string
		retryAfter     time.Duration
		wantRetryAfter string
	}{
		{"Entra's Retry-After by default", 0, "60"},
		{"a configured Retry-After", 3 * time.Second, "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *fakeentra.Config) { c.ThrottleRetryAfter = tt.retryAfter })
			assertion := f.userToken(t, "theo", fakeentra.MintOptions{})
			cred, err := azidentity.NewOnBehalfOfCredentialWithSecret(tenantID, apiClientID, assertion, apiSecret, f.oboOptions(true))
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope})
			var afe *azidentity.AuthenticationFailedError
			if !errorsAs(err, &afe) || afe.RawResponse == nil {
				t.Fatalf("want an AuthenticationFailedError with the response, got %v", err)
			}
			body, _ := io.ReadAll(afe.RawResponse.Body)
			if afe.RawResponse.StatusCode != http.StatusTooManyRequests || afe.RawResponse.Header.Get("Retry-After") != tt.wantRetryAfter ||
				string(body) != "Too Many Requests" {
				t.Errorf("got %d Retry-After=%q %q, want 429 Retry-After=%s \"Too Many Requests\"",
					afe.RawResponse.StatusCode, afe.RawResponse.Header.Get("Retry-After"), body, tt.wantRetryAfter)
			}
			if st := f.fe.Stats(); st.TokenErrors != 1 {
				t.Errorf("token_errors = %d, want 1", st.TokenErrors)
			}
		})
	}
}

func TestTokenLifetime(t *testing.T) {
	tests := []struct {
		name     string
		ttl      time.Duration
		random   float64
		mint     time.Duration // MintOptions.TTL
		wantLife time.Duration
	}{
		{name: "random draw at the bottom: 60 minutes", random: 0, wantLife: 60 * time.Minute},
		{name: "random draw in the middle: 75 minutes", random: 0.5, wantLife: 75 * time.Minute},
		{name: "random draw at the top stays under 90 minutes", random: 0.99999, wantLife: 89*time.Minute + 59*time.Second},
		{name: "a configured TokenTTL is fixed", ttl: 20 * time.Minute, random: 0.5, wantLife: 20 * time.Minute},
		{name: "a minted token's explicit TTL wins", random: 0.5, mint: 7 * time.Minute, wantLife: 7 * time.Minute},
	}
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC) // the fake's clock
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *fakeentra.Config) {
				c.TokenTTL = tt.ttl
				c.Random = func() float64 { return tt.random }
				c.Now = func() time.Time { return now }
			})
			tok := f.userToken(t, "alice", fakeentra.MintOptions{TTL: tt.mint})
			if c, err := f.fe.Verify(tok, apiClientID); err != nil || !c.ExpiresAt.Equal(now.Add(tt.wantLife)) {
				t.Errorf("minted token: exp %v (%v), want now+%v", c.ExpiresAt, err, tt.wantLife)
			}
			if tt.mint != 0 {
				return
			}
			resp, body := f.postForm(t, v2TokenPath, oboForm(tok, nil), nil)
			if resp.StatusCode != 200 || body["expires_in"] != float64(tt.wantLife/time.Second) {
				t.Fatalf("OBO: %d expires_in=%v, want %v", resp.StatusCode, body["expires_in"], tt.wantLife.Seconds())
			}
			if c, err := f.fe.Verify(body["access_token"].(string), databricksID); err != nil || !c.ExpiresAt.Equal(now.Add(tt.wantLife)) {
				t.Errorf("OBO token exp %v (%v) must match expires_in", c.ExpiresAt, err)
			}
		})
	}

	t.Run("without an injected source, lifetimes vary between 60 and 90 minutes", func(t *testing.T) {
		f := newFixture(t, nil)
		seen := map[time.Duration]bool{}
		for range 20 {
			c, err := f.fe.Verify(f.userToken(t, "alice", fakeentra.MintOptions{}), apiClientID)
			if err != nil {
				t.Fatal(err)
			}
			life := time.Until(c.ExpiresAt).Round(time.Minute)
			if life < 59*time.Minute || life > 90*time.Minute {
				t.Fatalf("lifetime %v outside 60-90 minutes", life)
			}
			seen[life] = true
		}
		if len(seen) < 2 {
			t.Errorf("20 tokens all lived %v: the lifetime is not random", seen)
		}
	})
}

func TestIDTypOptionalClaim(t *testing.T) {
	mi := newManagedIdentity()
	mi.Roles = []string{"Jobs.Run"}
	tests := []struct {
		name      string
		requested []string
		token     func(f *fixture, t *testing.T) string
		audience  string
		wantIDTyp bool
	}{
		{"requested: app token for the API is marked", []string{fakeentra.OptionalClaimIDTyp},
			func(f *fixture, t *testing.T) string { return f.appToken(t, appClientID, fakeentra.MintOptions{}) }, apiClientID, true},
		{"requested: client credentials token for the API is marked", []string{fakeentra.OptionalClaimIDTyp},
			clientCredentialsFor(apiClientID + "/.default"), apiClientID, true},
		{"requested: managed identity token for the API is marked", []string{fakeentra.OptionalClaimIDTyp},
			managedIdentityTokenFor(mi, "api://"+apiClientID), apiClientID, true},
		{"requested: user token is not (only app-only tokens carry it)", []string{fakeentra.OptionalClaimIDTyp},
			func(f *fixture, t *testing.T) string { return f.userToken(t, "alice", fakeentra.MintOptions{}) }, apiClientID, false},
		{"requested by the API: app token for Databricks is not", []string{fakeentra.OptionalClaimIDTyp},
			clientCredentialsFor(databricksID + "/.default"), databricksID, false},
		{"not requested (the default): app token for the API has roles and no scp only", nil,
			func(f *fixture, t *testing.T) string { return f.appToken(t, appClientID, fakeentra.MintOptions{}) }, apiClientID, false},
		{"not requested: client credentials token for the API", nil, clientCredentialsFor(apiClientID + "/.default"), apiClientID, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *fakeentra.Config) {
				c.API.AccessTokenOptionalClaims = tt.requested
				c.ManagedIdentities = []fakeentra.ManagedIdentity{mi}
			})
			c, err := f.fe.Verify(tt.token(f, t), tt.audience)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := c.Raw["idtyp"]; ok != tt.wantIDTyp || (ok && got != "app") {
				t.Errorf("idtyp = %v (present %v), want present=%v", got, ok, tt.wantIDTyp)
			}
		})
	}
}

func clientCredentialsFor(scope string) func(f *fixture, t *testing.T) string {
	return func(f *fixture, t *testing.T) string {
		t.Helper()
		resp, body := f.postForm(t, v2TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {appClientID},
			"client_secret": {appSecret}, "scope": {scope}}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("client credentials for %s: %d %v", scope, resp.StatusCode, body["error_description"])
		}
		return body["access_token"].(string)
	}
}

func managedIdentityTokenFor(mi fakeentra.ManagedIdentity, resource string) func(f *fixture, t *testing.T) string {
	return func(f *fixture, t *testing.T) string {
		t.Helper()
		resp, body := f.get(t, "/msi/token?api-version=2019-08-01&resource="+url.QueryEscape(resource)+"&client_id="+mi.ClientID,
			http.Header{"X-Identity-Header": {identityHdr}})
		if resp.StatusCode != 200 {
			t.Fatalf("managed identity token: %d %v", resp.StatusCode, body)
		}
		return body["access_token"].(string)
	}
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }
