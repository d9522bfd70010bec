//go:build !benchprofile

package main

// benchProfile does nothing in every build but the bench's profile build (profile_bench.go): a
// deployed handler has no profile endpoint, whatever its environment says.
func benchProfile(func(string) string) (stop func(), err error) { return func() {}, nil }
