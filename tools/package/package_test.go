package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/handlerbuild"
)

// The package Azure Functions runs: exactly these entries, in this order, with these modes.
var wantEntries = []entry{
	{"host.json", 0o644},
	{"function-trigger/function.json", 0o644},
	{"bin/flowbricks", 0o755},
}

// copyApp copies testdata/app (host.json, function-trigger/, a tiny handler module) to a fresh
// folder and adds files that must never end up in the package.
func copyApp(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/app", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/app", p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"local.settings.json":        `{"Values":{"AZURE_CLIENT_SECRET":"never-packaged"}}`,
		"README.md":                  "not packaged\n",
		"internal/config/config.go":  "package config\n",
		"function-trigger/notes.txt": "only function.json is packaged\n",
		"bin/stale-binary":           "left over from an earlier build\n",
	} {
		writeFile(t, filepath.Join(dst, name), content)
	}
	return dst
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readZip returns the entries of a zip with their modes and contents.
func readZip(t *testing.T, name string) ([]entry, map[string][]byte, []*zip.File) {
	t.Helper()
	zr, err := zip.OpenReader(name)
	if err != nil {
		t.Fatalf("opening %s: %v", name, err)
	}
	t.Cleanup(func() { zr.Close() })
	var entries []entry
	contents := map[string][]byte{}
	for _, f := range zr.File {
		entries = append(entries, entry{f.Name, f.Mode().Perm()})
		if f.Mode().IsDir() {
			t.Errorf("%s is a directory entry; the package holds files only", f.Name)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		contents[f.Name] = raw
	}
	return entries, contents, zr.File
}

func assertEntries(t *testing.T, got []entry) {
	t.Helper()
	if len(got) != len(wantEntries) {
		t.Fatalf("zip entries = %v, want exactly %v", got, wantEntries)
	}
	for i := range got {
		if got[i] != wantEntries[i] {
			t.Errorf("entry %d = %s %v, want %s %v", i, got[i].Name, got[i].Mode, wantEntries[i].Name, wantEntries[i].Mode)
		}
	}
}

func TestPackPutsExactlyTheHostFilesAndTheExecutableInTheZip(t *testing.T) {
	root := copyApp(t)
	out := filepath.Join(t.TempDir(), "dist", "flowbricks.zip")
	fakeBinary := []byte("\x7fELF pretend handler")
	var built struct{ root, pkg, output string }
	stub := func(_ context.Context, root, pkg, output string) error {
		built.root, built.pkg, built.output = root, pkg, output
		return os.WriteFile(output, fakeBinary, 0o600) // the zip's mode must not depend on this
	}
	modTime := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

	res, err := pack(context.Background(), options{Root: root, Pkg: "./handler", Out: out, ModTime: modTime}, stub)
	if err != nil {
		t.Fatal(err)
	}

	if built.root != root || built.pkg != "./handler" {
		t.Errorf("build called with root %q pkg %q, want %q and ./handler", built.root, built.pkg, root)
	}
	if filepath.Base(built.output) != "flowbricks" {
		t.Errorf("binary built as %q; its name should follow host.json's defaultExecutablePath", built.output)
	}
	if _, err := os.Stat(built.output); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary build output %s was not cleaned up (stat err %v)", built.output, err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != out || res.Size != st.Size() {
		t.Errorf("result = %s %d bytes, file is %s %d bytes", res.Path, res.Size, out, st.Size())
	}
	assertEntries(t, res.Entries)

	entries, contents, files := readZip(t, out)
	assertEntries(t, entries)
	if !bytes.Equal(contents["bin/flowbricks"], fakeBinary) {
		t.Errorf("bin/flowbricks holds %q, want the built binary", contents["bin/flowbricks"])
	}
	hostJSON, _ := os.ReadFile(filepath.Join(root, "host.json"))
	if !bytes.Equal(contents["host.json"], hostJSON) {
		t.Error("host.json in the zip differs from the source file")
	}
	for _, f := range files {
		if !f.Modified.Equal(modTime) {
			t.Errorf("%s modified %v, want %v", f.Name, f.Modified, modTime)
		}
		if f.CreatorVersion>>8 != 3 { // 3 = Unix: without it unzip tools ignore the mode bits
			t.Errorf("%s creator = %d, want Unix (3) so the mode survives extraction", f.Name, f.CreatorVersion>>8)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".flowbricks-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left next to the zip: %v", leftovers)
	}
}

// TestPackRefusesWhatTheHostCouldNotRun: pack stops before writing anything when the app layout
// is wrong (functionsapp's tests list every rule) or the build fails.
func TestPackRefusesWhatTheHostCouldNotRun(t *testing.T) {
	okBuild := func(_ context.Context, _, _, output string) error {
		return os.WriteFile(output, []byte("bin"), 0o755)
	}
	tests := []struct {
		name    string
		modify  func(t *testing.T, root string)
		build   buildFunc
		wantErr string
	}{
		{
			name:    "no host.json",
			modify:  func(t *testing.T, root string) { os.Remove(filepath.Join(root, "host.json")) },
			wantErr: "reading host.json: open",
		},
		{
			name: "executable outside the app",
			modify: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "host.json"), `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"../flowbricks"}}}`)
			},
			wantErr: "must be a clean relative path",
		},
		{
			name: "executable where a function.json is",
			modify: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "host.json"), `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"function-trigger/function.json"}}}`)
			},
			wantErr: "collides with a function.json",
		},
		{
			name:    "no function.json",
			modify:  func(t *testing.T, root string) { os.RemoveAll(filepath.Join(root, "function-trigger")) },
			wantErr: "no <folder>/function.json",
		},
		{
			name:    "build failure",
			build:   func(context.Context, string, string, string) error { return errors.New("undefined: foo") },
			wantErr: "building ./handler for linux/amd64: undefined: foo",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyApp(t)
			if tt.modify != nil {
				tt.modify(t, root)
			}
			build := tt.build
			if build == nil {
				build = okBuild
			}
			out := filepath.Join(t.TempDir(), "flowbricks.zip")
			_, err := pack(context.Background(), options{Root: root, Pkg: "./handler", Out: out, ModTime: time.Now()}, build)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a failed run left %s behind", out)
			}
		})
	}
}

func TestRunCrossBuildsAStaticLinuxBinaryIntoTheZip(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go compiler")
	}
	root := copyApp(t)
	getenv := func(name string) string {
		if name == "SOURCE_DATE_EPOCH" {
			return "1795860000"
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-root", root}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}

	out := filepath.Join(root, "dist", "flowbricks.zip") // the default -out
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if first := strings.SplitN(stdout.String(), "\n", 2)[0]; !strings.Contains(first, out) || !strings.Contains(first, " bytes") {
		t.Errorf("first line of output = %q, want the zip path and its size", first)
	} else if !strings.Contains(first, " "+strconv.FormatInt(st.Size(), 10)+" bytes") {
		t.Errorf("first line of output = %q, want the size %d", first, st.Size())
	}

	entries, contents, _ := readZip(t, out)
	assertEntries(t, entries)
	// The executable is handlerbuild's deployment build (static linux/amd64, stripped, no build
	// paths: its tests check those properties), byte for byte.
	want := filepath.Join(t.TempDir(), "flowbricks")
	if err := handlerbuild.Build(t.Context(), handlerbuild.Options{RepoRoot: root, Output: want, Mode: handlerbuild.Deployment}); err != nil {
		t.Fatal(err)
	}
	if wantBin, err := os.ReadFile(want); err != nil || !bytes.Equal(contents["bin/flowbricks"], wantBin) {
		t.Errorf("bin/flowbricks (%d bytes) is not handlerbuild's deployment build of ./handler (%d bytes, %v)", len(contents["bin/flowbricks"]), len(wantBin), err)
	}

	// Same sources, same SOURCE_DATE_EPOCH: byte-for-byte the same package.
	again := filepath.Join(t.TempDir(), "again.zip")
	stdout.Reset()
	if err := run(context.Background(), []string{"-root", root, "-out", again}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("second run: %v\nstderr: %s", err, stderr.String())
	}
	first, _ := os.ReadFile(out)
	second, _ := os.ReadFile(again)
	if !bytes.Equal(first, second) {
		t.Error("two packages built from the same sources with the same SOURCE_DATE_EPOCH differ")
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"stray argument", []string{"extra"}, nil, "unexpected arguments"},
		{"unknown flag", []string{"-zip", "x"}, nil, "flag provided but not defined"},
		{"bad SOURCE_DATE_EPOCH", nil, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, "SOURCE_DATE_EPOCH"},
		{"SOURCE_DATE_EPOCH before 1980", nil, map[string]string{"SOURCE_DATE_EPOCH": "0"}, "since 1980"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"-root", t.TempDir()}, tt.args...)
			err := run(context.Background(), args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing on failure", stdout.String())
			}
		})
	}
}
