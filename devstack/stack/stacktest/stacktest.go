// Package stacktest holds what the tests that run local stacks share: the set-up of a test binary
// whose stacks serve the handler in-process, and the scan of their handlers' logs for leaked tokens.
// (A context bounded by the test's deadline and a concurrent-safe buffer are internal/testsupport's.)
package stacktest

import (
	"path/filepath"

	"github.com/flowbricks/flowbricks/devstack/pki"
	"github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/internal/testsupport"
)

// Buffer is a buffer a handler or a command may write while the test reads it.
type Buffer = testsupport.Buffer

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
