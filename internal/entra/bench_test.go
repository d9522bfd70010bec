package entra

import (
	"context"
	"testing"
)

// BenchmarkValidate is the warm path of every request: header parsing, one RS256 verification
// against cached keys, the claim checks.
func BenchmarkValidate(b *testing.B) {
	f := newFakeEntra(b)
	v := newTestValidator(b, f, nil)
	header := "Bearer " + f.mint(b, f.userClaimsV2())
	ctx := context.Background()
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

// BenchmarkTokenForCacheHit is the warm path of the exchange: SHA-256 of the incoming token and
// one LRU lookup.
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
