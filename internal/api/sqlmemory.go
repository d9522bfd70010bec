package api

// The retry memory of RunStatement. Databricks has no idempotency token for statements, so a
// retried POST of one flow action would run its SQL twice; this instance remembers, for a short
// while, which statement each retry key started and answers a retry from that statement
// (docs/sql.md, Retries). Another instance does not know the key: writes should be idempotent
// (MERGE) all the same.

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Bounds of the memory: a retry comes within minutes (Logic Apps' default retry policy waits at
// most about an hour over four attempts, most of them within minutes), and 10,000 keys of ~100
// bytes bound it to a few MiB.
const (
	statementMemorySize = 10_000
	statementMemoryTTL  = 15 * time.Minute
)

// statementMemory maps retry keys to statement ids. simplelru bounds it and evicts the oldest key
// first (keys are only ever added, never refreshed); the TTL and the waiting for a first attempt
// still in flight are ours, on an injectable clock the tests move.
type statementMemory struct {
	mu      sync.Mutex // guards entries (simplelru is not safe for concurrent use) and each entry's id and at
	entries *simplelru.LRU[string, *rememberedStatement]
	ttl     time.Duration
	now     func() time.Time
}

// rememberedStatement is one key's first attempt: in flight until done is closed, then either the
// statement it started (id) or forgotten (id "", removed from the memory).
type rememberedStatement struct {
	done chan struct{}
	id   string
	at   time.Time // when id was learnt
}

func newStatementMemory(size int, ttl time.Duration, now func() time.Time) *statementMemory {
	entries, err := simplelru.NewLRU[string, *rememberedStatement](size, nil)
	if err != nil {
		panic(err) // only for a size below 1: a programming error
	}
	return &statementMemory{entries: entries, ttl: ttl, now: now}
}

// claim returns the statement id a key already names, or, when the key is new (or forgotten, or
// expired), a finish func the caller must call exactly once with the id of the statement it then
// started ("" when starting it failed, which forgets the key so that a retry starts it). A claim
// for a key whose first attempt is still in flight waits for it until ctx ends.
func (m *statementMemory) claim(ctx context.Context, key string) (id string, finish func(id string), err error) {
	for {
		m.mu.Lock()
		e, ok := m.entries.Peek(key)
		if ok && e.isDone() && m.now().Sub(e.at) >= m.ttl {
			m.entries.Remove(key)
			ok = false
		}
		if !ok {
			e = &rememberedStatement{done: make(chan struct{})}
			m.entries.Add(key, e)
			m.mu.Unlock()
			return "", m.finisher(key, e), nil
		}
		m.mu.Unlock()

		select {
		case <-e.done:
			m.mu.Lock()
			id := e.id
			m.mu.Unlock()
			if id != "" {
				return id, nil, nil
			}
			// The first attempt failed and was forgotten: claim again (and start it, unless
			// another waiter was first).
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
}

func (m *statementMemory) finisher(key string, e *rememberedStatement) func(string) {
	var once sync.Once
	return func(id string) {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if id == "" {
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

func (e *rememberedStatement) isDone() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}
