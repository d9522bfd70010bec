// Package testsupport holds what tests in several packages share: a context bounded by the test's
// own deadline, so that no wait in a test depends on a fixed figure a loaded machine can exceed
// (docs/contributing.md), and a buffer that a handler, a child process or a logger may write while
// the test reads it. It is imported by tests only.
package testsupport

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// Context ends at the test's deadline (go test -timeout) or when the test or benchmark ends.
func Context(t testing.TB) context.Context {
	t.Helper()
	withDeadline, ok := t.(interface{ Deadline() (time.Time, bool) }) // *testing.T, not *testing.B
	if !ok {
		return t.Context()
	}
	d, ok := withDeadline.Deadline()
	if !ok {
		return t.Context()
	}
	ctx, cancel := context.WithDeadline(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
