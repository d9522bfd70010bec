package entra

// The exchanged-token cache under pressure: truly concurrent first requests share one Entra call
// per user token, what one cached entry costs in memory, and what one caller presenting many
// tokens can do to the cache and to Entra.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// 200 first requests for 10 user tokens, all in flight at once: Entra answers none of them until
// every one of the 200 has missed the cache, so none can be served from it. Exactly one exchange
// per user token reaches Entra, and every caller gets the token issued for its own user token.
func TestTokenFor200ConcurrentFirstRequestsFor10UsersMake10EntraCalls(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, nil)
	const users, callers = 10, 200
	tokens := make([]Token, users)
	for i := range tokens {
		tokens[i] = userToken(t, f, i)
	}
	release := make(chan struct{})
	f.set(func(f *fakeEntra) { f.block, f.entered = release, make(chan struct{}, callers) })

	type result struct {
		in, out Token
		err     error
	}
	results := make(chan result, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			in := tokens[i%users]
			out, _, err := e.TokenFor(context.Background(), alice, in)
			results <- result{in, out, err}
		})
	}

	// Wait (bounded by the test's deadline) until all 200 have looked in the cache and missed;
	// the fake's clean-up releases the held requests if the wait fails.
	eventually(t, "every caller missed the cache", func() bool { return e.Stats().Misses >= callers })
	close(release)
	wg.Wait()
	close(results)

	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if !f.issuedFor(r.out, r.in) {
			t.Fatal("a caller got a Databricks token issued for another user token")
		}
	}
	if n := f.count("token"); n != users {
		t.Fatalf("%d concurrent first requests for %d user tokens made %d token requests, want %d", callers, users, n, users)
	}
	st := e.Stats()
	if st.Misses != callers || st.Hits != 0 || st.Entries != users {
		t.Fatalf("stats = %+v, want %d misses, no hits, %d entries", st, callers, users)
	}
	t.Logf("callers that waited for another caller's exchange: %d of %d", st.InflightDedupes, callers)
}

// BenchmarkCacheMemoryPerEntry measures what one cache entry costs besides the Databricks token's
// own bytes: the LRU's list element (key, token header, expiry, links), its map slot and the
// per-caller bookkeeping. It reports bytes/entry (about 340 when measured; with Azure Databricks
// user tokens of 1.5–2.5 KB the default 10,000 entries stay under ~30 MB). A benchmark, not a
// test: heap figures move with whatever else the process is doing, so they are read, not asserted.
//
//	go test ./internal/entra -run '^$' -bench CacheMemoryPerEntry
func BenchmarkCacheMemoryPerEntry(b *testing.B) {
	const n = 4000
	f := newFakeEntra(b)
	// The tokens and keys exist before the measurement: what is measured is the cache's overhead.
	// Each entry has its own caller, as in production (one entry per user).
	tokens := make([]Token, n)
	keys := make([][sha256.Size]byte, n)
	callers := make([]callerKey, n)
	for i := range n {
		tokens[i] = Token(fmt.Sprintf("%06d", i) + strings.Repeat("x", 1600))
		keys[i] = sha256.Sum256([]byte(tokens[i]))
		callers[i] = callerOf(Principal{TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)})
	}
	expires := time.Now().Add(time.Hour)
	var perEntry int64
	for b.Loop() {
		e := newTestExchanger(b, f, func(o *ExchangerOptions) { o.CacheSize = n })
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			e.store(keys[i], cacheEntry{token: tokens[i], expiresOn: expires, caller: callers[i]})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(e)
		perEntry = (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	}
	runtime.KeepAlive(tokens)
	runtime.KeepAlive(callers)
	b.ReportMetric(float64(perEntry), "bytes/entry")
}

// fixedClock is a settable clock for the per-caller bound (token expiry stays an hour away).
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fixedClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	bob     = Principal{Kind: User, ObjectID: "b0b00000-0000-4000-8000-000000000002", TenantID: testTenant}
	carol   = Principal{Kind: User, ObjectID: "ca201000-0000-4000-8000-000000000003", TenantID: testTenant}
	mallory = Principal{Kind: User, ObjectID: "3a11041e-0000-4000-8000-000000000009", TenantID: testTenant}
)

// One caller presenting 100 distinct tokens (with a rate bound loose enough to let them all be
// exchanged) fills only its own share of the cache: its new entries push out its own oldest, and
// another caller's entry stays a hit although the cache is smaller than the 100 tokens.
func TestOneCallersTokensCannotEvictAnotherCallersEntry(t *testing.T) {
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, func(o *ExchangerOptions) {
		o.CacheSize = 32
		o.CallerBurst = 1000
	})
	ctx := context.Background()
	bobsToken := userToken(t, f, 1)
	if _, _, err := e.TokenFor(ctx, bob, bobsToken); err != nil {
		t.Fatal(err)
	}

	for i := range 100 {
		if _, _, err := e.TokenFor(ctx, mallory, userToken(t, f, 1000+i)); err != nil {
			t.Fatalf("mallory's token %d: %v", i, err)
		}
	}

	before := f.count("token")
	if _, _, err := e.TokenFor(ctx, bob, bobsToken); err != nil {
		t.Fatal(err)
	}
	if n := f.count("token") - before; n != 0 {
		t.Errorf("bob's token was exchanged again (%d Entra calls): mallory's tokens evicted bob's entry", n)
	}
	st := e.Stats()
	if st.Entries != 1+DefaultCallerCacheEntries || st.Evictions != 0 || st.CallerEvictions != 100-DefaultCallerCacheEntries {
		t.Errorf("stats = %+v, want %d entries (bob's and mallory's newest %d), no LRU evictions, %d caller evictions",
			st, 1+DefaultCallerCacheEntries, DefaultCallerCacheEntries, 100-DefaultCallerCacheEntries)
	}
}

// Past its bound a caller's new tokens are refused without calling Entra, with the time until the
// next exchange is allowed; its cached tokens are still served, other callers are not affected,
// and the bucket refills with time.
func TestOneCallersExchangesAreBoundedPerMinute(t *testing.T) {
	f := newFakeEntra(t)
	clock := &fixedClock{t: time.Now()}
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Now = clock.now })
	ctx := context.Background()
	var lastExchanged Token

	exchanged, refused := 0, 0
	for i := range 100 {
		tok := userToken(t, f, 2000+i)
		_, _, err := e.TokenFor(ctx, mallory, tok)
		var xe *ExchangeError
		switch {
		case err == nil:
			exchanged++
			lastExchanged = tok
		case errors.As(err, &xe) && xe.Kind == Throttled:
			refused++
			if xe.RetryAfter < time.Second || xe.RetryAfter > time.Minute {
				t.Fatalf("RetryAfter = %v, want the seconds until the next exchange", xe.RetryAfter)
			}
			if strings.Contains(xe.Error(), tok.Reveal()) {
				t.Fatal("the error contains the token")
			}
		default:
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if exchanged != DefaultCallerBurst || refused != 100-DefaultCallerBurst {
		t.Errorf("exchanged %d, refused %d; want %d and %d", exchanged, refused, DefaultCallerBurst, 100-DefaultCallerBurst)
	}
	if n := f.count("token"); n != DefaultCallerBurst {
		t.Errorf("Entra token requests = %d, want %d (refusals never reach Entra)", n, DefaultCallerBurst)
	}
	if st := e.Stats(); st.Throttled != uint64(refused) {
		t.Errorf("Stats().Throttled = %d, want %d", st.Throttled, refused)
	}

	// The bound is per caller: mallory's cached token is still served, carol is not refused.
	if _, _, err := e.TokenFor(ctx, mallory, lastExchanged); err != nil {
		t.Errorf("mallory's cached token: %v", err)
	}
	if _, _, err := e.TokenFor(ctx, carol, userToken(t, f, 3000)); err != nil {
		t.Errorf("carol's first exchange: %v", err)
	}

	// Three seconds later (20 a minute) mallory may exchange one more token, and only one.
	clock.advance(3 * time.Second)
	if _, _, err := e.TokenFor(ctx, mallory, userToken(t, f, 2500)); err != nil {
		t.Errorf("after the refill: %v", err)
	}
	var xe *ExchangeError
	if _, _, err := e.TokenFor(ctx, mallory, userToken(t, f, 2501)); !errors.As(err, &xe) || xe.Kind != Throttled {
		t.Errorf("second token after one refill: %v, want Throttled", err)
	}
}
