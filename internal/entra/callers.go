package entra

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// callerKey identifies a caller: tenant and object id, the stable key of a principal.
type callerKey string

func callerOf(p Principal) callerKey { return callerKey(p.TenantID + "/" + p.ObjectID) }

// callerBounds is the per-caller state of an Exchanger: a token bucket of exchanges per caller
// (kept in a bounded LRU, so callers that stopped calling are forgotten) and the cache keys of
// each caller's entries, oldest first. Every field but the counters is guarded by Exchanger.mu.
type callerBounds struct {
	limit    rate.Limit
	burst    int
	entries  int
	limiters *simplelru.LRU[callerKey, *rate.Limiter]
	keys     map[callerKey][][sha256.Size]byte

	throttled, evictions atomic.Uint64
}

// newCallerBounds checks the per-caller options. callers bounds how many callers' limiters are
// kept: as many as there can be cache entries.
func newCallerBounds(o ExchangerOptions, callers int) (*callerBounds, error) {
	perMinute, burst, entries := o.CallerExchangesPerMinute, o.CallerBurst, o.CallerCacheEntries
	if perMinute < 0 || burst < 0 || entries < 0 {
		return nil, errors.New("caller exchanges per minute, caller burst and caller cache entries must not be negative")
	}
	if perMinute == 0 {
		perMinute = DefaultCallerExchangesPerMinute
	}
	if burst == 0 {
		burst = DefaultCallerBurst
	}
	if entries == 0 {
		entries = DefaultCallerCacheEntries
	}
	limiters, err := simplelru.NewLRU[callerKey, *rate.Limiter](callers, nil)
	if err != nil {
		return nil, err
	}
	return &callerBounds{
		limit:    rate.Every(time.Minute / time.Duration(perMinute)),
		burst:    burst,
		entries:  entries,
		limiters: limiters,
		keys:     map[callerKey][][sha256.Size]byte{},
	}, nil
}

// forget is the cache's eviction callback: whichever way an entry leaves the cache, it leaves its
// caller's list. Called with Exchanger.mu held.
func (b *callerBounds) forget(key [sha256.Size]byte, ent cacheEntry) {
	keys := b.keys[ent.caller]
	if i := slices.Index(keys, key); i >= 0 {
		keys = slices.Delete(keys, i, i+1)
	}
	if len(keys) == 0 {
		delete(b.keys, ent.caller)
		return
	}
	b.keys[ent.caller] = keys
}

// oldestIfFull returns the caller's oldest cache key when the caller has no room for another
// entry. Called with Exchanger.mu held.
func (b *callerBounds) oldestIfFull(c callerKey) ([sha256.Size]byte, bool) {
	keys := b.keys[c]
	if len(keys) < b.entries {
		return [sha256.Size]byte{}, false
	}
	return keys[0], true
}

// remember records a new cache key of the caller. Called with Exchanger.mu held.
func (b *callerBounds) remember(c callerKey, key [sha256.Size]byte) {
	b.keys[c] = append(b.keys[c], key)
}

// admit takes one exchange from p's bucket, or refuses with Kind Throttled and the time until the
// bucket allows one. Refusals are logged (who, never a token): a caller that keeps hitting its
// bound is either broken or presenting tokens on purpose.
func (e *Exchanger) admit(ctx context.Context, p Principal) error {
	c := callerOf(p)
	now := e.now()
	e.mu.Lock()
	lim, ok := e.callers.limiters.Get(c)
	if !ok {
		lim = rate.NewLimiter(e.callers.limit, e.callers.burst)
		e.callers.limiters.Add(c, lim)
	}
	e.mu.Unlock()
	r := lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	if wait == 0 {
		return nil
	}
	r.CancelAt(now)
	e.callers.throttled.Add(1)
	xe := &ExchangeError{
		Kind: Throttled,
		Description: fmt.Sprintf("this caller asked for more than %d token exchanges in a short time; the next is allowed in %s",
			e.callers.burst, wait.Round(time.Second)),
		RetryAfter: max(time.Second, wait.Round(time.Second)),
	}
	e.logFailure(ctx, xe, "exchange_bound", p)
	return xe
}
