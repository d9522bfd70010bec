package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/devstack/stack/stacktest"
	"github.com/flowbricks/flowbricks/internal/testsupport"
)

// appRoot is a Functions app (host.json, function-trigger/, the handler binary) built once for
// every test here, so that no test touches the repository's bin/; buildOutput is what the build
// printed.
var (
	appRoot     string
	buildOutput string
)

func TestMain(m *testing.M) {
	if os.Getenv(detachedEnv) != "" {
		// `up --detach` started this test binary as the background stack: be the devstack command.
		main()
		return
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flowbricks-devstack-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := repoRoot()
	if err == nil {
		appRoot = filepath.Join(dir, "app")
		err = stack.CopyApp(root, appRoot)
	}
	if err == nil {
		var out bytes.Buffer
		_, err = prepareApp(context.Background(), appRoot, true, &out)
		buildOutput = out.String()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func testContext(t *testing.T) context.Context { return testsupport.Context(t) }

// syncBuffer is written by the command while the test reads it.
type syncBuffer = stacktest.Buffer

// upInBackground runs `devstack up args…` in a goroutine, as a person would in a terminal, and
// returns once it printed "ready"; stop cancels it (Ctrl-C) and returns its error.
func upInBackground(t *testing.T, getenv func(string) string, args ...string) (stop func() error, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"up"}, args...), getenv, stdout, stderr) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	wait := testContext(t)
	for !strings.Contains(stdout.String(), "ready") {
		select {
		case err := <-done:
			t.Fatalf("up returned before it was ready: %v\n%s", err, stderr)
		case <-wait.Done():
			t.Fatalf("up was not ready by the test's deadline:\n%s", stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return stop, stderr
}

// devstackCmd runs one devstack command to its end.
func devstackCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(testContext(t), args, os.Getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// get calls the stack with a bearer token and returns the status.
func get(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func mustInfo(t *testing.T, dir string) stack.Info {
	t.Helper()
	info, err := readInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestTheBuildSaysSoFirst(t *testing.T) {
	if !strings.HasPrefix(buildOutput, stack.BuildingLine+"\n") || !strings.Contains(buildOutput, "built the handler in ") {
		t.Fatalf("the build printed %q", buildOutput)
	}
}

// Exported shell variables do not reach the handler: with a certificate path that does not exist
// and a Databricks token in the environment, the handler starts with the stack's settings only.
// A second `up` in the same folder, or on the same port, is refused before it touches any file.
func TestUpIsolatedAndAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	leaky := map[string]string{
		"AZURE_CLIENT_CERTIFICATE_PATH": "/nonexistent/flowbricks.pem",
		"AZURE_CLIENT_SECRET":           "not-the-stack-secret",
		"DATABRICKS_TOKEN":              "dapi-not-a-real-token",
		"DATABRICKS_HOST":               "https://adb-0.0.azuredatabricks.net",
	}
	for k, v := range leaky {
		t.Setenv(k, v)
	}
	getenv := func(k string) string {
		if v, ok := leaky[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	stop, _ := upInBackground(t, getenv, "--dir", dir, "--port", "0", "--app", appRoot, "--no-build")
	info := mustInfo(t, dir)
	token, _, err := devstackCmd(t, "token", "--dir", dir, "--user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if st := get(t, info.HandlerURL+"/api/jobs?name=daily-sales-refresh", strings.TrimSpace(token)); st != 200 {
		t.Fatalf("GET /api/jobs with a token from `devstack token`: %d", st)
	}

	ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	logBefore, _ := os.Stat(filepath.Join(dir, logFile))
	port := strings.TrimPrefix(info.HandlerURL, "http://127.0.0.1:")
	other := filepath.Join(t.TempDir(), "other")
	tests := []struct {
		name    string
		args    []string
		want    string
		emptyIn string // a folder that must hold no stack files afterwards
	}{
		{"same folder", []string{"up", "--dir", dir, "--port", "0", "--app", appRoot, "--no-build"}, "a stack is already running in " + dir, ""},
		{"same folder, detached", []string{"up", "--detach", "--dir", dir, "--port", "0", "--app", appRoot, "--no-build"}, "a stack is already running in " + dir, ""},
		{"same port", []string{"up", "--dir", other, "--port", port, "--app", appRoot, "--no-build"}, "port " + port + " on 127.0.0.1 is taken", other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := devstackCmd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if again, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(again, ca) {
				t.Error("the running stack's ca.pem was rewritten")
			}
			if logNow, err := os.Stat(filepath.Join(dir, logFile)); err != nil || logNow.Size() < logBefore.Size() {
				t.Error("the running stack's handler.log was truncated")
			}
			if tt.emptyIn != "" {
				entries, _ := os.ReadDir(tt.emptyIn)
				if len(entries) != 0 {
					t.Errorf("%s holds %v", tt.emptyIn, entries)
				}
			}
		})
	}
	if st := get(t, info.HandlerURL+"/api/jobs?name=daily-sales-refresh", strings.TrimSpace(token)); st != 200 {
		t.Fatalf("the first stack after the refused ones: %d", st)
	}

	if err := stop(); err != nil {
		t.Fatalf("up: %v", err)
	}
	for _, f := range []string{stateFile, lockFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the stack stopped", f)
		}
	}
}

// A lock left by a process that is gone (a stack that was killed) is taken over.
func TestUpTakesOverAStaleLock(t *testing.T) {
	dir := t.TempDir()
	const deadPID = 1 << 22 // above the kernel's pid_max limit: no process has it
	if err := os.WriteFile(filepath.Join(dir, lockFile), []byte(fmt.Sprintln(deadPID)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeJSONFile(filepath.Join(dir, stateFile), stack.Info{HandlerURL: "http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := devstackCmd(t, "token", "--dir", dir, "--user", "alice"); err == nil || !strings.Contains(err.Error(), "no stack is running") {
		t.Fatalf("token with a stale stack.json: %v", err)
	}
	stop, _ := upInBackground(t, os.Getenv, "--dir", dir, "--port", "0", "--app", appRoot, "--no-build")
	if pid, _ := lockHolder(dir); pid != os.Getpid() {
		t.Errorf("the lock names %d, want this process %d", pid, os.Getpid())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// `up --detach` returns once the stack is ready; `token --app` leads to a 200 (the stack
// allow-lists the fixture's logic app); `down` stops the stack and its handler and removes the
// state.
func TestDetachTokenDown(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, err := devstackCmd(t, "up", "--detach", "--dir", dir, "--port", "0", "--app", appRoot, "--no-build")
	if err != nil || strings.TrimSpace(stdout) != "ready" {
		t.Fatalf("up --detach: %v, stdout %q\n%s", err, stdout, stderr)
	}
	t.Cleanup(func() { _, _, _ = devstackCmd(t, "down", "--dir", dir) })
	info := mustInfo(t, dir)
	if info.PID == os.Getpid() || !alive(info.PID) || !alive(info.HandlerPID) {
		t.Fatalf("the stack (pid %d) and its handler (pid %d) are not running in the background", info.PID, info.HandlerPID)
	}
	fx, err := stack.LoadFixture("")
	if err != nil {
		t.Fatal(err)
	}
	logicApp, _ := fx.App(stack.DefaultAppCaller)
	for _, who := range [][]string{{"--user", "alice"}, {"--app", logicApp.ClientID}} {
		token, _, err := devstackCmd(t, append([]string{"token", "--dir", dir}, who...)...)
		if err != nil {
			t.Fatal(err)
		}
		if st := get(t, info.HandlerURL+"/api/jobs?name=daily-sales-refresh", strings.TrimSpace(token)); st != 200 {
			t.Errorf("token %v: GET /api/jobs = %d, want 200", who, st)
		}
	}

	out, _, err := devstackCmd(t, "down", "--dir", dir)
	if err != nil || !strings.Contains(out, "stopped the stack") {
		t.Fatalf("down: %v %q", err, out)
	}
	if alive(info.PID) || alive(info.HandlerPID) {
		t.Errorf("after down: stack alive %v, handler alive %v", alive(info.PID), alive(info.HandlerPID))
	}
	for _, f := range []string{stateFile, lockFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after down", f)
		}
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(info.HandlerURL, "http://"))
	if err != nil {
		t.Errorf("the stack's port is still taken after down: %v", err)
	} else {
		ln.Close()
	}
	if out, _, err := devstackCmd(t, "down", "--dir", dir); err != nil || !strings.Contains(out, "no stack is running") {
		t.Errorf("a second down: %v %q", err, out)
	}
}

// A handler that exits at start-up is explained by its own last line, not only by its exit status.
func TestAHandlerThatCannotStartSaysWhy(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	// The same app with customHandler.port fixed to a port that is taken: the handler cannot listen.
	app := t.TempDir()
	if err := stack.CopyApp(appRoot, app); err != nil {
		t.Fatal(err)
	}
	exe, _ := stack.ExecutablePath(appRoot)
	appExe, _ := stack.ExecutablePath(app)
	if err := os.MkdirAll(filepath.Dir(appExe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, appExe); err != nil {
		t.Fatal(err)
	}
	hostJSON, _ := os.ReadFile(filepath.Join(app, "host.json"))
	hostJSON = bytes.Replace(hostJSON, []byte(`"customHandler": {`), fmt.Appendf(nil, `"customHandler": {"port": %d,`, port), 1)
	if err := os.WriteFile(filepath.Join(app, "host.json"), hostJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = run(testContext(t), []string{"up", "--dir", t.TempDir(), "--port", "0", "--app", app, "--no-build"}, os.Getenv, &stdout, &stderr)
	want := fmt.Sprintf("the handler did not start: flowbricks: listen on FUNCTIONS_CUSTOMHANDLER_PORT port %d", port)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want the handler's own reason %q", err, want)
	}
}

// TestDemoTellsTheWholeStory runs `devstack demo` as a person would and reads what it shows: the
// job's run to SUCCESS, alice's SQL rows as a table, bob refused by Unity Catalog on orders and
// reading regions. It returns nil only when all of that happened.
func TestDemoTellsTheWholeStory(t *testing.T) {
	stdout, _, err := devstackCmd(t, "demo", "--port", "0", "--app", appRoot, "--no-build")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, stdout)
	}
	for _, want := range []string{
		"== final run status",
		"   region  manager      orders  items\n   AMER    Alan Ortiz   ",
		"   FAILED, SQL state 42501:\n   [INSUFFICIENT_PERMISSIONS]",
		"   region  manager\n   AMER    Alan Ortiz\n",
		"== SUCCESS\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestPrintRowsAlignsTypedValues(t *testing.T) {
	var st demoStatement
	if err := json.Unmarshal([]byte(`{"state": "SUCCEEDED", "succeeded": true,
		"columns": [{"key": "order_id"}, {"key": "amount"}, {"key": "express"}, {"key": "customer"}, {"key": "note"}],
		"rows": [{"order_id": 1001, "amount": "5.00", "express": true, "customer": {"id": 1, "tier": "gold"}, "note": null},
		         {"order_id": "9007199254741192", "amount": "801.63", "express": false, "customer": null, "note": "a, b"}]}`), &st); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printRows(&out, st)
	want := "" +
		"   order_id          amount  express  customer                note\n" +
		"   1001              5.00    true     {\"id\":1,\"tier\":\"gold\"}  NULL\n" +
		"   9007199254741192  801.63  false    NULL                    a, b\n" +
		"   (2 rows)\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
