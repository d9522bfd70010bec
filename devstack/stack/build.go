package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildHandler builds ./handler of the module in repoRoot to the executable path host.json in
// appRoot names. It is bounded by ctx only: a first build on a small machine takes minutes, and a
// fixed timeout killed it half-way. It inherits the caller's environment and passes no flags, so
// it shares go's build cache with `go run` and `go test` (no second compile of the dependencies).
func BuildHandler(ctx context.Context, repoRoot, appRoot string) error {
	exe, err := ExecutablePath(appRoot)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", exe, "./handler")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("building the handler: %w", ctx.Err())
		}
		return fmt.Errorf("building the handler: %w\n%s", err, out)
	}
	return nil
}

// ExecutablePath reads host.json's customHandler.description.defaultExecutablePath, the file the
// Functions host (and the host stand-in) starts, as a path below appRoot.
func ExecutablePath(appRoot string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(appRoot, "host.json"))
	if err != nil {
		return "", err
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(raw, &host); err != nil {
		return "", fmt.Errorf("host.json: %w", err)
	}
	p := host.CustomHandler.Description.DefaultExecutablePath
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "..") {
		return "", fmt.Errorf("host.json: customHandler.description.defaultExecutablePath must be a relative path inside the app, got %q", p)
	}
	return filepath.Join(appRoot, filepath.FromSlash(p)), nil
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
