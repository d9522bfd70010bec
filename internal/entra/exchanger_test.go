package entra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/secret"
	"github.com/flowbricks/flowbricks/internal/testsupport"
)

// testClock is a settable clock that starts at the real time (MSAL computes expiries from the
// real clock, so the cache's clock must start there too).
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock           { c := &testClock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *testClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = testsupport.Buffer

func exchangerOptions(f *fakeEntra) ExchangerOptions {
	return ExchangerOptions{
		AuthorityHost: f.URL() + "/",
		TenantID:      f.tenant,
		ClientID:      testAPIClient,
		Credential:    CredentialOptions{ClientSecret: testSecret},
		HTTPClient:    f.Client(),
	}
}

func newTestExchanger(t testing.TB, f *fakeEntra, mod func(*ExchangerOptions)) *Exchanger {
	t.Helper()
	o := exchangerOptions(f)
	if mod != nil {
		mod(&o)
	}
	e, err := NewExchanger(o)
	if err != nil {
		t.Fatalf("NewExchanger: %v", err)
	}
	return e
}

var alice = Principal{Kind: User, ObjectID: "11111111-2222-4333-8444-555555555555", TenantID: testTenant}

func TestTokenForExchangesOncePerIncomingToken(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	ctx := context.Background()
	a, b := userToken(t, f, 1), userToken(t, f, 2)

	first, exp, err := e.TokenFor(ctx, alice, a)
	if err != nil {
		t.Fatal(err)
	}
	if !f.issuedFor(first, a) {
		t.Fatalf("token %q not issued for the incoming token", first.Reveal())
	}
	if d := time.Until(exp); d < 55*time.Minute || d > 61*time.Minute {
		t.Errorf("expiry %v from now, want about 1h", d)
	}
	for range 3 {
		again, _, err := e.TokenFor(ctx, alice, a)
		if err != nil || again != first {
			t.Fatalf("repeat call: %v, same token %v", err, again == first)
		}
	}
	if n := f.count("token"); n != 1 {
		t.Fatalf("4 calls with one incoming token made %d token requests, want 1", n)
	}

	other, _, err := e.TokenFor(ctx, alice, b)
	if err != nil {
		t.Fatal(err)
	}
	if other == first || !f.issuedFor(other, b) {
		t.Fatal("a different incoming token got the other token's Databricks token")
	}
	if n := f.count("token"); n != 2 {
		t.Fatalf("token requests = %d, want 2", n)
	}

	// The OBO request, exactly as Entra documents it.
	form := f.forms()[0]
	for k, want := range map[string]string{
		"grant_type":          grantOBO,
		"requested_token_use": "on_behalf_of",
		"assertion":           a.Reveal(),
		"client_id":           testAPIClient,
		"client_secret":       testSecret,
	} {
		if got := form.Get(k); got != want {
			t.Errorf("form %s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(form.Get("scope"), azure.DatabricksScope) {
		t.Errorf("scope = %q", form.Get("scope"))
	}
	if form.Has("client_assertion") {
		t.Error("secret credential sent a client_assertion")
	}
	st := e.Stats()
	if st.Hits != 3 || st.Misses != 2 || st.Entries != 2 || st.Evictions != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTokenForRefreshesBeforeExpiry(t *testing.T) {
	f := newFakeEntra(t)
	clock := newTestClock()
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Now = clock.Now }) // RefreshBefore 5 min, tokens live 1 h
	a := userToken(t, f, 1)

	first, _, err := e.TokenFor(context.Background(), alice, a)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance   time.Duration
		wantPosts int
		wantNew   bool
		expiresIn int // lifetime of the tokens the fake issues from this step on
	}{
		{54 * time.Minute, 1, false, 3600}, // 6 min left: served from the cache
		{2 * time.Minute, 2, true, 3600},   // 4 min left: within RefreshBefore, exchanged again
		{2 * time.Hour, 3, true, 4 * 3600}, // long expired: never returned, exchanged again
		{10 * time.Minute, 3, false, 3600}, // fresh entry from the last step
	}
	prev := first
	for i, s := range steps {
		// MSAL derives expiries from the real clock, so the fake issues longer-lived tokens once
		// the test clock has run ahead of it.
		if err := f.fe.SetTokenTTL(time.Duration(s.expiresIn) * time.Second); err != nil {
			t.Fatal(err)
		}
		clock.Add(s.advance)
		got, exp, err := e.TokenFor(context.Background(), alice, a)
		if err != nil {
			t.Fatal(err)
		}
		if n := f.count("token"); n != s.wantPosts {
			t.Fatalf("step %d: token requests = %d, want %d", i, n, s.wantPosts)
		}
		if (got != prev) != s.wantNew {
			t.Fatalf("step %d: new token = %v, want %v", i, got != prev, s.wantNew)
		}
		if exp.Sub(clock.Now()) <= DefaultRefreshBefore && !s.wantNew {
			t.Fatalf("step %d: served a token with %v left", i, exp.Sub(clock.Now()))
		}
		prev = got
	}
}

func TestTokenForDoesNotCacheShortLivedTokens(t *testing.T) {
	f := newFakeEntra(t)
	clock := newTestClock()
	// Entra returns 1h tokens; with RefreshBefore = 2h they could never be served from the cache.
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Now = clock.Now; o.RefreshBefore = 2 * time.Hour })
	a := userToken(t, f, 1)
	for range 2 {
		if _, _, err := e.TokenFor(context.Background(), alice, a); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count("token"); n != 2 {
		t.Fatalf("token requests = %d, want 2 (nothing cached)", n)
	}
	if e.Stats().Entries != 0 {
		t.Fatal("cached a token that would never be served")
	}
}

func TestTokenForLRUEvicts(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.CacheSize = 2 })
	ctx := context.Background()
	a, b, c := userToken(t, f, 1), userToken(t, f, 2), userToken(t, f, 3)
	for _, tok := range []Token{a, b, c} { // c evicts a (least recently used)
		if _, _, err := e.TokenFor(ctx, alice, tok); err != nil {
			t.Fatal(err)
		}
	}
	if st := e.Stats(); st.Entries != 2 || st.Evictions != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if _, _, err := e.TokenFor(ctx, alice, c); err != nil { // still cached
		t.Fatal(err)
	}
	if n := f.count("token"); n != 3 {
		t.Fatalf("token requests = %d, want 3", n)
	}
	if _, _, err := e.TokenFor(ctx, alice, a); err != nil { // evicted: exchanged again
		t.Fatal(err)
	}
	if n := f.count("token"); n != 4 {
		t.Fatalf("token requests = %d, want 4", n)
	}
}

func TestTokenForCancelledCallerDoesNotCancelSharedExchange(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	a := userToken(t, f, 1)
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	f.set(func(f *fakeEntra) { f.block, f.entered = release, entered })

	// Caller 1 starts the exchange, then gives up while Entra is still answering.
	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { _, _, err := e.TokenFor(ctx1, alice, a); done1 <- err }()
	waitFor(t, entered)

	// Caller 2 arrives for the same token while the exchange is in flight.
	type res struct {
		tok Token
		err error
	}
	done2 := make(chan res, 1)
	go func() { tok, _, err := e.TokenFor(context.Background(), alice, a); done2 <- res{tok, err} }()

	cancel1()
	err1 := waitFor(t, done1)
	if !errors.Is(err1, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err1)
	}
	close(release)

	r2 := waitFor(t, done2)
	if r2.err != nil || !f.issuedFor(r2.tok, a) {
		t.Fatalf("second caller: %v", r2.err)
	}
	if f.count("token_cancelled") != 0 {
		t.Fatal("the cancelled caller cancelled the shared request to Entra")
	}
	if n := f.count("token"); n != 1 {
		t.Fatalf("token requests = %d, want 1", n)
	}
	// The exchange caller 1 started completed and was cached.
	if _, _, err := e.TokenFor(context.Background(), alice, a); err != nil || f.count("token") != 1 {
		t.Fatalf("after: %v, token requests %d", err, f.count("token"))
	}
}

func TestTokenForCancelledSoleCallerStillFillsCache(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	a := userToken(t, f, 1)
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	f.set(func(f *fakeEntra) { f.block, f.entered = release, entered })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := e.TokenFor(ctx, alice, a); done <- err }()
	waitFor(t, entered)
	cancel()
	if err := waitFor(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	close(release)
	// The detached exchange finishes and lands in the cache.
	eventually(t, "the abandoned exchange completed", func() bool { return e.Stats().Entries == 1 })
	if _, _, err := e.TokenFor(context.Background(), alice, a); err != nil || f.count("token") != 1 {
		t.Fatalf("after: %v, token requests %d", err, f.count("token"))
	}
}

func waitFor[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-untilDeadline(t).Done():
		t.Fatal("nothing arrived before the test's deadline")
		panic("unreachable")
	}
}

func TestTokenForWarmMissIsOnePost(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	if _, _, err := e.TokenFor(context.Background(), alice, userToken(t, f, 1)); err != nil {
		t.Fatal(err)
	}
	if f.count("disco2") != 1 {
		t.Fatalf("cold miss fetched discovery %d times", f.count("disco2"))
	}
	before := f.total()
	for i := 2; i <= 6; i++ {
		if _, _, err := e.TokenFor(context.Background(), alice, userToken(t, f, i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.total() - before; got != 5 || f.count("disco2") != 1 {
		t.Fatalf("5 warm misses made %d requests (%v), want exactly 5 token POSTs", got, f.counts)
	}
}

func TestTokenForAppPrincipalUsesClientCredentials(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	app := Principal{Kind: App, ObjectID: "99999999-8888-4777-8666-555555555555", AppID: testAppCaller, TenantID: testTenant}
	var first Token
	for i := range 3 {
		tok, exp, err := e.TokenFor(context.Background(), app, "ignored-incoming-token")
		if err != nil {
			t.Fatal(err)
		}
		if !f.isAppToken(tok) || time.Until(exp) < 50*time.Minute {
			t.Fatalf("token %q exp %v", tok.Reveal(), exp)
		}
		if i == 0 {
			first = tok
		} else if tok != first {
			t.Fatal("app token not reused")
		}
	}
	if n := f.count("token"); n != 1 {
		t.Fatalf("token requests = %d, want 1 (azidentity caches app tokens)", n)
	}
	form := f.forms()[0]
	if form.Get("grant_type") != "client_credentials" || !strings.HasPrefix(form.Get("scope"), azure.DatabricksScope) || form.Has("assertion") || form.Get("client_secret") != testSecret {
		t.Fatalf("client credentials form: grant_type=%q scope=%q assertion=%v", form.Get("grant_type"), form.Get("scope"), form.Has("assertion"))
	}
}

func redactForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		for _, s := range vs {
			if len(s) > 24 {
				s = s[:8] + "…"
			}
			out.Add(k, s)
		}
	}
	return out
}

func TestTokenForRejectsUnusablePrincipals(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	if _, _, err := e.TokenFor(context.Background(), Principal{}, "tok"); err == nil {
		t.Error("principal without kind accepted")
	}
	var xe *ExchangeError
	if _, _, err := e.TokenFor(context.Background(), alice, ""); !errors.As(err, &xe) || xe.Kind != InvalidAssertion {
		t.Errorf("empty incoming token: %v", err)
	}
	if f.total() != 0 {
		t.Fatal("rejected principals reached Entra")
	}
}

// ---- errors ---------------------------------------------------------------------------------

func TestTokenForClassifiesEntraErrors(t *testing.T) {
	claims := `{"access_token":{"capolids":{"essential":true,"values":["c1a2b3c4-0000-4000-8000-000000000001"]}}}`
	tests := []struct {
		name        string
		respond     *scripted
		wantKind    ExchangeErrorKind
		wantAADSTS  string
		wantClaims  string
		wantRetry   time.Duration
		wantPosts   int
		wantInDescr string
		is          error
	}{
		{name: "consent missing", respond: entraError(400, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+testAPIClient+"' named 'flowbricks'.", map[string]any{"suberror": "consent_required"}),
			wantKind: ConsentRequired, wantAADSTS: "AADSTS65001", wantPosts: 1, wantInDescr: "has not consented"},
		{name: "MFA required (claims challenge)", respond: entraError(400, "interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.", map[string]any{"suberror": "basic_action", "claims": claims}),
			wantKind: InteractionRequired, wantAADSTS: "AADSTS50076", wantClaims: claims, wantPosts: 1},
		{name: "MFA enrolment (50079)", respond: entraError(400, "interaction_required", 50079, "Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.", nil),
			wantKind: InteractionRequired, wantAADSTS: "AADSTS50079", wantPosts: 1},
		{name: "any response with claims", respond: entraError(400, "invalid_grant", 53000, "Device is not in required device state.", map[string]any{"claims": claims}),
			wantKind: InteractionRequired, wantAADSTS: "AADSTS53000", wantClaims: claims, wantPosts: 1},
		{name: "user assertion invalid", respond: entraError(400, "invalid_grant", 50013, "Assertion failed signature validation.", nil),
			wantKind: InvalidAssertion, wantAADSTS: "AADSTS50013", wantPosts: 1, is: ErrInvalidToken},
		{name: "user assertion expired", respond: entraError(400, "invalid_grant", 500133, "Assertion is not within its valid time range.", nil),
			wantKind: InvalidAssertion, wantAADSTS: "AADSTS500133", wantPosts: 1, is: ErrInvalidToken},
		{name: "bad client secret", respond: entraError(401, "invalid_client", 7000215, "Invalid client secret provided.", nil),
			wantKind: Misconfigured, wantAADSTS: "AADSTS7000215", wantPosts: 1},
		{name: "bad client assertion", respond: entraError(401, "invalid_client", 7000222, "The provided client secret keys for app are expired.", nil),
			wantKind: Misconfigured, wantAADSTS: "AADSTS7000222", wantPosts: 1},
		{name: "app not found", respond: entraError(400, "unauthorized_client", 700016, "Application with identifier was not found in the directory.", nil),
			wantKind: Misconfigured, wantAADSTS: "AADSTS700016", wantPosts: 1},
		{name: "app may not do app OBO", respond: entraError(400, "invalid_grant", 7000114, "Application isn't allowed to make application on-behalf-of calls.", nil),
			wantKind: Misconfigured, wantAADSTS: "AADSTS7000114", wantPosts: 1},
		{name: "unexpected 4xx, not JSON", respond: &scripted{status: 403, body: "<html>blocked by proxy</html>"},
			wantKind: Misconfigured, wantPosts: 1, wantInDescr: "HTTP 403"},
		{name: "temporarily unavailable with Retry-After", respond: func() *scripted {
			s := entraError(503, "temporarily_unavailable", 90024, "Request budget exceeded.", nil)
			s.header = map[string]string{"Retry-After": "30"}
			return s
		}(), wantKind: Unavailable, wantAADSTS: "AADSTS90024", wantRetry: 30 * time.Second, wantPosts: 1, is: ErrUnavailable}, // Retry-After beyond MaxRetryDelay: not slept on
		{name: "throttled", respond: &scripted{status: 429, header: map[string]string{"Retry-After": "7"}, body: map[string]any{"error": "too_many_requests"}},
			wantKind: Unavailable, wantRetry: 7 * time.Second, wantPosts: 1, is: ErrUnavailable},
		{name: "server error (retried once)", respond: &scripted{status: 500, body: map[string]any{"error": "server_error", "error_codes": []int{50000}}},
			wantKind: Unavailable, wantAADSTS: "AADSTS50000", wantRetry: defaultRetryAfter, wantPosts: 2, is: ErrUnavailable},
		{name: "transient AADSTS code in a 400", respond: entraError(400, "invalid_request", 50033, "A transient error has occurred. Please try again.", nil),
			wantKind: Unavailable, wantAADSTS: "AADSTS50033", wantRetry: defaultRetryAfter, wantPosts: 1},
		{name: "token response MSAL cannot use (lifetime under 5 min)", respond: &scripted{status: 200, body: map[string]any{"token_type": "Bearer", "expires_in": 240, "access_token": "dbx-short-lived"}},
			wantKind: Misconfigured, wantPosts: 1, wantInDescr: "expired"},
		{name: "token response without access_token", respond: &scripted{status: 200, body: map[string]any{"token_type": "Bearer", "expires_in": 3600}},
			wantKind: Misconfigured, wantPosts: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEntra(t)
			logs := &syncBuffer{}
			e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Logger = zerolog.New(logs).Level(zerolog.DebugLevel) })
			a := userToken(t, f, 1)
			f.set(func(f *fakeEntra) { f.respond = func(url.Values) *scripted { return tc.respond } })

			_, _, err := e.TokenFor(context.Background(), alice, a)
			var xe *ExchangeError
			if !errors.As(err, &xe) {
				t.Fatalf("err = %v, want *ExchangeError", err)
			}
			if xe.Kind != tc.wantKind || xe.AADSTS != tc.wantAADSTS || xe.Claims != tc.wantClaims {
				t.Fatalf("got kind=%v aadsts=%q claims=%q, want %v %q %q (%v)", xe.Kind, xe.AADSTS, xe.Claims, tc.wantKind, tc.wantAADSTS, tc.wantClaims, err)
			}
			if tc.wantRetry != 0 && xe.RetryAfter != tc.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", xe.RetryAfter, tc.wantRetry)
			}
			if tc.wantInDescr != "" && !strings.Contains(xe.Description, tc.wantInDescr) {
				t.Errorf("description %q lacks %q", xe.Description, tc.wantInDescr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(err, %v) = false", tc.is)
			}
			if strings.Contains(xe.Description, "\n") || strings.Contains(xe.Description, "\r") {
				t.Errorf("description is not one line: %q", xe.Description)
			}
			if n := f.count("token"); n != tc.wantPosts {
				t.Errorf("token requests = %d, want %d", n, tc.wantPosts)
			}
			if e.Stats().Entries != 0 {
				t.Error("a failed exchange was cached")
			}
			assertNoSecrets(t, err, logs.String(), a.Reveal(), testSecret, "dbx-short-lived")
		})
	}
}

func TestTokenForRedactsSecretsEchoedByEntra(t *testing.T) {
	f := newFakeEntra(t)
	logs := &syncBuffer{}
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Logger = zerolog.New(logs).Level(zerolog.DebugLevel) })
	a := userToken(t, f, 1)
	// A pathological (or hostile) upstream that echoes the request into the error.
	f.set(func(f *fakeEntra) {
		f.respond = func(form url.Values) *scripted {
			return &scripted{status: 400, body: map[string]any{
				"error":             "invalid_grant",
				"error_description": "AADSTS50013: assertion " + form.Get("assertion") + " with secret " + form.Get("client_secret") + " rejected",
				"error_codes":       []int{50013},
				"claims":            `{"echo":"` + form.Get("assertion") + `"}`,
			}}
		}
	})
	_, _, err := e.TokenFor(context.Background(), alice, a)
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Kind != InvalidAssertion {
		t.Fatalf("err = %v", err)
	}
	assertNoSecrets(t, err, logs.String(), a.Reveal(), testSecret)
	if xe.Claims != `{"echo":"`+secret.Redacted+`"}` {
		t.Errorf("claims = %q", xe.Claims)
	}
	if !strings.Contains(logs.String(), "AADSTS50013") {
		t.Error("the failure was not logged")
	}
}

func TestTokenForNetworkErrorIsUnavailable(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	a := userToken(t, f, 1)
	f.srv.Close() // Entra unreachable
	_, _, err := e.TokenFor(context.Background(), alice, a)
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Kind != Unavailable || xe.RetryAfter <= 0 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	assertNoSecrets(t, err, "", a.Reveal(), testSecret)
}

func TestTokenForExchangeTimeoutIsUnavailable(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.ExchangeTimeout = 200 * time.Millisecond })
	release := make(chan struct{})
	f.set(func(f *fakeEntra) { f.block = release })
	defer close(release)
	_, _, err := e.TokenFor(context.Background(), alice, userToken(t, f, 1))
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Kind != Unavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func assertNoSecrets(t *testing.T, err error, logs string, secrets ...string) {
	t.Helper()
	texts := map[string]string{"err.Error()": err.Error(), "%+v": fmt.Sprintf("%+v", err), "%#v": fmt.Sprintf("%#v", err), "logs": logs}
	var xe *ExchangeError
	if errors.As(err, &xe) {
		texts["Description"], texts["Claims"] = xe.Description, xe.Claims
	}
	for where, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s contains a secret (%.12s…)", where, s)
			}
		}
	}
}

// ---- credential kinds --------------------------------------------------------------------

func writeCertPEM(t *testing.T, key any, pub any) (string, *x509.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "flowbricks"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cert.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, cert
}

func TestTokenForWithCertificateSendsSignedClientAssertion(t *testing.T) {
	key := testKeys(t, 3)[2].priv
	path, cert := writeCertPEM(t, key, &key.PublicKey)
	f := newFakeEntra(t, func(c *fakeentra.Config) {
		c.API.ClientSecret = "" // only the certificate is registered
		c.API.CertificatesPEM = []string{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))}
	})
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Credential = CredentialOptions{CertificatePath: path} })

	a := userToken(t, f, 1)
	tok, _, err := e.TokenFor(context.Background(), alice, a)
	if err != nil || !f.issuedFor(tok, a) {
		t.Fatalf("OBO with certificate: %v", err)
	}
	app, _, err := e.TokenFor(context.Background(), Principal{Kind: App, AppID: testAppCaller}, "")
	if err != nil || !f.isAppToken(app) {
		t.Fatalf("client credentials with certificate: %v", err)
	}
	if n := f.fe.Stats().ClientAuthentications[fakeentra.ClientAuthCertificate]; n != 2 {
		t.Fatalf("the fake verified %d certificate assertions, want 2", n)
	}
	for i, form := range f.forms() {
		if form.Get("client_assertion_type") != assertionType || form.Has("client_secret") {
			t.Fatalf("request %d: %v", i, redactForm(form))
		}
		// the fake verified it; check the shape too: PS256 with an x5t#S256 thumbprint
		parsed, _, err := jwt.NewParser().ParseUnverified(form.Get("client_assertion"), jwt.MapClaims{})
		if err != nil || parsed.Method.Alg() != "PS256" || parsed.Header["x5t#S256"] == nil {
			t.Fatalf("request %d: client assertion header %v (%v)", i, parsed.Header, err)
		}
	}
}

// managedIdentity registers a user-assigned managed identity with the fake, federated with the
// flowbricks API registration. Its client id is new for every test: MSAL caches managed identity
// tokens process-wide per client id.
func managedIdentity(prefix string) (clientID string, mod func(*fakeentra.Config)) {
	n := time.Now().UnixNano() % 1e12
	clientID = fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n)
	objectID := fmt.Sprintf("0b1ec700-0000-4000-8000-%012d", n)
	return clientID, func(c *fakeentra.Config) {
		c.API.ClientSecret = "" // the federated credential is the registration's only credential
		c.API.FederatedSubjects = []string{objectID}
		c.ManagedIdentities = []fakeentra.ManagedIdentity{{ClientID: clientID, ObjectID: objectID}}
	}
}

func TestTokenForWithManagedIdentityFederatedCredential(t *testing.T) {
	miClientID, mod := managedIdentity("5eed0000")
	f := newFakeEntra(t, mod)
	t.Setenv("IDENTITY_ENDPOINT", f.URL()+"/msi/token")
	t.Setenv("IDENTITY_HEADER", f.miHeader)

	logs := &syncBuffer{}
	e := newTestExchanger(t, f, func(o *ExchangerOptions) {
		o.Credential = CredentialOptions{ManagedIdentityClientID: miClientID}
		o.Logger = zerolog.New(logs).Level(zerolog.DebugLevel)
	})
	if f.total() != 0 {
		t.Fatal("NewExchanger called the managed identity endpoint")
	}
	a, b := userToken(t, f, 1), userToken(t, f, 2)
	for _, in := range []Token{a, b} {
		tok, _, err := e.TokenFor(context.Background(), alice, in)
		if err != nil || !f.issuedFor(tok, in) {
			t.Fatalf("OBO with managed identity assertion: %v", err)
		}
	}
	if _, _, err := e.TokenFor(context.Background(), Principal{Kind: App, AppID: testAppCaller}, ""); err != nil {
		t.Fatalf("client credentials with managed identity assertion: %v", err)
	}
	forms := f.forms()
	miToken := forms[0].Get("client_assertion")
	if _, err := f.fe.Verify(miToken, fakeentra.TokenExchangeAudience); err != nil {
		t.Fatalf("the client assertion is not the managed identity's token for the exchange audience: %v", err)
	}
	for i, form := range forms {
		if form.Get("client_assertion_type") != assertionType || form.Get("client_assertion") != miToken || form.Has("client_secret") {
			t.Fatalf("request %d: %v", i, redactForm(form))
		}
	}
	if n := f.fe.Stats().ClientAuthentications[fakeentra.ClientAuthFederated]; n != 3 {
		t.Errorf("the fake accepted %d federated credentials, want 3", n)
	}
	if n := f.count("msi"); n != 1 {
		t.Errorf("managed identity endpoint called %d times for 3 exchanges, want 1 (token cached)", n)
	}
	f.mu.Lock()
	msi := f.msiRequests[0]
	f.mu.Unlock()
	q := msi.URL.Query()
	if q.Get("api-version") != "2019-08-01" || q.Get("resource") != "api://AzureADTokenExchange" || q.Get("client_id") != miClientID || msi.Header.Get("X-IDENTITY-HEADER") != f.miHeader {
		t.Errorf("managed identity request %s headers %v", msi.URL, msi.Header)
	}
	if strings.Contains(logs.String(), miToken) {
		t.Error("logs contain the managed identity token")
	}
}

func TestTokenForManagedIdentityFailures(t *testing.T) {
	tests := []struct {
		name       string
		registered bool // the identity is one the endpoint knows
		status     int  // injected answer of the endpoint; 0 = the fake's own
		wantKind   ExchangeErrorKind
	}{
		{"identity not assigned", false, 0, Misconfigured}, // the endpoint's own 400
		{"endpoint failing", true, 500, Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			miClientID, mod := managedIdentity("bad00000")
			if !tc.registered {
				_, mod = managedIdentity("0ther000") // the fake knows another identity only
			}
			f := newFakeEntra(t, mod)
			f.set(func(f *fakeEntra) { f.miStatus = tc.status })
			t.Setenv("IDENTITY_ENDPOINT", f.URL()+"/msi/token")
			t.Setenv("IDENTITY_HEADER", f.miHeader)
			e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Credential = CredentialOptions{ManagedIdentityClientID: miClientID} })
			a := userToken(t, f, 1)
			_, _, err := e.TokenFor(context.Background(), alice, a)
			var xe *ExchangeError
			if !errors.As(err, &xe) || xe.Kind != tc.wantKind || !strings.Contains(xe.Description, "managed identity") {
				t.Fatalf("err = %v, want kind %v", err, tc.wantKind)
			}
			if f.count("token") != 0 {
				t.Error("token endpoint called without a client assertion")
			}
			assertNoSecrets(t, err, "", a.Reveal())
		})
	}
}

func TestNewExchangerRejectsBadOptions(t *testing.T) {
	f := newFakeEntra(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPath, _ := writeCertPEM(t, ec, &ec.PublicKey)
	rsaKey := testKeys(t, 3)[2].priv
	rsaPath, _ := writeCertPEM(t, rsaKey, &rsaKey.PublicKey)
	tests := []struct {
		name string
		mod  func(*ExchangerOptions)
	}{
		{"no credential", func(o *ExchangerOptions) { o.Credential = CredentialOptions{} }},
		{"two credentials", func(o *ExchangerOptions) { o.Credential.CertificatePath = rsaPath }},
		{"password without certificate", func(o *ExchangerOptions) { o.Credential.CertificatePassword = "pw" }},
		{"missing certificate file", func(o *ExchangerOptions) {
			o.Credential = CredentialOptions{CertificatePath: filepath.Join(t.TempDir(), "nope.pem")}
		}},
		{"certificate with an EC key", func(o *ExchangerOptions) { o.Credential = CredentialOptions{CertificatePath: ecPath} }},
		{"http authority", func(o *ExchangerOptions) { o.AuthorityHost = "http://127.0.0.1:1/" }},
		{"bad tenant", func(o *ExchangerOptions) { o.TenantID = "organizations" }},
		{"no client id", func(o *ExchangerOptions) { o.ClientID = "" }},
		{"negative cache size", func(o *ExchangerOptions) { o.CacheSize = -1 }},
		{"negative refresh-before", func(o *ExchangerOptions) { o.RefreshBefore = -time.Second }},
		{"negative caller exchanges per minute", func(o *ExchangerOptions) { o.CallerExchangesPerMinute = -1 }},
		{"negative caller burst", func(o *ExchangerOptions) { o.CallerBurst = -1 }},
		{"negative caller cache entries", func(o *ExchangerOptions) { o.CallerCacheEntries = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := exchangerOptions(f)
			tc.mod(&o)
			_, err := NewExchanger(o)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("error contains the client secret")
			}
		})
	}
	if f.total() != 0 {
		t.Fatal("NewExchanger made network calls")
	}
}

func TestNewExchangerMakesNoNetworkCalls(t *testing.T) {
	f := newFakeEntra(t)
	key := testKeys(t, 3)[2].priv
	path, _ := writeCertPEM(t, key, &key.PublicKey)
	for _, c := range []CredentialOptions{{ClientSecret: testSecret}, {CertificatePath: path}} {
		if _, err := NewExchanger(ExchangerOptions{AuthorityHost: f.URL(), TenantID: f.tenant, ClientID: testAPIClient, Credential: c, HTTPClient: f.Client()}); err != nil {
			t.Fatal(err)
		}
	}
	if f.total() != 0 {
		t.Fatalf("construction made %d requests", f.total())
	}
}

func TestInstanceDiscoveryOnlyForMicrosoftHosts(t *testing.T) {
	for host, want := range map[string]bool{
		"https://login.microsoftonline.com/":      true,
		"https://login.microsoftonline.us/":       true,
		"https://login.chinacloudapi.cn/":         true,
		"https://LOGIN.MICROSOFT.COM/":            true,
		"https://127.0.0.1:8443/":                 false,
		"https://login.microsoftonline.com:8443/": false,
		"https://login.example.com/":              false,
	} {
		if got := isMicrosoftAuthorityHost(host); got != want {
			t.Errorf("%s: %v, want %v", host, got, want)
		}
	}
	for host, want := range map[string]string{
		"https://login.microsoftonline.com/": "api://AzureADTokenExchange",
		"https://login.microsoftonline.us/":  "api://AzureADTokenExchangeUSGov",
		"https://login.chinacloudapi.cn/":    "api://AzureADTokenExchangeChina",
		"https://127.0.0.1:8443/":            "api://AzureADTokenExchange",
	} {
		if got := federatedTokenAudience(host); got != want {
			t.Errorf("%s: %s, want %s", host, got, want)
		}
	}
}

func TestTokenForAppPrincipalErrors(t *testing.T) {
	f := newFakeEntra(t)
	logs := &syncBuffer{}
	const wrongSecret = "not~the-Secret.registered_for-the-API"
	e := newTestExchanger(t, f, func(o *ExchangerOptions) {
		o.Logger = zerolog.New(logs)
		o.Credential = CredentialOptions{ClientSecret: wrongSecret}
	})
	_, _, err := e.TokenFor(context.Background(), Principal{Kind: App, AppID: testAppCaller}, "")
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Kind != Misconfigured || xe.AADSTS != "AADSTS7000215" {
		t.Fatalf("err = %v", err)
	}
	assertNoSecrets(t, err, logs.String(), wrongSecret)
	if !strings.Contains(logs.String(), testAppCaller) {
		t.Error("the failing app caller is not in the log")
	}
}

// Entra's Retry-After goes through the one parser (internal/retryafter) with Entra's bounds: at
// least a second, at most maxRetryAfter, defaultRetryAfter when absent or unreadable.
func TestRetryAfterBounds(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"":                              defaultRetryAfter,
		"12":                            12 * time.Second,
		"0":                             time.Second,
		"-3":                            defaultRetryAfter,
		"86400":                         maxRetryAfter,
		"soon":                          defaultRetryAfter,
		"Wed, 21 Oct 2015 07:28:00 GMT": time.Second, // in the past: retry now
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}
