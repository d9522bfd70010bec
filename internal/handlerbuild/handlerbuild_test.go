package handlerbuild

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// module writes a one-package Go module (no dependencies, so no network) whose main package is
// ./handler with the given source, and returns its root.
func module(t *testing.T, mainSource string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":          "module example.invalid/app\n\ngo 1.22\n",
		"handler/main.go": mainSource,
	}
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const hello = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from the handler\") }\n"

func TestLocalBuildRunsOnThisMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go compiler")
	}
	root := module(t, hello)
	exe := filepath.Join(t.TempDir(), "bin", "flowbricks") // bin/ does not exist yet
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	if err := Build(t.Context(), Options{RepoRoot: root, Output: exe}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), exe).Output()
	if err != nil {
		t.Fatalf("running the built executable: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "hello from the handler" {
		t.Errorf("the built executable printed %q", got)
	}
}

// A local build with tags compiles the files those tags select (the bench's profile build).
func TestLocalBuildHonoursTags(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go compiler")
	}
	root := module(t, "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(greeting()) }\n")
	for name, src := range map[string]string{
		"tagged.go":   "//go:build benchprofile\n\npackage main\n\nfunc greeting() string { return \"tagged\" }\n",
		"untagged.go": "//go:build !benchprofile\n\npackage main\n\nfunc greeting() string { return \"untagged\" }\n",
	} {
		if err := os.WriteFile(filepath.Join(root, "handler", name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		tags []string
		want string
	}{{nil, "untagged"}, {[]string{"benchprofile"}, "tagged"}} {
		exe := filepath.Join(t.TempDir(), "flowbricks")
		if err := Build(t.Context(), Options{RepoRoot: root, Output: exe, Tags: tt.tags}); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(t.Context(), exe).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("tags %q: the executable printed %q, want %q", tt.tags, got, tt.want)
		}
	}
}

func TestDeploymentBuildIsStaticStrippedAndReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go compiler")
	}
	root := module(t, hello)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first"), filepath.Join(dir, "second")
	for _, out := range []string{first, second} {
		if err := Build(t.Context(), Options{RepoRoot: root, Output: out, Mode: Deployment}); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("not an ELF executable: %v", err)
	}
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		t.Errorf("built for %v %v, want linux/amd64", f.Machine, f.Class)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the executable asks for a dynamic loader; a deployment build must be static")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the executable has a symbol table; a deployment build is stripped")
	}
	if bytes.Contains(bin, []byte(root)) {
		t.Errorf("the executable contains the build folder %s; a deployment build trims paths", root)
	}
	again, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin, again) {
		t.Error("two deployment builds of the same sources differ")
	}
}

func TestBuildFailuresSayWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go compiler")
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		source  string
		opts    func(root string) Options
		wantErr []string // every one must be in the error
		wantIs  error
		wantLog string // must have been streamed to Options.Log
	}{
		{
			name:    "compiler error: the compiler's own words, streamed and returned",
			source:  "package main\n\nfunc main() { undefinedThing() }\n",
			wantErr: []string{"go build ./handler", "undefined: undefinedThing"},
			wantLog: "undefined: undefinedThing",
		},
		{
			name:    "context ended: the cause, not a bare signal",
			ctx:     cancelled,
			source:  hello,
			wantErr: []string{"stopped before it finished"},
			wantIs:  context.Canceled,
		},
		{
			name:    "no such package",
			source:  hello,
			opts:    func(root string) Options { return Options{RepoRoot: root, Package: "./nowhere"} },
			wantErr: []string{"go build ./nowhere"},
		},
		{
			name:    "unknown mode",
			source:  hello,
			opts:    func(root string) Options { return Options{RepoRoot: root, Mode: Mode(7)} },
			wantErr: []string{"unknown mode 7"},
		},
		{
			name:   "build tags on a deployment build: refused, nothing built",
			source: hello,
			opts: func(root string) Options {
				return Options{RepoRoot: root, Mode: Deployment, Tags: []string{"benchprofile"}}
			},
			wantErr: []string{"local builds only"},
		},
		{
			name:    "missing repository root",
			source:  hello,
			opts:    func(string) Options { return Options{} },
			wantErr: []string{"RepoRoot and Output are required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := module(t, tt.source)
			opts := Options{RepoRoot: root}
			if tt.opts != nil {
				opts = tt.opts(root)
			}
			out := filepath.Join(t.TempDir(), "flowbricks")
			if opts.RepoRoot != "" {
				opts.Output = out
			}
			var log bytes.Buffer
			opts.Log = &log
			ctx := tt.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			err := Build(ctx, opts)
			if err == nil {
				t.Fatal("Build succeeded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want it to contain %q", err, want)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("Log got %q, want it to contain %q", log.String(), tt.wantLog)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed build left %s behind", out)
			}
		})
	}
}

func TestModeNamesTheTarget(t *testing.T) {
	for mode, want := range map[Mode]string{Local: "local", Deployment: "linux/amd64", Mode(9): "Mode(9)"} {
		if got := mode.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(mode), got, want)
		}
	}
}
