package entra

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
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
		{name: "idtyp=app wins over a scp claim", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"scp": "user_impersonation", "roles": nil}))),
			wantKind: "forbidden:app_caller_not_allowed", wantReason: "lacks the app role"},
		{name: "app token for another audience", header: bearer(f.mint(t, with(f.appClaimsV2(), map[string]any{"aud": databricksApp}))), wantKind: "invalid_token", wantReason: "audience not accepted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, tok, err := v.Validate(context.Background(), tc.header)
			if got := errKind(err); got != tc.wantKind {
				t.Fatalf("kind = %s (%v), want %s", got, err, tc.wantKind)
			}
			if err != nil {
				if tc.wantReason != "" && !strings.Contains(err.Error(), tc.wantReason) {
					t.Errorf("error %q does not say %q", err, tc.wantReason)
				}
				if raw := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(tc.header, "Bearer"), "bearer")); len(raw) > 8 && strings.Contains(err.Error(), raw) {
					t.Errorf("error contains the token")
				}
				if tok != "" || p.Kind != 0 {
					t.Errorf("failed validation returned a principal/token")
				}
				return
			}
			if want := strings.TrimSpace(tc.header[len("Bearer"):]); tok.Reveal() != want {
				t.Errorf("returned token is not the bearer token")
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
	if strings.Contains(logs.String(), "eyJ") {
		t.Errorf("validator logs contain a token: %s", logs.String())
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

func TestValidatorPicksUpRotatedKeyOnUnknownKID(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.UnknownKIDRefreshInterval = MinUnknownKIDRefreshInterval })
	keys := testKeys(t, 2)
	oldKey, newKey := keys[0], keys[1]

	if _, _, err := v.Validate(context.Background(), "Bearer "+sign(t, oldKey, oldKey.kid, f.userClaimsV2())); err != nil {
		t.Fatal(err)
	}
	rotated := "Bearer " + sign(t, newKey, newKey.kid, f.userClaimsV2())

	// Before Entra publishes the new key, a token signed with it is refused (after one refresh).
	if _, _, err := v.Validate(context.Background(), rotated); errKind(err) != "invalid_token" || !strings.Contains(err.Error(), "signing key not found") {
		t.Fatalf("before rotation: %v", err)
	}
	// Entra rolls over: both keys are published for a while.
	f.setKeys([]*testKey{oldKey, newKey})
	if _, _, err := v.Validate(context.Background(), rotated); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if _, _, err := v.Validate(context.Background(), "Bearer "+sign(t, oldKey, oldKey.kid, f.userClaimsV2())); err != nil {
		t.Fatalf("old key during overlap: %v", err)
	}
}

func TestValidatorUnknownKIDFloodIsRateLimited(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil) // default: one unknown-kid refresh per 5 minutes
	if _, _, err := v.Validate(context.Background(), "Bearer "+f.mint(t, f.userClaimsV2())); err != nil {
		t.Fatal(err)
	}
	before := f.count("jwks1") + f.count("jwks2")

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
	if fetched := f.count("jwks1") + f.count("jwks2") - before; fetched > 2 {
		t.Fatalf("%d unknown-kid tokens caused %d JWKS fetches, want at most 2", flood, fetched)
	}
	// Known keys keep working while the limiter is exhausted.
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
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
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
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := v.Validate(context.Background(), header)
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
