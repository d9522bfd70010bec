// Package handlerbuild compiles flowbricks' handler executable. It is the one place that decides
// how the handler is built, for the two reasons anything builds it:
//
//   - Local: the local stack, its binary smoke test and the bench run the handler on this
//     machine. They build with exactly the settings `go test ./...` and `go run` use (the
//     caller's go environment, no extra flags), so every package the tests compiled is reused
//     from go's build cache and only the final link is new work.
//   - Deployment: tools/package builds what Azure Functions runs. Azure's Linux workers run
//     linux/amd64, and a static binary (CGO_ENABLED=0) does not depend on the worker image's
//     glibc; -trimpath and -ldflags "-s -w" keep build-machine paths and symbol tables out, so
//     the same sources give the same bytes on any machine (docs/deploy.md, 5. Build the package).
//
// The two modes deliberately differ: CGO_ENABLED, -trimpath and the target platform are part of
// every package's cache key, so building the local binary the deployment way would compile the
// whole dependency tree a second time.
//
// Build has no timeout of its own: a first build on a small machine takes minutes, and only the
// caller knows how long it is prepared to wait, through its context.
package handlerbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DefaultPackage is the handler's main package, relative to the repository root.
const DefaultPackage = "./handler"

// Deployment target: the platform of every Azure Functions Linux plan.
const (
	DeploymentOS   = "linux"
	DeploymentArch = "amd64"
)

// Mode chooses the build settings.
type Mode int

const (
	// Local builds for this machine with the same settings as `go test` and `go run`.
	Local Mode = iota
	// Deployment builds a static, stripped, path-free linux/amd64 executable for Azure Functions.
	Deployment
)

func (m Mode) String() string {
	switch m {
	case Local:
		return "local"
	case Deployment:
		return DeploymentOS + "/" + DeploymentArch
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options says what to build and where to put it.
type Options struct {
	// RepoRoot is the module root the package is built from (the go command's working folder).
	RepoRoot string
	// Output is the executable to write; a relative path is relative to the current folder, not
	// RepoRoot. Its folder is created when missing.
	Output string
	// Package is the Go package to build, relative to RepoRoot; "" means DefaultPackage.
	Package string
	Mode    Mode
	// Tags are build tags for a Local build (the bench's profile build sets "benchprofile", see
	// internal/benchprofile). A Deployment build refuses them: what Azure Functions runs is
	// built from the sources as they are, never with test or measurement code compiled in.
	Tags []string
	// Log, when set, receives the go command's output while it runs (module downloads,
	// compiler errors). The output is also part of the error Build returns on failure.
	Log io.Writer
}

// waitDelay bounds how long Build waits for the go command's output after its context ends
// and the command has been killed; it never limits a build that is still wanted.
const waitDelay = 5 * time.Second

// Build runs `go build` for opts. It returns once the executable is written, the build fails
// (the error holds the compiler's output) or ctx ends (the error wraps ctx's cause, so
// errors.Is(err, context.DeadlineExceeded) tells a timeout from a compiler error).
func Build(ctx context.Context, opts Options) error {
	pkg := opts.Package
	if pkg == "" {
		pkg = DefaultPackage
	}
	if opts.RepoRoot == "" || opts.Output == "" {
		return errors.New("handlerbuild: RepoRoot and Output are required")
	}
	output, err := filepath.Abs(opts.Output)
	if err != nil {
		return fmt.Errorf("handlerbuild: %w", err)
	}
	args, env, err := settings(opts.Mode)
	if err != nil {
		return err
	}
	if len(opts.Tags) > 0 {
		if opts.Mode != Local {
			return fmt.Errorf("handlerbuild: build tags %q are for local builds only, not for %s", opts.Tags, opts.Mode)
		}
		// Only the packages whose file selection the tags change are compiled again.
		args = append(args, "-tags="+strings.Join(opts.Tags, ","))
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go build %s: the go command is not on PATH: %w", pkg, err)
	}
	if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}

	cmd := exec.CommandContext(ctx, goBin, append(append([]string{"build"}, args...), "-o", output, pkg)...)
	cmd.Dir = opts.RepoRoot
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.WaitDelay = waitDelay
	var out bytes.Buffer
	var w io.Writer = &out
	if opts.Log != nil {
		w = io.MultiWriter(&out, opts.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("go build %s stopped before it finished: %w", pkg, context.Cause(ctx))
		}
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// settings returns the go build flags and the environment added to the caller's for mode.
// Local adds nothing, which is the point: any flag or variable here would change the cache key
// of every package and undo the sharing with `go test`.
func settings(mode Mode) (args, env []string, err error) {
	switch mode {
	case Local:
		return nil, nil, nil
	case Deployment:
		return []string{"-trimpath", "-ldflags=-s -w"},
			[]string{
				"GOOS=" + DeploymentOS, "GOARCH=" + DeploymentArch, "CGO_ENABLED=0",
				// The baseline instruction set: a GOAMD64 from the builder's shell would
				// otherwise change the bytes and could require CPU features a worker lacks.
				"GOAMD64=v1",
			}, nil
	}
	return nil, nil, fmt.Errorf("handlerbuild: unknown mode %d", int(mode))
}
