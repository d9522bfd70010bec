// Package stacktest holds what the tests that run local stacks share: a context bounded by the
// test's deadline, a buffer safe for concurrent writers, and the set-up of a test binary whose
// stacks serve the handler in-process.
package stacktest

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/flowbricks/flowbricks/devstack/pki"
	"github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/internal/testctx"
)

// Context ends at the test's deadline (go test -timeout) or when the test ends.
func Context(t *testing.T) context.Context { return testctx.Context(t) }

// Buffer is a bytes.Buffer that a handler or a command may write while the test reads it.
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

// InProcess prepares a test binary for in-process stacks (stack.Options.InProcess): it copies the
// Functions app of the repository in repoRoot below dir and makes a CA this process trusts. Call
// it in TestMain, before any TLS connection; pass the CA in stack.Options.CA.
func InProcess(repoRoot, dir string) (appRoot string, ca *pki.CA, err error) {
	appRoot = filepath.Join(dir, "app")
	if err := stack.CopyApp(repoRoot, appRoot); err != nil {
		return "", nil, err
	}
	if ca, err = pki.NewCA(); err != nil {
		return "", nil, err
	}
	if err := stack.TrustCA(ca, dir); err != nil {
		return "", nil, err
	}
	return appRoot, ca, nil
}
