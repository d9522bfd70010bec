// Package testctx gives tests a context bounded by their own deadline. Every wait in a test is
// bounded by it rather than by a fixed figure that a loaded machine can exceed
// (docs/contributing.md). It is imported by tests only.
package testctx

import (
	"context"
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
