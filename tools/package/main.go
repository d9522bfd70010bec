// Command package builds flowbricks' deployment package: the handler built by handlerbuild's
// Deployment mode (linux/amd64, CGO_ENABLED=0, -trimpath, -ldflags "-s -w") and the Functions host
// files, zipped in the layout Azure Functions runs from.
//
//	go run ./tools/package [-root .] [-out dist/flowbricks.zip] [-pkg ./handler]
//
// The zip holds exactly host.json, every <folder>/function.json next to it, and the executable at
// the path host.json names in customHandler.description.defaultExecutablePath — nothing else;
// functionsapp reads and checks those files.
// The executable is stored with mode 0755: Linux plans run the package as it is (run-from-package
// mounts it read-only), so a lost executable bit cannot be repaired on the server. That is why
// this is a Go program and not a call to `zip`, whose result depends on the machine it runs on
// (a zip made on Windows has no Unix modes at all).
package main

import (
	"archive/zip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowbricks/flowbricks/internal/functionsapp"
	"github.com/flowbricks/flowbricks/internal/handlerbuild"
)

const (
	defaultPkg     = "./handler"
	defaultOutName = "flowbricks.zip"

	modeFile       os.FileMode = 0o644
	modeExecutable os.FileMode = 0o755
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
}

// run parses the command line, builds the package and prints where it went.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root: the folder holding host.json and the function folders")
	out := fs.String("out", "", "zip file to write (default <root>/dist/"+defaultOutName+")")
	pkg := fs.String("pkg", defaultPkg, "Go package of the handler, relative to -root")
	timeout := fs.Duration("timeout", 0, "give up when building and packaging take longer than this (0: no limit, stop with Ctrl-C)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./tools/package [-root DIR] [-out FILE.zip] [-pkg ./handler]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	if *out == "" {
		*out = filepath.Join(*root, "dist", defaultOutName)
	}
	modTime, err := sourceDateEpoch(getenv)
	if err != nil {
		return err
	}

	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	res, err := pack(ctx, options{Root: *root, Pkg: *pkg, Out: *out, ModTime: modTime}, deploymentBuild)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %d bytes\n", res.Path, res.Size)
	for _, e := range res.Entries {
		fmt.Fprintf(stdout, "  %s %s\n", e.Mode, e.Name)
	}
	return nil
}

// sourceDateEpoch returns the time stamped on the zip entries: SOURCE_DATE_EPOCH when set (for
// byte-for-byte reproducible packages), otherwise now. A fixed default would be reproducible too,
// but deployment tools that compare timestamps could then skip changed files.
func sourceDateEpoch(getenv func(string) string) (time.Time, error) {
	s := strings.TrimSpace(getenv("SOURCE_DATE_EPOCH"))
	if s == "" {
		return time.Now(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 315532800 { // zip cannot store times before 1980
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH must be Unix seconds since 1980, got %q", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

type options struct {
	Root    string    // folder with host.json and the function folders
	Pkg     string    // Go package to build, relative to Root
	Out     string    // zip to write
	ModTime time.Time // timestamp of every entry
}

// buildFunc compiles the Go package pkg (relative to root) for linux/amd64 into the file output.
type buildFunc func(ctx context.Context, root, pkg, output string) error

type entry struct {
	Name string      // slash-separated path inside the zip
	Mode os.FileMode // Unix permission bits stored in the entry
}

// source is a file on disk and the entry it becomes.
type source struct {
	entry
	src string
}

type result struct {
	Path    string
	Size    int64
	Entries []entry
}

// pack checks the Functions host files under opts.Root, builds the handler with build and writes
// the zip. The zip is written to a temporary file first, so a failed run never leaves a partial
// package at opts.Out.
func pack(ctx context.Context, opts options, build buildFunc) (result, error) {
	exe, err := functionsapp.ExecutablePath(opts.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return result{}, fmt.Errorf("%w (is -root the repository root?)", err)
	}
	if err != nil {
		return result{}, err
	}
	fns, err := functionsapp.ReadFunctions(opts.Root)
	if err != nil {
		return result{}, err
	}
	var functions []string
	for _, f := range fns {
		if f.Path() == exe {
			return result{}, fmt.Errorf("host.json: defaultExecutablePath %q collides with a function.json", exe)
		}
		functions = append(functions, f.Path())
	}

	tmp, err := os.MkdirTemp("", "flowbricks-package-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(tmp)
	binary := filepath.Join(tmp, path.Base(exe))
	if err := build(ctx, opts.Root, opts.Pkg, binary); err != nil {
		return result{}, fmt.Errorf("building %s for %s: %w", opts.Pkg, handlerbuild.Deployment, err)
	}

	files := []source{{entry{"host.json", modeFile}, filepath.Join(opts.Root, "host.json")}}
	for _, f := range functions {
		files = append(files, source{entry{f, modeFile}, filepath.Join(opts.Root, filepath.FromSlash(f))})
	}
	files = append(files, source{entry{exe, modeExecutable}, binary})

	if err := os.MkdirAll(filepath.Dir(opts.Out), 0o755); err != nil {
		return result{}, err
	}
	zf, err := os.CreateTemp(filepath.Dir(opts.Out), ".flowbricks-*.zip.tmp")
	if err != nil {
		return result{}, err
	}
	defer os.Remove(zf.Name()) // no-op after the rename below
	zw := zip.NewWriter(zf)
	res := result{Path: opts.Out}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			zf.Close()
			return result{}, err
		}
		if err := addFile(zw, f.entry, f.src, opts.ModTime); err != nil {
			zf.Close()
			return result{}, err
		}
		res.Entries = append(res.Entries, f.entry)
	}
	if err := zw.Close(); err != nil {
		zf.Close()
		return result{}, err
	}
	if err := zf.Close(); err != nil {
		return result{}, err
	}
	if err := os.Rename(zf.Name(), opts.Out); err != nil {
		return result{}, err
	}
	st, err := os.Stat(opts.Out)
	if err != nil {
		return result{}, err
	}
	res.Size = st.Size()
	return res, nil
}

func addFile(zw *zip.Writer, e entry, src string, modTime time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	h := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: modTime}
	h.SetMode(e.Mode) // also marks the entry as made on Unix, which is what carries the mode
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("adding %s: %w", e.Name, err)
	}
	return nil
}

// deploymentBuild builds pkg the way Azure Functions runs it: handlerbuild's Deployment mode.
func deploymentBuild(ctx context.Context, root, pkg, output string) error {
	return handlerbuild.Build(ctx, handlerbuild.Options{RepoRoot: root, Package: pkg, Output: output, Mode: handlerbuild.Deployment})
}
