package hoststandin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/testsupport"
)

// echoBinary is testdata/echohandler, built once by TestMain.
var echoBinary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hoststandin-echo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	echoBinary = filepath.Join(dir, "echohandler")
	build := exec.Command("go", "build", "-o", echoBinary, "./testdata/echohandler")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building testdata/echohandler:", err)
		return 1
	}
	return m.Run()
}

// echo mirrors testdata/echohandler's answer.
type echo struct {
	Method           string              `json:"method"`
	Path             string              `json:"path"`
	EscapedPath      string              `json:"escaped_path"`
	RawQuery         string              `json:"raw_query"`
	Query            map[string][]string `json:"query"`
	Host             string              `json:"host"`
	Header           http.Header         `json:"header"`
	Body             string              `json:"body"`
	ContentLength    int64               `json:"content_length"`
	TransferEncoding []string            `json:"transfer_encoding"`
	Env              map[string]string   `json:"env"`
	Args             []string            `json:"args"`
	Dir              string              `json:"dir"`
	ReadyProbes      int64               `json:"ready_probes"`
}

// appSpec describes a temporary Functions app around the echo handler.
type appSpec struct {
	args          []string          // customHandler.description.arguments
	workingDir    string            // customHandler.description.workingDirectory
	section       string            // "customHandler" (default) or "httpWorker"
	forwarding    *bool             // enableForwardingHttpRequest (default true)
	extraHostJSON map[string]any    // merged into host.json
	functions     map[string]string // folder -> function.json text; default: one catch-all function
}

const catchAllFunction = `{"bindings":[
 {"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get","post"],"route":"{*path}"},
 {"type":"http","direction":"out","name":"res"}]}`

// writeApp creates an app root with bin/echohandler (a symlink to the built echo handler), host.json and
// the function folders, and returns the root.
func writeApp(t *testing.T, spec appSpec) string {
	t.Helper()
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
	must(t, os.Symlink(echoBinary, filepath.Join(root, "bin", "echohandler")))
	if spec.workingDir != "" {
		must(t, os.MkdirAll(filepath.Join(root, spec.workingDir), 0o755))
	}
	section := spec.section
	if section == "" {
		section = "customHandler"
	}
	forwarding := true
	if spec.forwarding != nil {
		forwarding = *spec.forwarding
	}
	handler := map[string]any{
		"description": map[string]any{
			"defaultExecutablePath": "bin/echohandler",
			"workingDirectory":      spec.workingDir,
			"arguments":             append([]string{}, spec.args...),
		},
	}
	if section == "customHandler" {
		handler["enableForwardingHttpRequest"] = forwarding
	}
	host := map[string]any{"version": "2.0", section: handler}
	for k, v := range spec.extraHostJSON {
		host[k] = v
	}
	data, err := json.Marshal(host)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(root, "host.json"), data, 0o644))
	functions := spec.functions
	if functions == nil {
		functions = map[string]string{"function-trigger": catchAllFunction}
	}
	for name, text := range functions {
		must(t, os.MkdirAll(filepath.Join(root, name), 0o755))
		must(t, os.WriteFile(filepath.Join(root, name, "function.json"), []byte(text), 0o644))
	}
	return root
}

// startHost starts a stand-in on a free loopback port and closes it when the test ends.
func startHost(t *testing.T, o Options) *Host {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// noRedirects is a client that shows 3xx answers as they are.
func noRedirects() *http.Client {
	return &http.Client{
		Timeout:       20 * time.Second,
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// readEcho decodes the echo handler's answer.
func readEcho(t *testing.T, resp *http.Response, body []byte) echo {
	t.Helper()
	if resp.Header.Get("X-Handler") != "echohandler" {
		t.Fatalf("answer did not come from the echo handler: %d %q", resp.StatusCode, body)
	}
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode echo %q: %v", body, err)
	}
	return e
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a child process and the stand-in.
type syncBuffer = testsupport.Buffer

// processGone reports whether no process with this pid exists any more (it has exited and been reaped).
func processGone(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	defer p.Release()
	return p.Signal(syscall.Signal(0)) != nil
}

// waitUntil polls cond every 10 ms for at most limit (a bound, not an assertion about speed).
func waitUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := noRedirects().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp, body
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
