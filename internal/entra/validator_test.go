package entra

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
)

func validatorOptions(f *fakeEntra) ValidatorOptions {
	return ValidatorOptions{
		AuthorityHost: f.URL() + "/",
		TenantID:      f.tenant,
		Audiences:     []string{testAPIClient, "api://" + testAPIClient},
		Scope:         "user_impersonation",
		AppRole:       "Jobs.Run",
		AppCallers:    []string{testAppCaller},
		HTTPClient:    f.Client(),
		Now:           func() time.Time { return testNow },
	}
}

func newTestValidator(t testing.TB, f *fakeEntra, mod func(*ValidatorOptions)) *Validator {
	t.Helper()
	o := validatorOptions(f)
	if mod != nil {
		mod(&o)
	}
	v, err := NewValidator(o)
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// errKind names the class of a Validate error, the way the API will classify it.
func errKind(err error) string {
	var fe *ForbiddenError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNoCredentials):
		return "no_credentials"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.As(err, &fe):
		return "forbidden:" + fe.Code
	case errors.Is(err, ErrInvalidToken):
		return "invalid_token"
	default:
		return "other"
	}
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestValidate(t *testing.T) {
	f := newFakeEntra(t)
	logs := &syncBuffer{}
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.Logger = zerolog.New(logs).Level(zerolog.DebugLevel) })
	key := f.keys[0]
	stranger := testKeys(t, 2)[1] // a key the tenant never published

	pubDER, err := x509.MarshalPKIXPublicKey(&key.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	valid := f.mint(t, f.userClaimsV2())
	bearer := func(tok string) string { return "Bearer " + tok }
	mint := func(changes map[string]any) string { return bearer(f.mint(t, with(f.userClaimsV2(), changes))) }

	tests := []struct {
		name       string
		header     string
		wantKind   string // errKind
		wantReason string // substring of the error
		check      func(t *testing.T, p Principal)
	}{
		// --- the Authorization header (RFC 6750 §2.1) ---
		{name: "valid v2 user token", header: bearer(valid), wantKind: "ok", check: func(t *testing.T, p Principal) {
			want := Principal{Kind: User, ObjectID: "11111111-2222-4333-8444-555555555555", TenantID: testTenant,
				Name: "alice@contoso.example", AppID: testClientApp, Scopes: []string{"user_impersonation"},
				TokenVersion: "2.0", ExpiresAt: time.Unix(testNow.Add(time.Hour).Unix(), 0)}
			if fmt.Sprint(p) != fmt.Sprint(want) || !p.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("principal\n got %+v\nwant %+v", p, want)
			}
		}},
		{name: "valid v1 user token (api:// audience, sts.windows.net issuer, appid)", header: bearer(f.mint(t, f.userClaimsV1())), wantKind: "ok", check: func(t *testing.T, p Principal) {
			if p.Kind != User || p.TokenVersion != "1.0" || p.AppID != testClientApp || p.Name != "alice@contoso.example" {
				t.Errorf("principal %+v", p)
			}
		}},
		{name: "scheme is case-insensitive", header: "bearer " + valid, wantKind: "ok"},
		{name: "scheme in capitals", header: "BEARER " + valid, wantKind: "ok"},
		{name: "several spaces after the scheme", header: "Bearer   " + valid, wantKind: "ok"},
		{name: "no Authorization header", header: "", wantKind: "no_credentials"},
		{name: "whitespace-only header", header: "  ", wantKind: "no_credentials"},
		{name: "another scheme", header: "Basic dXNlcjpwYXNz", wantKind: "no_credentials", wantReason: "not Bearer"},
		{name: "scheme glued to the token", header: "Bearer" + valid, wantKind: "no_credentials"},
		{name: "Bearer without a token", header: "Bearer", wantKind: "invalid_token", wantReason: "no token"},
		{name: "two tokens", header: "Bearer " + valid + " " + valid, wantKind: "invalid_token", wantReason: "more than one token"},
		{name: "two credentials joined with a comma", header: "Bearer " + valid + ", Bearer " + valid, wantKind: "invalid_token", wantReason: "more than one token"},
		{name: "characters outside token68", header: "Bearer abc$def", wantKind: "invalid_token", wantReason: "characters not allowed"},
		{name: "padding only at the end", header: "Bearer ab=c", wantKind: "invalid_token", wantReason: "characters not allowed"},
		{name: "oversized token", header: "Bearer " + strings.Repeat("a", DefaultMaxTokenBytes+1), wantKind: "invalid_token", wantReason: "too large"},

		// --- JWT structure and signature ---
		{name: "not a JWT", header: "Bearer abc.def", wantKind: "invalid_token", wantReason: "malformed"},
		{name: "garbage segments", header: "Bearer a.b.c", wantKind: "invalid_token", wantReason: "malformed"},
		{name: "alg none", header: bearer(b64(map[string]any{"alg": "none", "typ": "JWT", "kid": key.kid}) + "." + b64(f.userClaimsV2()) + "."),
			wantKind: "invalid_token", wantReason: "algorithm not accepted"},
		{name: "HS256 signed with the RSA public key bytes", header: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, f.userClaimsV2())
			tok.Header["kid"] = key.kid
			s, err := tok.SignedString(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			return bearer(s)
		}(), wantKind: "invalid_token", wantReason: "algorithm not accepted"},
		{name: "PS256 with the real key (only RS256 accepted)", header: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodPS256, f.userClaimsV2())
			tok.Header["kid"] = key.kid
			s, err := tok.SignedString(key.priv)
			if err != nil {
				t.Fatal(err)
			}
			return bearer(s)
		}(), wantKind: "invalid_token", wantReason: "algorithm not accepted"},
		{name: "no kid", header: func() string {
			s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, f.userClaimsV2()).SignedString(key.priv)
			if err != nil {
				t.Fatal(err)
			}
			return bearer(s)
		}(), wantKind: "invalid_token", wantReason: "no key id"},
		{name: "unknown kid", header: bearer(sign(t, stranger, stranger.kid, f.userClaimsV2())), wantKind: "invalid_token", wantReason: "signing key not found"},
		{name: "known kid, signed by another key", header: bearer(sign(t, stranger, key.kid, f.userClaimsV2())), wantKind: "invalid_token", wantReason: "signature invalid"},
		{name: "tampered payload", header: func() string {
			parts := strings.Split(valid, ".")
			parts[1] = b64(with(f.userClaimsV2(), map[string]any{"oid": "someone-else"}))
			return bearer(strings.Join(parts, "."))
		}(), wantKind: "invalid_token", wantReason: "signature invalid"},
		{name: "signature stripped", header: func() string {
			parts := strings.Split(valid, ".")
			return bearer(parts[0] + "." + parts[1] + ".")
		}(), wantKind: "invalid_token", wantReason: "signature invalid"},

		// --- lifetime (leeway 2 min) ---
		{name: "expired", header: mint(map[string]any{"exp": testNow.Add(-3 * time.Minute).Unix()}), wantKind: "invalid_token", wantReason: "token expired"},
		{name: "expired within leeway", header: mint(map[string]any{"exp": testNow.Add(-time.Minute).Unix()}), wantKind: "ok"},
		{name: "no exp", header: mint(map[string]any{"exp": nil}), wantKind: "invalid_token", wantReason: "exp claim missing"},
		{name: "nbf in the future beyond leeway", header: mint(map[string]any{"nbf": testNow.Add(3 * time.Minute).Unix()}), wantKind: "invalid_token", wantReason: "not valid yet"},
		{name: "nbf in the future within leeway", header: mint(map[string]any{"nbf": testNow.Add(time.Minute).Unix()}), wantKind: "ok"},
		{name: "iat in the future beyond leeway", header: mint(map[string]any{"iat": testNow.Add(3 * time.Minute).Unix()}), wantKind: "invalid_token", wantReason: "token issued in the future"},
		{name: "iat in the future within leeway", header: mint(map[string]any{"iat": testNow.Add(time.Minute).Unix()}), wantKind: "ok"},
		{name: "lifetime of 28 h (a continuous access evaluation token)", header: mint(map[string]any{"exp": testNow.Add(-5*time.Minute + 28*time.Hour).Unix()}), wantKind: "ok"},
		{name: "lifetime beyond 28 h and the leeway", header: mint(map[string]any{"exp": testNow.Add(-5*time.Minute + 28*time.Hour + 3*time.Minute).Unix()}),
			wantKind: "invalid_token", wantReason: "token lifetime too long"},
		{name: "a token valid for a year", header: mint(map[string]any{"exp": testNow.AddDate(1, 0, 0).Unix()}), wantKind: "invalid_token", wantReason: "token lifetime too long"},
		{name: "lifetime measured from nbf when there is no iat", header: mint(map[string]any{"iat": nil, "exp": testNow.Add(-5*time.Minute + 29*time.Hour).Unix()}),
			wantKind: "invalid_token", wantReason: "token lifetime too long"},
		{name: "no iat and no nbf: lifetime unknown", header: mint(map[string]any{"iat": nil, "nbf": nil}), wantKind: "invalid_token", wantReason: "iat claim missing"},

		// --- claim names are case-sensitive (RFC 7519 §4); the look-alike is placed last ---
		{name: `"Scp" standing in for a missing scp`, header: bearer(signRaw(t, key, rsHeader(key.kid), rawClaims(with(f.userClaimsV2(), map[string]any{"scp": nil}), `"Scp":"user_impersonation"`))),
			wantKind: "forbidden:insufficient_scope"},
		{name: `"Scp" after an scp without the scope`, header: bearer(signRaw(t, key, rsHeader(key.kid), rawClaims(with(f.userClaimsV2(), map[string]any{"scp": "Files.Read"}), `"Scp":"user_impersonation"`))),
			wantKind: "forbidden:insufficient_scope"},
		{name: `"TID" standing in for tid`, header: bearer(signRaw(t, key, rsHeader(key.kid), rawClaims(with(f.userClaimsV2(), map[string]any{"tid": nil}), `"TID":"`+testTenant+`"`))),
			wantKind: "invalid_token", wantReason: "tenant not accepted"},
		{name: `"Exp" standing in for exp`, header: bearer(signRaw(t, key, rsHeader(key.kid), rawClaims(with(f.userClaimsV2(), map[string]any{"exp": nil}), fmt.Sprintf(`"Exp":%d`, testNow.Add(time.Hour).Unix())))),
			wantKind: "invalid_token", wantReason: "exp claim missing"},
		{name: `"Aud" standing in for aud`, header: bearer(signRaw(t, key, rsHeader(key.kid), rawClaims(with(f.userClaimsV2(), map[string]any{"aud": nil}), `"Aud":"`+testAPIClient+`"`))),
			wantKind: "invalid_token", wantReason: "audience not accepted"},
		{name: `"Ver" standing in for ver`, header: bearer(signRaw(t, key, rsHeader(key.kid), rawClaims(with(f.userClaimsV2(), map[string]any{"ver": nil}), `"Ver":"2.0"`))),
			wantKind: "invalid_token", wantReason: "version not supported"},
		{name: `"IAT" cannot hide a future iat`, header: bearer(signRaw(t, key, rsHeader(key.kid), rawClaims(with(f.userClaimsV2(), map[string]any{"iat": testNow.Add(time.Hour).Unix()}), fmt.Sprintf(`"IAT":%d`, testNow.Unix())))),
			wantKind: "invalid_token", wantReason: "token issued in the future"},
		{name: "a claim of the wrong type", header: mint(map[string]any{"roles": "Jobs.Run"}), wantKind: "invalid_token", wantReason: "malformed"},

		// --- critical header parameters (RFC 7515 §4.1.11): none is understood ---
		{name: "crit header", header: bearer(signRaw(t, key, `{"alg":"RS256","crit":["exp"],"exp":1,"kid":"`+key.kid+`","typ":"JWT"}`, rawClaims(f.userClaimsV2(), ""))),
			wantKind: "invalid_token", wantReason: "critical header not supported"},
		{name: "empty crit list", header: bearer(signRaw(t, key, `{"alg":"RS256","crit":[],"kid":"`+key.kid+`","typ":"JWT"}`, rawClaims(f.userClaimsV2(), ""))),
			wantKind: "invalid_token", wantReason: "critical header not supported"},
		{name: "crit header with an unknown kid (refused before any key lookup)", header: bearer(signRaw(t, stranger, `{"alg":"RS256","crit":["b64"],"b64":false,"kid":"`+stranger.kid+`"}`, rawClaims(f.userClaimsV2(), ""))),
			wantKind: "invalid_token", wantReason: "critical header not supported"},
		{name: `"Crit" is not crit (header names are case-sensitive)`, header: bearer(signRaw(t, key, `{"Crit":["exp"],"alg":"RS256","kid":"`+key.kid+`","typ":"JWT"}`, rawClaims(f.userClaimsV2(), ""))), wantKind: "ok"},

		// --- issuer, version, tenant ---
		{name: "wrong issuer", header: mint(map[string]any{"iss": "https://login.microsoftonline.com/" + testTenant + "/v2.0"}), wantKind: "invalid_token", wantReason: "issuer not accepted"},
		{name: "v2 token carrying the v1 issuer", header: mint(map[string]any{"iss": f.v1Issuer()}), wantKind: "invalid_token", wantReason: "issuer not accepted"},
		{name: "v1 token carrying the v2 issuer", header: bearer(f.mint(t, with(f.userClaimsV1(), map[string]any{"iss": f.v2Issuer()}))), wantKind: "invalid_token", wantReason: "issuer not accepted"},
		{name: "no ver", header: mint(map[string]any{"ver": nil}), wantKind: "invalid_token", wantReason: "version not supported"},
		{name: "other tenant's tid", header: mint(map[string]any{"tid": otherTenant}), wantKind: "invalid_token", wantReason: "tenant not accepted"},
		{name: "other tenant's issuer and tid", header: mint(map[string]any{"tid": otherTenant, "iss": f.URL() + "/" + otherTenant + "/v2.0"}), wantKind: "invalid_token", wantReason: "issuer not accepted"},
		{name: "no oid", header: mint(map[string]any{"oid": nil}), wantKind: "invalid_token", wantReason: "oid claim missing"},

		// --- audience ---
		{name: "wrong audience", header: mint(map[string]any{"aud": "00000003-0000-0000-c000-000000000000"}), wantKind: "invalid_token", wantReason: "audience not accepted"},
		{name: "a Databricks token sent to us", header: mint(map[string]any{"aud": databricksApp}), wantKind: "invalid_token", wantReason: "audience not accepted"},
		{name: "no aud", header: mint(map[string]any{"aud": nil}), wantKind: "invalid_token", wantReason: "audience not accepted"},
		{name: "aud as a list containing ours", header: mint(map[string]any{"aud": []string{"other", testAPIClient}}), wantKind: "ok"},

		// --- delegated scope ---
		{name: "no scope and no roles", header: mint(map[string]any{"scp": nil}), wantKind: "forbidden:insufficient_scope", wantReason: "scope user_impersonation missing"},
		{name: "wrong scope", header: mint(map[string]any{"scp": "Files.Read"}), wantKind: "forbidden:insufficient_scope", wantReason: "scope user_impersonation missing"},
		{name: "scope is matched exactly, not as a substring", header: mint(map[string]any{"scp": "user_impersonation_admin"}), wantKind: "forbidden:insufficient_scope"},
		{name: "required scope among others", header: mint(map[string]any{"scp": "Jobs.Read user_impersonation"}), wantKind: "ok"},

		// --- app-only tokens ---
		{name: "allow-listed app with role", header: bearer(f.mint(t, f.appClaimsV2())), wantKind: "ok", check: func(t *testing.T, p Principal) {
			if p.Kind != App || p.AppID != testAppCaller || len(p.Roles) != 1 || p.Roles[0] != "Jobs.Run" || len(p.Scopes) != 0 {
				t.Errorf("principal %+v", p)
			}
		}},
		{name: "app token recognised by roles without scp (no idtyp)", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"idtyp": nil}))), wantKind: "ok",
			check: func(t *testing.T, p Principal) {
				if p.Kind != App {
					t.Errorf("kind %v", p.Kind)
				}
			}},
		{name: "v1 app token (appid)", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"ver": "1.0", "iss": f.v1Issuer(), "aud": "api://" + testAPIClient, "azp": nil, "appid": testAppCaller}))), wantKind: "ok",
			check: func(t *testing.T, p Principal) {
				if p.Kind != App || p.AppID != testAppCaller {
					t.Errorf("principal %+v", p)
				}
			}},
		{name: "app not allow-listed", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"azp": "deadbeef-0000-4000-8000-000000000000"}))),
			wantKind: "forbidden:app_caller_not_allowed", wantReason: "deadbeef-0000-4000-8000-000000000000 is not an allowed app caller"},
		{name: "allow-listed app without the role", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"roles": []string{"Jobs.Read"}}))),
			wantKind: "forbidden:app_caller_not_allowed", wantReason: "lacks the app role Jobs.Run"},
		{name: "allow-listed app with no role and no idtyp hears it lacks the role", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"idtyp": nil, "roles": nil}))),
			wantKind: "forbidden:app_caller_not_allowed", wantReason: "lacks the app role Jobs.Run"},
		{name: "unknown client with neither scp nor roles is a user token without the scope", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"idtyp": nil, "roles": nil, "azp": "deadbeef-0000-4000-8000-000000000000"}))),
			wantKind: "forbidden:insufficient_scope", wantReason: "scope user_impersonation missing"},
		{name: "idtyp=app wins over a scp claim", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"scp": "user_impersonation", "roles": nil}))),
			wantKind: "forbidden:app_caller_not_allowed", wantReason: "lacks the app role"},
		{name: "app token for another audience", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"aud": databricksApp}))), wantKind: "invalid_token", wantReason: "audience not accepted"},
	}
	// Each header twice: the second time a token that passed comes from the validated-token cache,
	// and must get exactly the answer of its first, full validation.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, pass := range []string{"first use", "again"} {
				validateOnce(t, v, pass, tc.header, tc.wantKind, tc.wantReason, tc.check)
			}
		})
	}
	if strings.Contains(logs.String(), "eyJ") {
		t.Errorf("validator logs contain a token: %s", logs.String())
	}
}

// validateOnce validates header with v and checks the outcome; pass names the attempt.
func validateOnce(t *testing.T, v *Validator, pass, header, wantKind, wantReason string, check func(*testing.T, Principal)) {
	t.Helper()
	p, tok, err := v.Validate(context.Background(), header)
	if got := errKind(err); got != wantKind {
		t.Fatalf("%s: kind = %s (%v), want %s", pass, got, err, wantKind)
	}
	if err != nil {
		if wantReason != "" && !strings.Contains(err.Error(), wantReason) {
			t.Errorf("%s: error %q does not say %q", pass, err, wantReason)
		}
		if raw := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(header, "Bearer"), "bearer")); len(raw) > 8 && strings.Contains(err.Error(), raw) {
			t.Errorf("%s: error contains the token", pass)
		}
		if tok != "" || p.Kind != 0 {
			t.Errorf("%s: failed validation returned a principal/token", pass)
		}
		return
	}
	if want := strings.TrimSpace(header[len("Bearer"):]); tok.Reveal() != want {
		t.Errorf("%s: returned token is not the bearer token", pass)
	}
	if check != nil {
		check(t, p)
	}
}

// rsHeader is the JOSE header Entra puts on a v2 access token.
func rsHeader(kid string) string { return `{"alg":"RS256","kid":"` + kid + `","typ":"JWT"}` }

// rawClaims is the JSON text of c with extra (`"name":value` members) appended after c's own
// members, so a test decides what comes last.
func rawClaims(c jwt.MapClaims, extra string) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	if extra == "" {
		return string(b)
	}
	return string(b[:len(b)-1]) + "," + extra + "}"
}

// signRaw signs exactly the given header and payload JSON with RS256 (jwt.NewWithClaims would
// re-encode them, sorting the members).
func signRaw(tb testing.TB, key *testKey, header, payload string) string {
	tb.Helper()
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodRS256.Sign(signing, key.priv)
	if err != nil {
		tb.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// The client-application allow-list (ClientApps) for delegated tokens: azp in v2 tokens, appid in
// v1 tokens, nothing else.
func TestValidateClientApps(t *testing.T) {
	f := newFakeEntra(t)
	other := "deadbeef-0000-4000-8000-000000000000"
	listed := newTestValidator(t, f, func(o *ValidatorOptions) { o.ClientApps = []string{other, strings.ToUpper(testClientApp)} })
	anyClient := newTestValidator(t, f, nil)
	key := f.keys[0]
	v1 := func(changes map[string]any) string { return f.mint(t, with(f.userClaimsV1(), changes)) }
	v2 := func(changes map[string]any) string { return f.mint(t, with(f.userClaimsV2(), changes)) }
	const unlisted = "0ddba11a-0000-4000-8000-000000000000"

	tests := []struct {
		name       string
		v          *Validator
		token      string
		wantKind   string
		wantReason string
	}{
		{"v2 token from a listed client (listed in capitals)", listed, v2(nil), "ok", ""},
		{"v1 token from a listed client", listed, v1(nil), "ok", ""},
		{"v2 token from an unlisted client", listed, v2(map[string]any{"azp": unlisted}), "forbidden:client_app_not_allowed", "client application not allowed: " + unlisted},
		{"v1 token from an unlisted client", listed, v1(map[string]any{"appid": unlisted}), "forbidden:client_app_not_allowed", "client application not allowed: " + unlisted},
		{"v2 token without azp", listed, v2(map[string]any{"azp": nil}), "forbidden:client_app_not_allowed", "client application not allowed: (none)"},
		{"v1 token without appid", listed, v1(map[string]any{"appid": nil}), "forbidden:client_app_not_allowed", "client application not allowed: (none)"},
		{"v2 token with a listed appid instead of azp", listed, v2(map[string]any{"azp": nil, "appid": testClientApp}), "forbidden:client_app_not_allowed", "(none)"},
		{"v1 token with a listed azp instead of appid", listed, v1(map[string]any{"appid": nil, "azp": testClientApp}), "forbidden:client_app_not_allowed", "(none)"},
		{"v2 token with an unlisted azp and a listed appid", listed, v2(map[string]any{"azp": unlisted, "appid": testClientApp}), "forbidden:client_app_not_allowed", unlisted},
		{`"Azp" standing in for azp`, listed, signRaw(t, key, rsHeader(key.kid), rawClaims(with(f.userClaimsV2(), map[string]any{"azp": nil}), `"Azp":"`+testClientApp+`"`)),
			"forbidden:client_app_not_allowed", "(none)"},
		{"an azp that is not an id is not echoed as it is", listed, v2(map[string]any{"azp": "<script>\n" + unlisted}), "forbidden:client_app_not_allowed", "not allowed: script" + unlisted},
		{"an unlisted client without the scope: the client is refused first", listed, v2(map[string]any{"azp": unlisted, "scp": nil}), "forbidden:client_app_not_allowed", unlisted},
		{"a listed client without the scope", listed, v2(map[string]any{"scp": nil}), "forbidden:insufficient_scope", ""},
		{"app-only tokens are not subject to the list (AppCallers is theirs)", listed, f.mint(t, f.appClaimsV2()), "ok", ""},
		{"empty list: any client", anyClient, v2(map[string]any{"azp": unlisted}), "ok", ""},
		{"empty list: no azp", anyClient, v2(map[string]any{"azp": nil}), "ok", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: a hit of the validated-token cache applies the validator's own list as a
			// first use does (listed and anyClient each have their own cache).
			for _, pass := range []string{"first use", "again"} {
				p, _, err := tc.v.Validate(context.Background(), "Bearer "+tc.token)
				if got := errKind(err); got != tc.wantKind {
					t.Fatalf("%s: kind = %s (%v), want %s", pass, got, err, tc.wantKind)
				}
				if err == nil {
					if p.Kind == 0 {
						t.Errorf("%s: no principal", pass)
					}
					continue
				}
				if !strings.Contains(err.Error(), tc.wantReason) {
					t.Errorf("%s: error %q does not say %q", pass, err, tc.wantReason)
				}
				if strings.Contains(err.Error(), tc.token) || strings.Contains(err.Error(), strings.Split(tc.token, ".")[1]) {
					t.Errorf("%s: error contains the token", pass)
				}
			}
		})
	}
}

func TestValidateRefusesAppTokensWithoutAllowList(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.AppCallers = nil; o.AppRole = "" })
	_, _, err := v.Validate(context.Background(), "Bearer "+f.mint(t, f.appClaimsV2()))
	var fe *ForbiddenError
	if !errors.As(err, &fe) || fe.Code != CodeAppCallerNotAllowed || !strings.Contains(fe.Reason, "not accepted") {
		t.Fatalf("err = %v, want app_caller_not_allowed", err)
	}
	// user tokens still work
	if _, _, err := v.Validate(context.Background(), "Bearer "+f.mint(t, f.userClaimsV2())); err != nil {
		t.Fatal(err)
	}
}

func TestValidatorLeewayOption(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.Leeway = 5 * time.Minute })
	tok := f.mint(t, with(f.userClaimsV2(), map[string]any{"exp": testNow.Add(-4 * time.Minute).Unix()}))
	if _, _, err := v.Validate(context.Background(), "Bearer "+tok); err != nil {
		t.Fatalf("4 min past exp with 5 min leeway: %v", err)
	}
	tok = f.mint(t, with(f.userClaimsV2(), map[string]any{"exp": testNow.Add(-6 * time.Minute).Unix()}))
	if _, _, err := v.Validate(context.Background(), "Bearer "+tok); errKind(err) != "invalid_token" {
		t.Fatalf("6 min past exp with 5 min leeway: %v", err)
	}
}

func TestValidatorMaxTokenBytesOption(t *testing.T) {
	f := newFakeEntra(t)
	tok := f.mint(t, f.userClaimsV2())
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.MaxTokenBytes = len(tok) - 1 })
	_, _, err := v.Validate(context.Background(), "Bearer "+tok)
	if errKind(err) != "invalid_token" || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %v", err)
	}
	if n := f.total(); n != 0 {
		t.Errorf("an oversized token caused %d requests to Entra", n)
	}
}

func TestNewValidatorMakesNoNetworkCalls(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	if n := f.total(); n != 0 {
		t.Fatalf("NewValidator made %d requests", n)
	}
	// header errors are answered without fetching anything either
	for _, h := range []string{"", "Basic x", "Bearer a b"} {
		_, _, _ = v.Validate(context.Background(), h)
	}
	if n := f.total(); n != 0 {
		t.Fatalf("rejecting malformed headers made %d requests", n)
	}
	if _, _, err := v.Validate(context.Background(), "Bearer "+f.mint(t, f.userClaimsV2())); err != nil {
		t.Fatal(err)
	}
	if f.count("disco1") != 1 || f.count("disco2") != 1 || f.count("jwks1") != 1 || f.count("jwks2") != 1 {
		t.Fatalf("first use fetched %v, want each discovery document and key set once", f.counts)
	}
}

func TestNewValidatorRejectsBadOptions(t *testing.T) {
	f := newFakeEntra(t)
	tests := []struct {
		name string
		mod  func(*ValidatorOptions)
	}{
		{"http authority", func(o *ValidatorOptions) { o.AuthorityHost = "http://login.example/" }},
		{"authority with query", func(o *ValidatorOptions) { o.AuthorityHost = "https://login.example/?x=1" }},
		{"no tenant", func(o *ValidatorOptions) { o.TenantID = "" }},
		{"multi-tenant alias", func(o *ValidatorOptions) { o.TenantID = "common" }},
		{"tenant with a slash", func(o *ValidatorOptions) { o.TenantID = "a/b" }},
		{"no audiences", func(o *ValidatorOptions) { o.Audiences = nil }},
		{"empty audience", func(o *ValidatorOptions) { o.Audiences = []string{""} }},
		{"no scope", func(o *ValidatorOptions) { o.Scope = "" }},
		{"two scopes", func(o *ValidatorOptions) { o.Scope = "a b" }},
		{"app callers without a role", func(o *ValidatorOptions) { o.AppRole = "" }},
		{"empty app caller", func(o *ValidatorOptions) { o.AppCallers = []string{""} }},
		{"empty client application", func(o *ValidatorOptions) { o.ClientApps = []string{"c0ffee00-1111-4222-8333-444455556666", " "} }},
		{"negative leeway", func(o *ValidatorOptions) { o.Leeway = -time.Second }},
		{"leeway over 5 min", func(o *ValidatorOptions) { o.Leeway = 6 * time.Minute }},
		{"negative max token bytes", func(o *ValidatorOptions) { o.MaxTokenBytes = -1 }},
		{"unknown-kid interval below the floor", func(o *ValidatorOptions) { o.UnknownKIDRefreshInterval = time.Millisecond }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validatorOptions(f)
			tc.mod(&o)
			if v, err := NewValidator(o); err == nil {
				_ = v.Close()
				t.Fatal("accepted")
			}
		})
	}
}

// jwksFetches counts the fetches of both key sets (v2 and v1 JWKS URIs).
func jwksFetches(f *fakeEntra) int { return f.count("jwks1") + f.count("jwks2") }

// rotation is a validator in use (its keys fetched) whose unknown-kid refreshes run on a test
// clock, and the key Entra will roll over to, not yet published.
type rotation struct {
	f              *fakeEntra
	v              *Validator
	clock          *testClock
	oldKey, newKey *testKey
}

func newRotation(t *testing.T) *rotation {
	t.Helper()
	f := newFakeEntra(t)
	keys := testKeys(t, 2)
	r := &rotation{f: f, v: newTestValidator(t, f, nil), clock: newTestClock(), oldKey: keys[0], newKey: keys[1]}
	r.v.keysClock = r.clock.Now
	if _, _, err := r.v.Validate(context.Background(), r.bearer(t, r.oldKey, r.oldKey.kid)); err != nil {
		t.Fatal(err)
	}
	return r
}

// bearer is an Authorization header with a user token signed by key under kid.
func (r *rotation) bearer(t *testing.T, key *testKey, kid string) string {
	return "Bearer " + sign(t, key, kid, r.f.userClaimsV2())
}

func TestValidatorPicksUpRotatedKeyOnUnknownKID(t *testing.T) {
	r := newRotation(t)
	f, v, clock, oldKey, newKey := r.f, r.v, r.clock, r.oldKey, r.newKey
	rotated := r.bearer(t, newKey, newKey.kid)

	// Before Entra publishes the new key, a token signed with it is refused (after one refresh).
	before := jwksFetches(f)
	if _, _, err := v.Validate(context.Background(), rotated); errKind(err) != "invalid_token" || !strings.Contains(err.Error(), "signing key not found") {
		t.Fatalf("before rotation: %v", err)
	}
	if jwksFetches(f) == before {
		t.Fatal("the unknown kid did not trigger a refresh")
	}
	// Entra rolls over: both keys are published for a while.
	f.rotateTo(newKey)
	// Within the interval, no second refresh: still refused, at once.
	before = jwksFetches(f)
	if _, _, err := v.Validate(context.Background(), rotated); errKind(err) != "invalid_token" {
		t.Fatalf("within the interval: %v", err)
	}
	if jwksFetches(f) != before {
		t.Fatal("a second unknown-kid refresh within the interval")
	}
	clock.Add(DefaultUnknownKIDRefreshInterval)
	if _, _, err := v.Validate(context.Background(), rotated); err != nil {
		t.Fatalf("after rotation, one interval later: %v", err)
	}
	if _, _, err := v.Validate(context.Background(), r.bearer(t, oldKey, oldKey.kid)); err != nil {
		t.Fatalf("old key during overlap: %v", err)
	}
}

// An attacker sending made-up kids all the time spends every unknown-kid refresh the interval
// allows; a genuine emergency rollover must still be visible within the interval (a refresh
// fetches every published key, whoever triggered it), and Entra's key endpoint must still see only
// one fetch per interval. In fake time: the default interval, one minute, no real waiting.
func TestValidatorPicksUpRotationDuringUnknownKIDFlood(t *testing.T) {
	r := newRotation(t)
	f, v, clock, oldKey, newKey := r.f, r.v, r.clock, r.oldKey, r.newKey
	junk := func(i int) string { return r.bearer(t, oldKey, fmt.Sprintf("junk-kid-%d", i)) }
	rotated := r.bearer(t, newKey, newKey.kid)

	// The flood starts and spends the refresh budget; then Entra rolls its key over.
	if _, _, err := v.Validate(context.Background(), junk(0)); errKind(err) != "invalid_token" {
		t.Fatalf("junk kid: %v", err)
	}
	f.rotateTo(newKey)
	fetchesAtRotation := jwksFetches(f)

	const step, window, perStep = 5 * time.Second, time.Minute, 10
	var pickedUpAfter time.Duration = -1
	for elapsed := time.Duration(0); elapsed <= window; elapsed += step {
		// Every step the attacker comes first with a burst of made-up kids.
		for i := range perStep {
			if _, _, err := v.Validate(context.Background(), junk(int(elapsed/step)*perStep+i+1)); errKind(err) != "invalid_token" {
				t.Fatalf("junk kid at +%v: %v", elapsed, err)
			}
		}
		_, _, err := v.Validate(context.Background(), rotated)
		if err == nil && pickedUpAfter < 0 {
			pickedUpAfter = elapsed
		}
		if err != nil && pickedUpAfter >= 0 {
			t.Fatalf("the new key was accepted at +%v and refused at +%v: %v", pickedUpAfter, elapsed, err)
		}
		clock.Add(step)
	}
	if pickedUpAfter < 0 || pickedUpAfter > DefaultUnknownKIDRefreshInterval {
		t.Fatalf("during the flood the rotated key was not picked up within %v (picked up after %v; -1 = never in %v)",
			DefaultUnknownKIDRefreshInterval, pickedUpAfter, window)
	}
	// One refresh per interval, of each of the two key sets, for the whole flood.
	maxFetches := 2 * int(window/DefaultUnknownKIDRefreshInterval+1)
	if n := jwksFetches(f) - fetchesAtRotation; n > maxFetches {
		t.Fatalf("%d junk kids in %v caused %d JWKS fetches, want at most %d", window/step*perStep, window, n, maxFetches)
	}
}

// heldKeys is a transport that, once hold is called, keeps JWKS requests waiting until release.
type heldKeys struct {
	base    http.RoundTripper
	mu      sync.Mutex
	gate    chan struct{} // nil: not held
	entered chan struct{} // one value per held request
}

func (h *heldKeys) hold() {
	h.mu.Lock()
	h.gate, h.entered = make(chan struct{}), make(chan struct{}, 16)
	h.mu.Unlock()
}

func (h *heldKeys) release() { h.mu.Lock(); close(h.gate); h.mu.Unlock() }

func (h *heldKeys) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	gate, entered := h.gate, h.entered
	h.mu.Unlock()
	if gate != nil && strings.HasSuffix(r.URL.Path, "/keys") {
		entered <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return h.base.RoundTrip(r)
}

// Requests with a new kid that arrive while a refresh is under way wait for it instead of being
// refused: right after an emergency rollover every flow has a token signed with the new key.
func TestValidatorConcurrentUnknownKIDsShareOneRefresh(t *testing.T) {
	f := newFakeEntra(t)
	held := &heldKeys{base: f.Client().Transport}
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.HTTPClient = &http.Client{Transport: held} })
	v.keysClock = newTestClock().Now // never advances: one unknown-kid refresh in all
	keys := testKeys(t, 2)
	if _, _, err := v.Validate(context.Background(), "Bearer "+sign(t, keys[0], keys[0].kid, f.userClaimsV2())); err != nil {
		t.Fatal(err)
	}
	f.rotateTo(keys[1])
	before := jwksFetches(f)
	held.hold()

	const n = 20
	var wg, started sync.WaitGroup
	errs := make(chan error, n)
	validate := func() {
		defer wg.Done()
		started.Done()
		_, _, err := v.Validate(context.Background(), "Bearer "+sign(t, keys[1], keys[1].kid, f.userClaimsV2()))
		errs <- err
	}
	wg.Add(n)
	started.Add(n)
	go validate() // starts the refresh, which is held at Entra's key endpoint
	select {
	case <-held.entered:
	case <-t.Context().Done():
		t.Fatal("no refresh started")
	}
	for range n - 1 { // arrive while it is held
		go validate()
	}
	started.Wait()
	held.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a token signed with the new key: %v", err)
		}
	}
	if fetched := jwksFetches(f) - before; fetched < 1 || fetched > 2 {
		t.Fatalf("%d concurrent requests with the new kid caused %d JWKS fetches, want 1 or 2", n, fetched)
	}
}

func TestValidatorUnknownKIDFloodIsRateLimited(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil) // default interval
	v.keysClock = newTestClock().Now // never advances: the flood fits in one interval however slow the machine
	if _, _, err := v.Validate(context.Background(), "Bearer "+f.mint(t, f.userClaimsV2())); err != nil {
		t.Fatal(err)
	}
	before := jwksFetches(f)

	const flood = 100
	var wg sync.WaitGroup
	errs := make(chan error, flood)
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := sign(t, f.keys[0], fmt.Sprintf("junk-kid-%d", i), f.userClaimsV2())
			_, _, err := v.Validate(context.Background(), "Bearer "+tok)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if errKind(err) != "invalid_token" {
			t.Fatalf("junk kid: %v", err)
		}
	}
	// At most one refresh (of each of the two JWKS URIs) for the whole flood.
	if fetched := jwksFetches(f) - before; fetched > 2 {
		t.Fatalf("%d unknown-kid tokens caused %d JWKS fetches, want at most 2", flood, fetched)
	}
	// Known keys keep working while the budget is spent.
	if _, _, err := v.Validate(context.Background(), "Bearer "+f.mint(t, f.userClaimsV2())); err != nil {
		t.Fatal(err)
	}
}

func TestValidatorUnavailableOnFirstUseThenRecovers(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(f *fakeEntra, status int)
	}{
		{"discovery failing", func(f *fakeEntra, s int) { f.set(func(f *fakeEntra) { f.discoveryStatus = s }) }},
		{"keys failing", func(f *fakeEntra, s int) { f.set(func(f *fakeEntra) { f.jwksStatus = s }) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEntra(t)
			v := newTestValidator(t, f, nil)
			header := "Bearer " + f.mint(t, f.userClaimsV2())
			tc.break_(f, 503)

			_, _, err := v.Validate(context.Background(), header)
			if errKind(err) != "unavailable" {
				t.Fatalf("first use with Entra down: %v, want ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), header[7:]) {
				t.Fatal("error contains the token")
			}

			tc.break_(f, 0)
			ctx := untilDeadline(t)
			for {
				_, _, err = v.Validate(ctx, header)
				if err == nil {
					break
				}
				if errKind(err) != "unavailable" || ctx.Err() != nil {
					t.Fatalf("after recovery: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Once initialised, no more metadata fetches per request.
			n := f.total()
			for range 5 {
				if _, _, err := v.Validate(context.Background(), header); err != nil {
					t.Fatal(err)
				}
			}
			if f.total() != n {
				t.Fatalf("warm validations made %d requests", f.total()-n)
			}
		})
	}
}

func TestValidatorConcurrentFirstUseFetchesOnce(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	header := "Bearer " + f.mint(t, f.userClaimsV2())
	concurrently(t, 50, func(int) error {
		_, _, err := v.Validate(context.Background(), header)
		return err
	})()
	if f.count("disco2") != 1 || f.count("disco1") != 1 {
		t.Fatalf("50 concurrent first calls fetched discovery %d/%d times, want 1/1", f.count("disco2"), f.count("disco1"))
	}
}

func TestValidatorCallerCancelDoesNotBreakInitialisation(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	header := "Bearer " + f.mint(t, f.userClaimsV2())
	_, _, err := v.Validate(ctx, header)
	if err != nil && errKind(err) != "unavailable" {
		t.Fatalf("cancelled caller: %v", err)
	}
	if _, _, err := v.Validate(context.Background(), header); err != nil {
		t.Fatalf("next caller: %v", err)
	}
}

func TestValidatorClosedBeforeFirstUse(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	_ = v.Close()
	_, _, err := v.Validate(context.Background(), "Bearer "+f.mint(t, f.userClaimsV2()))
	if errKind(err) != "unavailable" {
		t.Fatalf("err = %v", err)
	}
	if f.total() != 0 {
		t.Fatal("closed validator fetched metadata")
	}
}

func TestParseBearerToken68(t *testing.T) {
	for s, want := range map[string]bool{
		"abc": true, "a-b.c_d~e+f/g": true, "abc==": true, "a=": true,
		"": false, "=": false, "a=b": false, "a b": false, "a\"b": false, "é": false,
	} {
		if got := isToken68(s); got != want {
			t.Errorf("isToken68(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidatorKeepsLastKnownKeysWhenRefreshFails(t *testing.T) {
	f := newFakeEntra(t)
	logs := &syncBuffer{}
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.Logger = zerolog.New(logs) })
	known := "Bearer " + f.mint(t, f.userClaimsV2())
	if _, _, err := v.Validate(context.Background(), known); err != nil {
		t.Fatal(err)
	}
	// Entra's key endpoint fails; an unknown kid triggers a refresh, which fails.
	f.set(func(f *fakeEntra) { f.jwksStatus = 500 })
	before := f.count("jwks1") + f.count("jwks2")
	stranger := testKeys(t, 2)[1]
	if _, _, err := v.Validate(context.Background(), "Bearer "+sign(t, stranger, stranger.kid, f.userClaimsV2())); errKind(err) != "invalid_token" {
		t.Fatalf("unknown kid: %v", err)
	}
	if f.count("jwks1")+f.count("jwks2") == before {
		t.Fatal("the unknown kid did not trigger a refresh")
	}
	// The keys fetched before are still used.
	if _, _, err := v.Validate(context.Background(), known); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}
	if !strings.Contains(logs.String(), "refreshing signing keys failed") {
		t.Errorf("refresh failure not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), known[7:]) {
		t.Error("logs contain a token")
	}
}
