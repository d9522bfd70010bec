package entra

// The exchanged-token cache under pressure (issue 5, point 4): truly concurrent first requests
// share one Entra call per user token, and what one cached entry costs in memory.

import (
	"context"
	"crypto/sha256"
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

	// Bounded wait until all 200 have looked in the cache and missed.
	deadline := time.Now().Add(20 * time.Second)
	for e.Stats().Misses < callers {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("only %d of %d callers reached the exchange", e.Stats().Misses, callers)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(results)

	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if !issuedFor(r.out, r.in) {
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

// maxEntryOverhead bounds what one cache entry costs besides the Databricks token's own bytes:
// the LRU's list element (key, token header, expiry, links) and its map slot.
const maxEntryOverhead = 512

// One cache entry costs the Databricks token's bytes plus a small fixed overhead, measured here:
// with Azure Databricks user tokens of 1.5–2.5 KB the default 10,000 entries stay under ~30 MB.
func TestCacheMemoryPerEntry(t *testing.T) {
	const n = 4000
	f := newFakeEntra(t)
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.CacheSize = n })
	// The tokens and keys exist before the measurement: what is measured is the cache's overhead.
	tokens := make([]Token, n)
	keys := make([][sha256.Size]byte, n)
	for i := range n {
		tokens[i] = Token(fmt.Sprintf("%06d", i) + strings.Repeat("x", 1600))
		keys[i] = sha256.Sum256([]byte(tokens[i]))
	}
	expires := time.Now().Add(time.Hour)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		e.store(keys[i], cacheEntry{token: tokens[i], expiresOn: expires})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tokens)

	if st := e.Stats(); st.Entries != n || st.Evictions != 0 {
		t.Fatalf("stats = %+v, want %d entries", st, n)
	}
	perEntry := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("cache overhead per entry: %d bytes (+ the token itself)", perEntry)
	if perEntry > maxEntryOverhead {
		t.Fatalf("cache overhead per entry = %d bytes, want at most %d", perEntry, maxEntryOverhead)
	}
}
