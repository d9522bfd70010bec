package testctx

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
