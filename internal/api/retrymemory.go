package api

// The retry memory of the requests Databricks offers no idempotency token for: RunStatement and
// RepairRun. A retried POST of one flow action would run its SQL twice, or repair the run twice;
// this instance remembers, for a short while, what each retry key started (a statement id, a
// repair id) and answers a retry from that (docs/sql.md, Retries; docs/connector.md, "Repair a
// failed run"). Another instance does not know the key: writes should be idempotent (MERGE) all
// the same, and a repair has Databricks' latest_repair_id guard.

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Bounds of each memory: a retry comes within minutes (Logic Apps' default retry policy waits at
// most about an hour over four attempts, most of them within minutes), and 10,000 entries of
// ~400 bytes each (measured by `devstack bench`: key, value, list element and map slot) bound it
// to about 4 MiB per memory.
const (
	retryMemorySize = 10_000
	retryMemoryTTL  = 15 * time.Minute
)

// retryMemory maps retry keys to what their first attempt started (V: a statement id, a repair
// id; its zero value means "nothing"). simplelru bounds it and evicts the oldest key first (keys
// are only ever added, never refreshed); the TTL and the waiting for a first attempt still in
// flight are ours, on an injectable clock the tests move.
type retryMemory[V comparable] struct {
	mu      sync.Mutex // guards entries (simplelru is not safe for concurrent use) and each entry's id and at
	entries *simplelru.LRU[string, *remembered[V]]
	ttl     time.Duration
	now     func() time.Time
}

// remembered is one key's first attempt: in flight until done is closed, then either what it
// started (id) or forgotten (the zero id, removed from the memory).
type remembered[V comparable] struct {
	done chan struct{}
	id   V
	at   time.Time // when id was learnt
}

func newRetryMemory[V comparable](size int, ttl time.Duration, now func() time.Time) *retryMemory[V] {
	entries, err := simplelru.NewLRU[string, *remembered[V]](size, nil)
	if err != nil {
		panic(err) // only for a size below 1: a programming error
	}
	return &retryMemory[V]{entries: entries, ttl: ttl, now: now}
}

// claim returns the id a key already names, or, when the key is new (or forgotten, or expired),
// a finish func the caller must call exactly once with the id of what it then started (the zero
// id when starting failed, which forgets the key so that a retry starts it). A claim for a key
// whose first attempt is still in flight waits for it until ctx ends.
func (m *retryMemory[V]) claim(ctx context.Context, key string) (id V, finish func(id V), err error) {
	var none V
	for {
		m.mu.Lock()
		e, ok := m.entries.Peek(key)
		if ok && e.isDone() && m.now().Sub(e.at) >= m.ttl {
			m.entries.Remove(key)
			ok = false
		}
		if !ok {
			e = &remembered[V]{done: make(chan struct{})}
			m.entries.Add(key, e)
			m.mu.Unlock()
			return none, m.finisher(key, e), nil
		}
		m.mu.Unlock()

		select {
		case <-e.done:
			m.mu.Lock()
			id := e.id
			m.mu.Unlock()
			if id != none {
				return id, nil, nil
			}
			// The first attempt failed and was forgotten: claim again (and start it, unless
			// another waiter was first).
		case <-ctx.Done():
			return none, nil, ctx.Err()
		}
	}
}

func (m *retryMemory[V]) finisher(key string, e *remembered[V]) func(V) {
	var once sync.Once
	return func(id V) {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			var none V
			if id == none {
				if cur, ok := m.entries.Peek(key); ok && cur == e {
					m.entries.Remove(key)
				}
			} else {
				e.id, e.at = id, m.now()
			}
			close(e.done)
		})
	}
}

// requestInProgress is the answer to a retry whose first attempt is still being served, when the
// retry's own deadline ends first.
func requestInProgress(err error) *problem {
	p := newProblem(http.StatusServiceUnavailable, "request_in_progress",
		"The same request (same caller, body and workflow action or Idempotency-Key) is still being executed; retry shortly.")
	p.retryAfter = 5 * time.Second
	p.cause = err
	return p
}

func (e *remembered[V]) isDone() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}
