package entra

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The validated-token cache (docs/security.md, "Validated-token cache"): each rule, and the test
// that shows it. TestValidate and TestValidateClientApps also validate every header of their
// tables twice and require the same answer both times.

// cacheClock is a validator clock at testNow that a test can move, both ways.
func cacheClock() *testClock {
	c := &testClock{}
	c.ns.Store(testNow.UnixNano())
	return c
}

func bearer(tok string) string { return "Bearer " + tok }

func TestValidatedTokenIsServedFromTheCache(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	tok := f.mint(t, f.userClaimsV2())

	first, _, err := v.Validate(context.Background(), bearer(tok))
	if err != nil {
		t.Fatal(err)
	}
	hits := v.tokens.hits.Load()
	again, got, err := v.Validate(context.Background(), bearer(tok))
	if err != nil {
		t.Fatal(err)
	}
	if v.tokens.hits.Load() != hits+1 {
		t.Fatal("the second use of a validated token was not a cache hit")
	}
	if fmt.Sprintf("%+v", again) != fmt.Sprintf("%+v", first) || got.Reveal() != tok {
		t.Errorf("a hit returned\n%+v\nnot the principal of the first use\n%+v (or another token)", again, first)
	}
}

// A token differing from a cached one in any byte has another key: a miss, validated in full.
func TestTamperedCopyOfACachedTokenMissesAndFails(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	tok := f.mint(t, f.userClaimsV2())
	if _, _, err := v.Validate(context.Background(), bearer(tok)); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	header, payload, sig := parts[0], parts[1], parts[2]
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	tests := []struct {
		name, token, wantReason string
	}{
		{"a byte of the header", flip(header, 5) + "." + payload + "." + sig, ""},
		{"a byte of the claims", header + "." + flip(payload, len(payload)/2) + "." + sig, ""},
		{"a byte of the signature", header + "." + payload + "." + flip(sig, len(sig)/2), "signature invalid"},
		{"one byte more", tok + "A", ""},
		{"one byte less", tok[:len(tok)-1], ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			misses := v.tokens.misses.Load()
			_, _, err := v.Validate(context.Background(), bearer(tc.token))
			if errKind(err) != "invalid_token" || !strings.Contains(err.Error(), tc.wantReason) {
				t.Fatalf("err = %v, want invalid_token %q", err, tc.wantReason)
			}
			if v.tokens.misses.Load() != misses+1 {
				t.Error("the tampered token was not a cache miss")
			}
		})
	}
	if n := v.tokens.len(); n != 1 {
		t.Errorf("cache entries = %d, want 1 (the genuine token only)", n)
	}
}

// Time moves on while a token is cached: every use checks exp, nbf and iat again with the leeway,
// and a hit answers exactly as a fresh validation at that instant — in both directions of the
// clock. fresh forgets every token before each use, so it always validates in full.
func TestCachedTokenLifetimeIsCheckedOnEveryUse(t *testing.T) {
	f := newFakeEntra(t)
	clock := cacheClock()
	cached := newTestValidator(t, f, func(o *ValidatorOptions) { o.Now = clock.Now })
	fresh := newTestValidator(t, f, func(o *ValidatorOptions) { o.Now = clock.Now })
	iat, exp := testNow.Add(-5*time.Minute), testNow.Add(time.Hour)
	tok := bearer(f.mint(t, f.userClaimsV2())) // iat = nbf = testNow - 5 min, exp = testNow + 1 h

	tests := []struct {
		name     string
		at       time.Time
		wantKind string
		reason   string
	}{
		{"within the lifetime", testNow, "ok", ""},
		{"just before exp + leeway", exp.Add(DefaultLeeway - time.Second), "ok", ""},
		{"at exp + leeway", exp.Add(DefaultLeeway), "invalid_token", "token expired"},
		{"a day after exp", exp.Add(24 * time.Hour), "invalid_token", "token expired"},
		{"at nbf - leeway (clock set back)", iat.Add(-DefaultLeeway), "ok", ""},
		{"before nbf - leeway (clock set back)", iat.Add(-DefaultLeeway - time.Second), "invalid_token", "not valid yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.ns.Store(testNow.UnixNano())
			if _, _, err := cached.Validate(context.Background(), tok); err != nil { // cache it
				t.Fatal(err)
			}
			clock.ns.Store(tc.at.UnixNano())
			_, _, got := cached.Validate(context.Background(), tok)
			fresh.tokens.lru.Purge()
			_, _, want := fresh.Validate(context.Background(), tok)
			if errKind(got) != tc.wantKind || !strings.Contains(fmt.Sprint(got), tc.reason) {
				t.Fatalf("cached token at %v: %v, want %s %q", tc.at.Sub(testNow), got, tc.wantKind, tc.reason)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("cached token answered %v, a fresh validation %v", got, want)
			}
			if tc.wantKind != "ok" && cached.tokens.len() != 0 {
				t.Error("a token that failed its lifetime check is still cached")
			}
		})
	}
}

// A token signed with a key Entra no longer publishes is refused, cached or not: the key refresh
// that drops the key drops its entries. A key still published during a rollover keeps them.
func TestCachedTokenOfAWithdrawnKeyIsRefused(t *testing.T) {
	r := newRotation(t) // validator in use with keys[0]; unknown-kid refreshes on r.clock
	f, v := r.f, r.v
	keys := testKeys(t, 3)
	old := r.bearer(t, keys[0], keys[0].kid)
	if _, _, err := v.Validate(context.Background(), old); err != nil {
		t.Fatal(err)
	}

	// Rollover: keys[1] signs, keys[0] stays published. A token with the new kid refreshes the set.
	f.rotateTo(keys[1])
	r.clock.Add(DefaultUnknownKIDRefreshInterval)
	if _, _, err := v.Validate(context.Background(), r.bearer(t, keys[1], keys[1].kid)); err != nil {
		t.Fatal(err)
	}
	hits := v.tokens.hits.Load()
	if _, _, err := v.Validate(context.Background(), old); err != nil || v.tokens.hits.Load() != hits+1 {
		t.Fatalf("during the overlap the cached token of the old key: %v (hit: %v), want a hit", err, v.tokens.hits.Load() != hits)
	}

	// Next rollover: keys[2] signs, keys[1] stays, keys[0] is withdrawn. A made-up kid refreshes
	// every JWKS URI (a refresh for a kid that one URI has stops there, and keys[0] would still
	// verify through the other URI's set, cached or not).
	f.rotateTo(keys[2])
	r.clock.Add(DefaultUnknownKIDRefreshInterval)
	if _, _, err := v.Validate(context.Background(), r.bearer(t, keys[2], "made-up-kid")); errKind(err) != "invalid_token" {
		t.Fatal(err)
	}
	if v.tokens.keyEvictions.Load() != 1 {
		t.Errorf("key evictions = %d, want 1 (the old key's token)", v.tokens.keyEvictions.Load())
	}
	_, _, err := v.Validate(context.Background(), old)
	if errKind(err) != "invalid_token" || !strings.Contains(err.Error(), "signing key not found") {
		t.Fatalf("cached token of the withdrawn key: %v, want invalid_token (signing key not found)", err)
	}
}

// The refresh that withdraws a key can finish while a validation with that key is under way; the
// entry that validation would store must not outlive the key.
func TestNoEntryOfAWithdrawnKeyIsStoredAfterTheRefresh(t *testing.T) {
	c, err := newValidatedTokens(4)
	if err != nil {
		t.Fatal(err)
	}
	ent := func(kid string) *validatedToken {
		return &validatedToken{principal: Principal{Kind: User, ObjectID: aliceOID}, kid: kid}
	}
	c.keysChanged(map[string]struct{}{"k1": {}, "k2": {}})
	c.add([32]byte{1}, ent("k1"))
	c.add([32]byte{2}, ent("k2"))
	c.keysChanged(map[string]struct{}{"k2": {}}) // k1 withdrawn
	c.add([32]byte{3}, ent("k1"))                // a validation with k1 that ended after the refresh
	if _, ok := c.get([32]byte{1}); ok {
		t.Error("the entry of the withdrawn key survived the refresh")
	}
	if _, ok := c.get([32]byte{3}); ok {
		t.Error("an entry of the withdrawn key was stored after the refresh")
	}
	if _, ok := c.get([32]byte{2}); !ok {
		t.Error("the entry of a key still published was dropped")
	}
}

// Only a token that passed every check is cached: refused tokens are validated in full each time.
func TestRefusedTokensAreNeverCached(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	stranger := testKeys(t, 2)[1]
	tests := []struct {
		name, token, wantKind string
	}{
		{"signed by an unknown key", sign(t, stranger, stranger.kid, f.userClaimsV2()), "invalid_token"},
		{"signed with the tenant's kid by another key", sign(t, stranger, f.keys[0].kid, f.userClaimsV2()), "invalid_token"},
		{"expired", f.mint(t, with(f.userClaimsV2(), map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), "invalid_token"},
		{"another audience", f.mint(t, with(f.userClaimsV2(), map[string]any{"aud": databricksApp})), "invalid_token"},
		{"another tenant", f.mint(t, with(f.userClaimsV2(), map[string]any{"tid": otherTenant})), "invalid_token"},
		{"without the scope (signature and claims fine)", f.mint(t, with(f.userClaimsV2(), map[string]any{"scp": "other"})), "forbidden:insufficient_scope"},
		{"app without the role", f.mint(t, with(f.appClaimsV2(), map[string]any{"roles": []string{"Other"}})), "forbidden:app_caller_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				hits := v.tokens.hits.Load()
				_, _, err := v.Validate(context.Background(), bearer(tc.token))
				if errKind(err) != tc.wantKind {
					t.Fatalf("err = %v, want %s", err, tc.wantKind)
				}
				if v.tokens.hits.Load() != hits {
					t.Fatal("a refused token was served from the cache")
				}
			}
			if n := v.tokens.len(); n != 0 {
				t.Fatalf("%d refused tokens cached", n)
			}
		})
	}
}

// The cache holds at most TokenCacheSize tokens; an evicted token is validated in full again and
// every answer stays the right principal.
func TestFullCacheEvictsAndStaysCorrect(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.TokenCacheSize = 2 })
	oid := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	tokens := make([]string, 5)
	for i := range tokens {
		tokens[i] = bearer(f.mint(t, with(f.userClaimsV2(), map[string]any{"oid": oid(i)})))
	}
	for round := range 3 {
		for i, tok := range tokens {
			p, _, err := v.Validate(context.Background(), tok)
			if err != nil || p.ObjectID != oid(i) {
				t.Fatalf("round %d, token %d: %v, oid %s", round, i, err, p.ObjectID)
			}
			if n := v.tokens.len(); n > 2 {
				t.Fatalf("%d entries in a cache of 2", n)
			}
		}
	}
	if v.tokens.hits.Load() != 0 {
		t.Errorf("5 tokens in turn through a cache of 2 made %d hits, want 0 (LRU)", v.tokens.hits.Load())
	}
	if _, _, err := v.Validate(context.Background(), tokens[4]); err != nil || v.tokens.hits.Load() != 1 {
		t.Errorf("the most recent token: %v, hits %d, want a hit", err, v.tokens.hits.Load())
	}
}

// An entry is bounded whatever the token carries: a principal over maxCachedClaimBytes is validated
// in full every time instead of being cached. The token itself is never part of an entry.
func TestCacheEntriesAreBoundedAndHoldNoToken(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	roles := make([]string, 64)
	for i := range roles {
		roles[i] = fmt.Sprintf("Role.Number.%03d", i)
	}
	big := bearer(f.mint(t, with(f.userClaimsV2(), map[string]any{"roles": roles})))
	for range 2 {
		if p, _, err := v.Validate(context.Background(), big); err != nil || len(p.Roles) != 64 {
			t.Fatalf("token with 64 roles: %v (%d roles)", err, len(p.Roles))
		}
	}
	if v.tokens.len() != 0 || v.tokens.hits.Load() != 0 {
		t.Fatalf("a principal of %d bytes was cached", principalBytes(&Principal{Roles: roles}))
	}

	tok := f.mint(t, f.userClaimsV2())
	if _, _, err := v.Validate(context.Background(), bearer(tok)); err != nil {
		t.Fatal(err)
	}
	key := tokenKey(tok)
	ent, ok := v.tokens.lru.Peek(key)
	if !ok {
		t.Fatal("not cached")
	}
	dump := fmt.Sprintf("%#v %#v", key, *ent)
	for i := 0; i+20 <= len(tok); i += 20 {
		if strings.Contains(dump, tok[i:i+20]) {
			t.Fatalf("a cache entry holds part of the token: %s", dump)
		}
	}
	if n := principalBytes(&ent.principal) + len(ent.kid); n > maxCachedClaimBytes {
		t.Fatalf("an ordinary user token takes %d bytes, over the bound", n)
	}
}

// Many requests at once — hits, misses, refused tokens, evictions — while key refreshes replace the
// published set: every answer is right (run with -race).
func TestValidatedTokenCacheUnderConcurrency(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, func(o *ValidatorOptions) { o.TokenCacheSize = 8 })
	oid := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	const users = 16
	good := make([]string, users)
	for i := range good {
		good[i] = bearer(f.mint(t, with(f.userClaimsV2(), map[string]any{"oid": oid(i)})))
	}
	refused := bearer(f.mint(t, with(f.userClaimsV2(), map[string]any{"scp": "other"})))
	tampered := good[0][:len(good[0])-2] + "AA"
	if _, _, err := v.Validate(context.Background(), good[0]); err != nil { // fetch the keys
		t.Fatal(err)
	}
	kid := f.keys[0].kid

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				u := (w + i) % users
				if p, _, err := v.Validate(context.Background(), good[u]); err != nil || p.ObjectID != oid(u) {
					t.Errorf("user %d: %v, oid %s", u, err, p.ObjectID)
					return
				}
				if _, _, err := v.Validate(context.Background(), refused); errKind(err) != "forbidden:insufficient_scope" {
					t.Errorf("refused token: %v", err)
					return
				}
				if _, _, err := v.Validate(context.Background(), tampered); errKind(err) != "invalid_token" {
					t.Errorf("tampered token: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() { // key refreshes that keep the key
		for range 40 {
			v.tokens.keysChanged(map[string]struct{}{kid: {}, "another": {}})
		}
	})
	wg.Wait()
	if n := v.tokens.len(); n > 8 {
		t.Errorf("%d entries in a cache of 8", n)
	}
}

func TestNewValidatorRejectsANegativeTokenCacheSize(t *testing.T) {
	f := newFakeEntra(t)
	o := validatorOptions(f)
	o.TokenCacheSize = -1
	if _, err := NewValidator(o); err == nil {
		t.Fatal("negative token cache size accepted")
	}
}

// The hit path applies golang-jwt's own time rules: lifetime satisfies its Claims interface and
// carries no issuer, subject or audience for it to compare.
var _ jwt.Claims = (*lifetime)(nil)
