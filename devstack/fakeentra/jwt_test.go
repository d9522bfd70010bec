package fakeentra_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
)

// The handler validates incoming tokens with golang-jwt + keyfunc against the JWKS;
// these tests show that minted tokens validate that way, also across key rotation.
func TestKeyfuncValidatesMintedTokensAcrossKeyRotation(t *testing.T) {
	f := newFixture(t, nil)
	kf, err := keyfunc.NewDefaultOverrideCtx(ctxT(t), []string{f.fe.JWKSURL(2), f.fe.JWKSURL(1)}, keyfunc.Override{Client: f.client})
	if err != nil {
		t.Fatal(err)
	}
	validate := func(t *testing.T, tok string, version int, aud string) {
		t.Helper()
		parsed, err := jwt.Parse(tok, kf.Keyfunc,
			jwt.WithValidMethods([]string{"RS256"}),
			jwt.WithIssuer(f.fe.Issuer(version)),
			jwt.WithAudience(aud),
			jwt.WithExpirationRequired(),
		)
		if err != nil {
			t.Fatalf("golang-jwt + keyfunc rejected a minted v%d token: %v", version, err)
		}
		if parsed.Header["typ"] != "JWT" {
			t.Errorf("header typ = %v", parsed.Header["typ"])
		}
	}

	beforeV2 := f.userToken(t, "alice", fakeentra.MintOptions{})
	beforeV1 := f.userToken(t, "alice", fakeentra.MintOptions{Version: 1})
	validate(t, beforeV2, 2, apiClientID)
	validate(t, beforeV1, 1, "api://"+apiClientID)

	f.fe.RotateKeys()
	after := f.userToken(t, "alice", fakeentra.MintOptions{})
	if kidOf(t, after) == kidOf(t, beforeV2) {
		t.Fatal("RotateKeys must change the signing key")
	}
	validate(t, after, 2, apiClientID)    // unknown kid: keyfunc refreshes the JWKS
	validate(t, beforeV2, 2, apiClientID) // the previous key is still published
	if _, err := f.fe.Verify(beforeV2, apiClientID); err != nil {
		t.Errorf("Verify must accept tokens of the previous key: %v", err)
	}

	f.fe.RotateKeys()
	if _, err := f.fe.Verify(beforeV2, apiClientID); !errors.Is(err, fakeentra.ErrInvalidToken) {
		t.Errorf("two rotations later the first key is gone; Verify = %v", err)
	}
	if _, err := f.fe.Verify(after, apiClientID); err != nil {
		t.Errorf("the previous key stays trusted: %v", err)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := p.Header["kid"].(string)
	return kid
}

func TestMintedTokensLookLikeEntraTokens(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name       string
		mint       func() (string, error)
		wantHeader []string
		wantClaims map[string]any
		absent     []string
	}{
		{
			name:       "v2 user token",
			mint:       func() (string, error) { return f.fe.MintUserToken("alice", fakeentra.MintOptions{}) },
			wantHeader: []string{"typ", "alg", "kid"},
			wantClaims: map[string]any{"ver": "2.0", "aud": apiClientID, "iss": f.fe.Issuer(2), "scp": "user_impersonation",
				"azp": fakeentra.DefaultClientAppID, "oid": aliceOID, "tid": tenantID, "preferred_username": "alice@contoso.example", "name": "Alice Example"},
			absent: []string{"idtyp", "roles", "appid", "upn"},
		},
		{
			name:       "v1 user token",
			mint:       func() (string, error) { return f.fe.MintUserToken("alice", fakeentra.MintOptions{Version: 1}) },
			wantHeader: []string{"typ", "alg", "kid", "x5t"},
			wantClaims: map[string]any{"ver": "1.0", "aud": "api://" + apiClientID, "iss": f.fe.Issuer(1), "scp": "user_impersonation",
				"appid": fakeentra.DefaultClientAppID, "upn": "alice@contoso.example", "unique_name": "alice@contoso.example"},
			absent: []string{"idtyp", "azp"},
		},
		{
			name: "v2 app token: no idtyp unless the API asks for the optional claim",
			mint: func() (string, error) { return f.fe.MintAppToken(appClientID, fakeentra.MintOptions{}) },
			wantClaims: map[string]any{"ver": "2.0", "aud": apiClientID, "azp": appClientID,
				"oid": f.fe.ServicePrincipalObjectID(appClientID), "sub": f.fe.ServicePrincipalObjectID(appClientID)},
			wantHeader: []string{"typ", "alg", "kid"},
			absent:     []string{"scp", "upn", "preferred_username", "name", "idtyp"},
		},
		{
			name: "options: client app, scopes, roles, extra claim, removed claim",
			mint: func() (string, error) {
				return f.fe.MintUserToken("bob", fakeentra.MintOptions{ClientAppID: "c0ffee00-0000-4000-8000-000000000000",
					Scopes: []string{"user_impersonation", "Jobs.Read"}, Roles: []string{"Admin"},
					Extra: map[string]any{"xms_cc": []string{"cp1"}, "name": nil}})
			},
			wantHeader: []string{"typ", "alg", "kid"},
			wantClaims: map[string]any{"azp": "c0ffee00-0000-4000-8000-000000000000", "scp": "user_impersonation Jobs.Read"},
			absent:     []string{"name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.mint()
			if err != nil {
				t.Fatal(err)
			}
			p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Header) != len(tt.wantHeader) || p.Header["alg"] != "RS256" || p.Header["typ"] != "JWT" {
				t.Errorf("header %v, want exactly %v with alg RS256", p.Header, tt.wantHeader)
			}
			if x5t, ok := p.Header["x5t"]; ok && x5t != p.Header["kid"] {
				t.Errorf("x5t %v must equal kid %v", x5t, p.Header["kid"])
			}
			m := p.Claims.(jwt.MapClaims)
			for k, want := range tt.wantClaims {
				if m[k] != want {
					t.Errorf("claim %s = %v, want %v", k, m[k], want)
				}
			}
			for _, k := range tt.absent {
				if _, ok := m[k]; ok {
					t.Errorf("claim %s must be absent", k)
				}
			}
			for _, k := range []string{"iat", "nbf", "exp", "uti", "rh", "aio", "sub"} {
				if _, ok := m[k]; !ok {
					t.Errorf("claim %s missing", k)
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	f := newFixture(t, nil)
	other := newFixture(t, nil)
	good := f.userToken(t, "alice", fakeentra.MintOptions{})
	tests := []struct {
		name      string
		token     string
		audience  string
		wantErr   bool
		wantExpir bool
	}{
		{"valid v2 user token", good, apiClientID, false, false},
		{"valid v1 user token", f.userToken(t, "alice", fakeentra.MintOptions{Version: 1}), "api://" + apiClientID, false, false},
		{"valid app token", f.appToken(t, appClientID, fakeentra.MintOptions{}), apiClientID, false, false},
		{"wrong audience", good, fakeentra.DatabricksResourceID, true, false},
		{"no audience given", good, "", true, false},
		{"expired", f.userToken(t, "alice", fakeentra.MintOptions{TTL: -time.Second}), apiClientID, true, true},
		{"not yet valid", f.userToken(t, "alice", fakeentra.MintOptions{NotBefore: time.Now().Add(time.Hour), TTL: 2 * time.Hour}), apiClientID, true, false},
		{"signed by another tenant's key", other.userToken(t, "alice", fakeentra.MintOptions{}), apiClientID, true, false},
		{"tampered payload", tamper(t, good), apiClientID, true, false},
		{"HS256 token", hs256(t, f), apiClientID, true, false},
		{"v2 issuer with ver 1.0", f.userToken(t, "alice", fakeentra.MintOptions{Extra: map[string]any{"ver": "1.0"}}), apiClientID, true, false},
		{"foreign issuer", f.userToken(t, "alice", fakeentra.MintOptions{Extra: map[string]any{"iss": "https://login.microsoftonline.com/" + tenantID + "/v2.0"}}), apiClientID, true, false},
		{"foreign tenant", f.userToken(t, "alice", fakeentra.MintOptions{Extra: map[string]any{"tid": "00000000-0000-4000-8000-000000000000"}}), apiClientID, true, false},
		{"no exp", f.userToken(t, "alice", fakeentra.MintOptions{Extra: map[string]any{"exp": nil}}), apiClientID, true, false},
		{"garbage", "not.a.jwt", apiClientID, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.fe.Verify(tt.token, tt.audience)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Audience != tt.audience || c.TenantID != tenantID || c.ExpiresAt.IsZero() {
					t.Errorf("claims: %+v", c)
				}
				return
			}
			if !errors.Is(err, fakeentra.ErrInvalidToken) {
				t.Fatalf("want ErrInvalidToken, got %v", err)
			}
			if errors.Is(err, fakeentra.ErrTokenExpired) != tt.wantExpir {
				t.Errorf("errors.Is(err, ErrTokenExpired) = %v, want %v (%v)", !tt.wantExpir, tt.wantExpir, err)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Error("the error must not contain the token")
			}
		})
	}
}

func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), aliceOID, "99999999-2222-4333-8444-555555555555", 1)))
	return strings.Join(parts, ".")
}

// hs256 forges a token with a symmetric key (the JWKS modulus), the classic alg confusion.
func hs256(t *testing.T, f *fixture) string {
	t.Helper()
	c := jwt.MapClaims{"aud": apiClientID, "iss": f.fe.Issuer(2), "ver": "2.0", "tid": tenantID, "exp": time.Now().Add(time.Hour).Unix()}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestJWKSIsEntraShaped(t *testing.T) {
	f := newFixture(t, nil)
	f.fe.RotateKeys() // two keys published
	for _, version := range []int{1, 2} {
		resp, body := f.get(t, strings.TrimPrefix(f.fe.JWKSURL(version), f.base), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("v%d JWKS: %d", version, resp.StatusCode)
		}
		keys, _ := body["keys"].([]any)
		if len(keys) != 2 {
			t.Fatalf("v%d JWKS must publish the current and the previous key, got %d", version, len(keys))
		}
		for _, k := range keys {
			key := k.(map[string]any)
			if _, ok := key["alg"]; ok {
				t.Error("Entra keys carry no alg")
			}
			if key["kty"] != "RSA" || key["use"] != "sig" || key["kid"] != key["x5t"] || key["e"] != "AQAB" {
				t.Errorf("key fields: %v", key)
			}
			if _, ok := key["issuer"]; ok != (version == 2) {
				t.Errorf("issuer must be present exactly on v2 keys (v%d: %v)", version, ok)
			}
			if version == 2 && key["issuer"] != f.fe.Issuer(2) {
				t.Errorf("issuer = %v", key["issuer"])
			}
			x5c := key["x5c"].([]any)
			der, err := base64.StdEncoding.DecodeString(x5c[0].(string))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := base64.RawURLEncoding.DecodeString(key["n"].(string))
			pub := cert.PublicKey.(*rsa.PublicKey)
			if pub.N.Cmp(new(big.Int).SetBytes(n)) != 0 || pub.N.BitLen() != 2048 {
				t.Error("x5c certificate must hold the 2048-bit key given by n/e")
			}
		}
	}
}

// A test can bring the signing keys (Config.SigningKey, RotateKeysTo): it signs a token with the
// next key before the fake publishes it, and the fake's own tokens carry the key's kid.
func TestCallerSuppliedSigningKeys(t *testing.T) {
	first, err := fakeentra.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	next, err := fakeentra.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *fakeentra.Config) { c.SigningKey = first })
	if kid := kidOf(t, f.userToken(t, "alice", fakeentra.MintOptions{})); kid != first.KeyID() {
		t.Fatalf("minted with kid %q, want the configured key's %q", kid, first.KeyID())
	}
	early := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"aud": apiClientID, "iss": f.fe.Issuer(2), "tid": f.fe.TenantID(), "ver": "2.0",
		"exp": time.Now().Add(time.Hour).Unix(), "oid": "0e0e0e0e-0000-4000-8000-000000000001",
	})
	early.Header["kid"] = next.KeyID()
	signed, err := early.SignedString(next.PrivateKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.fe.Verify(signed, apiClientID); !errors.Is(err, fakeentra.ErrInvalidToken) {
		t.Fatalf("a token of a key not yet published: Verify = %v", err)
	}
	f.fe.RotateKeysTo(next)
	if _, err := f.fe.Verify(signed, apiClientID); err != nil {
		t.Fatalf("after the rotation to it: %v", err)
	}
	if kid := kidOf(t, f.userToken(t, "alice", fakeentra.MintOptions{})); kid != next.KeyID() {
		t.Fatalf("after the rotation minted with kid %q, want %q", kid, next.KeyID())
	}
}

// SetTokenTTL changes the lifetime of the tokens issued from then on; a lifetime below Entra's
// minimum is refused.
func TestSetTokenTTL(t *testing.T) {
	f := newFixture(t, nil)
	for _, ttl := range []time.Duration{time.Hour, 4 * time.Hour} {
		if err := f.fe.SetTokenTTL(ttl); err != nil {
			t.Fatal(err)
		}
		c, err := f.fe.Verify(f.userToken(t, "alice", fakeentra.MintOptions{}), apiClientID)
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Until(c.ExpiresAt); got < ttl-time.Minute || got > ttl {
			t.Errorf("SetTokenTTL(%v): a token living %v", ttl, got)
		}
	}
	if err := f.fe.SetTokenTTL(time.Minute); err == nil {
		t.Error("a one-minute lifetime was accepted")
	}
}
