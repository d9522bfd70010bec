package entra

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkValidate is the warm path of every request once the keys are fetched.
//
//   - hit: the same token again, as a flow's requests within its token's lifetime — header
//     parsing, SHA-256 of the token, one cache lookup, the time checks.
//   - miss: a token not in the cache each iteration — 64 distinct tokens in turn through a cache
//     of 32, so the LRU never holds the next one: one RS256 verification against cached keys, the
//     claim decoding and checks, and storing (and evicting) an entry.
func BenchmarkValidate(b *testing.B) {
	f := newFakeEntra(b)
	ctx := context.Background()
	b.Run("hit", func(b *testing.B) {
		v := newTestValidator(b, f, nil)
		header := "Bearer " + f.mint(b, f.userClaimsV2())
		if _, _, err := v.Validate(ctx, header); err != nil { // fetch metadata and keys
			b.Fatal(err)
		}
		before := f.total()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, _, err := v.Validate(ctx, header); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if f.total() != before {
			b.Fatal("warm validation touched the network")
		}
	})
	b.Run("miss", func(b *testing.B) {
		const tokens, cacheSize = 64, 32
		v := newTestValidator(b, f, func(o *ValidatorOptions) { o.TokenCacheSize = cacheSize })
		headers := make([]string, tokens)
		for i := range headers {
			headers[i] = "Bearer " + f.mint(b, with(f.userClaimsV2(), map[string]any{"oid": fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}))
		}
		if _, _, err := v.Validate(ctx, headers[0]); err != nil {
			b.Fatal(err)
		}
		hits := v.tokens.hits.Load()
		b.ReportAllocs()
		b.ResetTimer()
		i := 1 // headers[0] was just validated
		for b.Loop() {
			if _, _, err := v.Validate(ctx, headers[i%tokens]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.StopTimer()
		if v.tokens.hits.Load() != hits {
			b.Fatal("a miss benchmark hit the cache")
		}
	})
}

// BenchmarkTokenCacheMemoryPerEntry reports what one validated token costs the cache (LRU element,
// key, entry, the principal's strings as golang-jwt decoded them), for an ordinary user token.
func BenchmarkTokenCacheMemoryPerEntry(b *testing.B) {
	const n = 4000
	entries := make([]*validatedToken, n)
	for i := range entries {
		entries[i] = &validatedToken{
			principal: Principal{Kind: User, ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), TenantID: testTenant,
				Name: fmt.Sprintf("user%06d@contoso.example", i), AppID: testClientApp, Scopes: []string{"user_impersonation"},
				TokenVersion: "2.0", ExpiresAt: testNow.Add(time.Hour)},
			lifetime: lifetime{exp: jwt.NewNumericDate(testNow.Add(time.Hour)), nbf: jwt.NewNumericDate(testNow), iat: jwt.NewNumericDate(testNow)},
			kid:      "kid-of-the-tenant-signing-key-0123456789ab",
		}
	}
	var perEntry int64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c, err := newValidatedTokens(n)
		if err != nil {
			b.Fatal(err)
		}
		c.keysChanged(map[string]struct{}{entries[0].kid: {}})
		for i, ent := range entries {
			// A fresh copy of what a validation allocates per token: the entry and its strings.
			cp := *ent
			cp.principal.ObjectID = strings.Clone(ent.principal.ObjectID)
			cp.principal.Name = strings.Clone(ent.principal.Name)
			cp.principal.Scopes = []string{strings.Clone(ent.principal.Scopes[0])}
			cp.lifetime = lifetime{exp: jwt.NewNumericDate(testNow.Add(time.Hour)), nbf: jwt.NewNumericDate(testNow), iat: jwt.NewNumericDate(testNow)}
			c.add([32]byte{byte(i), byte(i >> 8)}, &cp)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if c.len() != n {
			b.Fatalf("%d entries cached, want %d", c.len(), n)
		}
		runtime.KeepAlive(c)
		perEntry = (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	}
	b.ReportMetric(float64(perEntry), "bytes/entry")
}

// BenchmarkValidateParallel is the same with concurrent flows: the key set and the parser are
// shared read-only, so callers do not serialise on a lock.
func BenchmarkValidateParallel(b *testing.B) {
	f := newFakeEntra(b)
	v := newTestValidator(b, f, nil)
	header := "Bearer " + f.mint(b, f.userClaimsV2())
	ctx := context.Background()
	if _, _, err := v.Validate(ctx, header); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := v.Validate(ctx, header); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTokenForCacheHit is the warm path of the exchange: SHA-256 of the incoming token (read
// in place, not copied) and one LRU lookup.
func BenchmarkTokenForCacheHit(b *testing.B) {
	f := newFakeEntra(b)
	e := newTestExchanger(b, f, nil)
	incoming := userToken(b, f, 1)
	ctx := context.Background()
	if _, _, err := e.TokenFor(ctx, alice, incoming); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := e.TokenFor(ctx, alice, incoming); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := f.count("token"); n != 1 {
		b.Fatalf("token requests = %d, want 1", n)
	}
}

// BenchmarkTokenForCacheHitParallel shows the cache lock under contention.
func BenchmarkTokenForCacheHitParallel(b *testing.B) {
	f := newFakeEntra(b)
	e := newTestExchanger(b, f, nil)
	incoming := userToken(b, f, 1)
	ctx := context.Background()
	if _, _, err := e.TokenFor(ctx, alice, incoming); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := e.TokenFor(ctx, alice, incoming); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
