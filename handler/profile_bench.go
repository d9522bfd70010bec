//go:build benchprofile

package main

import (
	"fmt"

	"github.com/flowbricks/flowbricks/internal/benchprofile"
)

// benchProfile serves the profile endpoint `devstack bench --profile` uses, when the bench asked
// for it through the environment. This file is compiled only with the benchprofile build tag,
// which deployment builds refuse (internal/benchprofile says why the endpoint cannot be reached
// in production).
func benchProfile(getenv func(string) string) (stop func(), err error) {
	addr := getenv(benchprofile.EnvAddr)
	if addr == "" {
		return func() {}, nil
	}
	_, stopServer, err := benchprofile.Start(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", benchprofile.EnvAddr, err)
	}
	return func() { _ = stopServer() }, nil
}
