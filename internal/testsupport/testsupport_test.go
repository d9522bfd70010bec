package testsupport

import (
	"testing"
)

func TestContextEndsAtTheTestsDeadline(t *testing.T) {
	ctx := Context(t)
	want, hasDeadline := t.Deadline()
	got, ok := ctx.Deadline()
	if ok != hasDeadline || (ok && !got.Equal(want)) {
		t.Fatalf("deadline = %v %v, want %v %v", got, ok, want, hasDeadline)
	}
	if ctx.Err() != nil {
		t.Fatalf("the context ended before the test: %v", ctx.Err())
	}
}

// Writers in several goroutines and a reader at the same time: the race detector watches.
func TestBufferTakesConcurrentWrites(t *testing.T) {
	var b Buffer
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	for range 4 {
		<-done
	}
	if got := len(b.String()); got != 400 {
		t.Fatalf("%d bytes written, want 400", got)
	}
}
