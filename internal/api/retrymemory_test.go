package api

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/testsupport"
)

// clock is a time the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestMemory(size int) (*retryMemory[string], *clock) {
	c := &clock{now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	return newRetryMemory[string](size, 15*time.Minute, c.Now), c
}

// mustStart claims key and expects to be the one that executes.
func mustStart(t *testing.T, m *retryMemory[string], key string) func(string) {
	t.Helper()
	id, finish, err := m.claim(testsupport.Context(t), key)
	if err != nil || id != "" || finish == nil {
		t.Fatalf("claim %s: id %q finish %v err %v, want to execute", key, id, finish != nil, err)
	}
	return finish
}

// mustRemember claims key and expects the statement want.
func mustRemember(t *testing.T, m *retryMemory[string], key, want string) {
	t.Helper()
	id, finish, err := m.claim(testsupport.Context(t), key)
	if err != nil || id != want || finish != nil {
		t.Fatalf("claim %s: id %q finish %v err %v, want %s", key, id, finish != nil, err, want)
	}
}

func TestRetryMemory(t *testing.T) {
	t.Run("a key names its statement until the TTL has passed", func(t *testing.T) {
		m, c := newTestMemory(10)
		mustStart(t, m, "k")("stmt-1")
		c.Add(15*time.Minute - time.Second)
		mustRemember(t, m, "k", "stmt-1")
		c.Add(time.Second)
		mustStart(t, m, "k")("stmt-2") // expired: executes again
		mustRemember(t, m, "k", "stmt-2")
	})

	t.Run("a failed execute is forgotten", func(t *testing.T) {
		m, _ := newTestMemory(10)
		mustStart(t, m, "k")("")
		mustStart(t, m, "k")("stmt-1")
		mustRemember(t, m, "k", "stmt-1")
	})

	t.Run("bounded: the oldest key is evicted first", func(t *testing.T) {
		m, _ := newTestMemory(3)
		for _, k := range []string{"a", "b", "c"} {
			mustStart(t, m, k)("stmt-" + k)
		}
		mustRemember(t, m, "a", "stmt-a") // reading does not make a key younger
		mustStart(t, m, "d")("stmt-d")    // evicts a
		mustStart(t, m, "a")("stmt-a2")   // a was forgotten; evicts b
		mustRemember(t, m, "c", "stmt-c")
		mustRemember(t, m, "d", "stmt-d")
		mustRemember(t, m, "a", "stmt-a2")
		mustStart(t, m, "b")("stmt-b2")
	})

	t.Run("concurrent claims of one key: one executes, the others get its statement", func(t *testing.T) {
		m, _ := newTestMemory(10)
		finish := mustStart(t, m, "k")
		const waiters = 8
		ids := make(chan string, waiters)
		for range waiters {
			go func() {
				id, f, err := m.claim(testsupport.Context(t), "k")
				if f != nil {
					f("")
				}
				if err != nil {
					id = "error: " + err.Error()
				}
				ids <- id
			}()
		}
		finish("stmt-1")
		for range waiters {
			if id := <-ids; id != "stmt-1" {
				t.Fatalf("a waiter got %q", id)
			}
		}
	})

	t.Run("waiters of a failed first attempt: one executes next", func(t *testing.T) {
		m, _ := newTestMemory(10)
		finish := mustStart(t, m, "k")
		type result struct {
			id     string
			finish func(string)
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				id, f, _ := m.claim(testsupport.Context(t), "k")
				results <- result{id, f}
			}()
		}
		finish("")
		first := <-results
		if first.finish == nil {
			t.Fatalf("the first waiter after a failure got %q, want to execute", first.id)
		}
		first.finish("stmt-2")
		if second := <-results; second.id != "stmt-2" || second.finish != nil {
			t.Fatalf("the second waiter got %q (execute %v), want stmt-2", second.id, second.finish != nil)
		}
	})

	t.Run("a waiter's own deadline ends its wait", func(t *testing.T) {
		m, _ := newTestMemory(10)
		finish := mustStart(t, m, "k")
		defer finish("stmt-1")
		ctx, cancel := context.WithCancel(testsupport.Context(t))
		cancel()
		if _, f, err := m.claim(ctx, "k"); !errors.Is(err, context.Canceled) || f != nil {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("an in-flight key is not expired by the clock", func(t *testing.T) {
		m, c := newTestMemory(10)
		finish := mustStart(t, m, "k")
		c.Add(time.Hour)
		ctx, cancel := context.WithCancel(testsupport.Context(t))
		cancel()
		if _, _, err := m.claim(ctx, "k"); err == nil {
			t.Fatal("a second claim of an in-flight key did not wait")
		}
		finish("stmt-1")
		mustRemember(t, m, "k", "stmt-1")
	})

	t.Run("finish twice is harmless", func(t *testing.T) {
		m, _ := newTestMemory(10)
		finish := mustStart(t, m, "k")
		finish("stmt-1")
		finish("")
		mustRemember(t, m, "k", "stmt-1")
	})
}
