package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowbricks/flowbricks/internal/functionsapp"
	"github.com/flowbricks/flowbricks/internal/handlerbuild"
)

// BuildingLine is what a command prints before it builds the handler, so that a first build is not
// mistaken for a hang.
const BuildingLine = "building the handler — the first build takes a few minutes"

// BuildHandler builds ./handler of the module in repoRoot to the executable path host.json in
// appRoot names, with go test's settings (internal/handlerbuild, Local mode), so it shares go's
// build cache with `go run` and `go test` instead of compiling the dependencies a second time. It
// is bounded by ctx only: a first build on a small machine takes minutes, and a fixed timeout
// killed it half-way. tags are build tags (the bench's profile build, internal/benchprofile).
func BuildHandler(ctx context.Context, repoRoot, appRoot string, tags ...string) error {
	exe, err := ExecutablePath(appRoot)
	if err != nil {
		return err
	}
	if err := handlerbuild.Build(ctx, handlerbuild.Options{RepoRoot: repoRoot, Output: exe, Mode: handlerbuild.Local, Tags: tags}); err != nil {
		return fmt.Errorf("building the handler: %w", err)
	}
	return nil
}

// ExecutablePath is the file the Functions host (and the host stand-in) starts, host.json's
// customHandler.description.defaultExecutablePath below appRoot.
func ExecutablePath(appRoot string) (string, error) {
	return functionsapp.ExecutableFile(appRoot)
}

// CopyApp copies the Functions app files (host.json, function-trigger/function.json) from
// repoRoot to a new app folder, so that a build or a test never touches the repository's bin/.
func CopyApp(repoRoot, appRoot string) error {
	for _, f := range []string{"host.json", filepath.Join("function-trigger", "function.json")} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(appRoot, f)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(appRoot, f), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// FindRepoRoot walks up from dir to the folder holding go.mod and host.json.
func FindRepoRoot(dir string) (string, error) {
	for range 64 {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "host.json")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("no flowbricks repository (go.mod with host.json) above %s: run devstack inside it", dir)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
