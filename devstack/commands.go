package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/stack"
)

// detachedEnv marks the background process `up --detach` starts.
const detachedEnv = "FLOWBRICKS_DEVSTACK_DETACHED"

func runUp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("up", stderr)
	dir := fs.String("dir", ".devstack", "state folder (lock, stack.json, ca.pem, handler.log)")
	port := fs.Int("port", 7071, "port of the Functions host stand-in (0: any free port)")
	fixturePath := fs.String("fixture", "", "fixture JSON (default: the built-in one)")
	appDir := fs.String("app", "", "Functions app folder with host.json and function-trigger/ (default: the repository)")
	noBuild := fs.Bool("no-build", false, "start the handler binary host.json names as it is, without building it")
	detached := fs.Bool("detach", false, "start the stack in the background and return once it is ready; stop it with `devstack down`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("up: unexpected arguments %q", fs.Args())
	}
	if *detached {
		var childArgs []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "detach" {
				childArgs = append(childArgs, "--"+f.Name+"="+f.Value.String())
			}
		})
		return upDetached(ctx, childArgs, *dir, *port, stdout, stderr)
	}

	// Refuse before touching any file: a second `up` must not rewrite the running stack's ca.pem
	// or truncate its handler.log.
	release, err := takeLock(*dir)
	if err != nil {
		return err
	}
	defer release()
	ln, err := listenPort(*port)
	if err != nil {
		return err
	}
	statePath := filepath.Join(*dir, stateFile)
	defer os.Remove(statePath) // before the lock goes (deferred calls run last-in first-out)
	if err := os.Remove(statePath); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		ln.Close()
		return err
	}
	appRoot, err := prepareApp(ctx, *appDir, !*noBuild, stderr)
	if err != nil {
		ln.Close()
		return err
	}
	logPath, err := filepath.Abs(filepath.Join(*dir, logFile))
	if err != nil {
		ln.Close()
		return err
	}
	log, err := os.Create(logPath)
	if err != nil {
		ln.Close()
		return err
	}
	defer log.Close()

	s, err := stack.Start(ctx, stack.Options{
		Dir: *dir, AppRoot: appRoot, Listener: ln, FixturePath: *fixturePath, HandlerLog: log, Getenv: getenv,
	})
	if err != nil {
		return err
	}
	s.Info.HandlerLog, s.Info.PID = logPath, os.Getpid()
	if err := writeJSONFile(statePath, s.Info); err != nil {
		s.Close(context.Background())
		return err
	}
	fmt.Fprintf(stderr, "handler:     %s  (direct: %s, logs: %s)\n", s.Info.HandlerURL, s.Info.HandlerDirect, logPath)
	fmt.Fprintf(stderr, "fake Entra:  %s  (tenant %s)\n", s.Info.Authority, s.Info.TenantID)
	fmt.Fprintf(stderr, "workspace:   %s\n", s.Info.DatabricksHost)
	fmt.Fprintf(stderr, "app callers: %s  (FLOWBRICKS_APP_CALLERS: `devstack token --app` works for these)\n", s.Info.AppCallers)
	fmt.Fprintf(stderr, "state:       %s  (stop with `devstack down --dir %s`)\n", statePath, *dir)
	fmt.Fprintln(stdout, "ready")
	<-ctx.Done()
	fmt.Fprintln(stderr, "stopping")
	return s.Close(context.Background())
}

// listenPort opens the stand-in's port on 127.0.0.1 once; the stack serves on this listener.
func listenPort(port int) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("port %d on 127.0.0.1 is taken (is a stack running? `devstack down`, or choose --port): %w", port, err)
	}
	return ln, nil
}

// prepareApp returns the Functions app folder (appDir, or the repository) and builds the
// handler into it when build is set, saying so first: a first build takes minutes.
func prepareApp(ctx context.Context, appDir string, build bool, stderr io.Writer) (string, error) {
	var root string
	if appDir == "" || build {
		var err error
		if root, err = repoRoot(); err != nil {
			return "", err
		}
	}
	if appDir == "" {
		appDir = root
	}
	appRoot, err := filepath.Abs(appDir)
	if err != nil {
		return "", err
	}
	if !build {
		return appRoot, nil
	}
	fmt.Fprintln(stderr, stack.BuildingLine)
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() { // a line now and then, so that a long first build is not mistaken for a hang
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(stderr, "  still building (%s)\n", time.Since(start).Round(time.Second))
			}
		}
	}()
	if err := stack.BuildHandler(ctx, root, appRoot); err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "built the handler in %s\n", time.Since(start).Round(100*time.Millisecond))
	return appRoot, nil
}

// upDetached starts `up` with childArgs as a background process of its own session and returns
// once the stack is ready, showing its progress meanwhile. Its output goes to devstack.log.
func upDetached(ctx context.Context, childArgs []string, dir string, port int, stdout, stderr io.Writer) error {
	if pid, err := lockHolder(dir); err != nil {
		return err
	} else if pid != 0 {
		return runningError(dir, pid)
	}
	if port != 0 {
		ln, err := listenPort(port)
		if err != nil {
			return err
		}
		ln.Close() // the background stack opens it again; it refuses if someone was quicker
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, upLogFile)
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, append([]string{"up"}, childArgs...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), detachedEnv+"=1")
	detach(cmd)
	err = cmd.Start()
	log.Close()
	if err != nil {
		return fmt.Errorf("starting the stack in the background: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	follow := &logFollower{path: logPath, out: stderr}
	for {
		follow.copy()
		if info, err := readInfo(dir); err == nil && info.PID == cmd.Process.Pid {
			fmt.Fprintf(stderr, "the stack runs in the background (pid %d, output in %s); stop it with `devstack down --dir %s`\n", info.PID, logPath, dir)
			fmt.Fprintln(stdout, "ready")
			return nil
		}
		select {
		case err := <-exited:
			follow.copy()
			return fmt.Errorf("the stack did not start (%v): %s", err, follow.lastLine())
		case <-ctx.Done():
			_ = terminate(cmd.Process.Pid)
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logFollower copies what is appended to a file.
type logFollower struct {
	path string
	out  io.Writer
	off  int64
	last string
}

func (f *logFollower) copy() {
	file, err := os.Open(f.path)
	if err != nil {
		return
	}
	defer file.Close()
	b, _ := io.ReadAll(io.NewSectionReader(file, f.off, 1<<40))
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 { // whole lines only
		b = b[:i+1]
		f.off += int64(len(b))
		f.out.Write(b)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		f.last = lines[len(lines)-1]
	}
}

func (f *logFollower) lastLine() string { return strings.TrimPrefix(f.last, "devstack: ") }

// runDown stops the stack running in a state folder and everything it started, and removes its
// state. Without a running stack it only removes stale state.
func runDown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("down", stderr)
	dir := fs.String("dir", ".devstack", "state folder of the stack to stop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("down: unexpected arguments %q", fs.Args())
	}
	pid, err := lockHolder(*dir)
	if err != nil {
		return err
	}
	if pid == 0 {
		removeState(*dir)
		fmt.Fprintf(stdout, "no stack is running in %s\n", *dir)
		return nil
	}
	leader := groupLeader(pid)
	if err := terminate(pid); err != nil {
		return fmt.Errorf("stopping pid %d: %w", pid, err)
	}
	for alive(pid) { // it stops the handler first, within its own bound
		select {
		case <-ctx.Done():
			return fmt.Errorf("the stack (pid %d) is still stopping: %w", pid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if leader {
		terminateGroup(pid) // anything it started and left behind
	}
	removeState(*dir)
	fmt.Fprintf(stdout, "stopped the stack in %s (pid %d)\n", *dir, pid)
	return nil
}

// removeState removes what describes a running stack; ca.pem and the logs stay for reading.
func removeState(dir string) {
	for _, f := range []string{stateFile, lockFile} {
		_ = os.Remove(filepath.Join(dir, f))
	}
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", stderr)
	dir := fs.String("dir", ".devstack", "state folder of a running `devstack up`")
	user := fs.String("user", "", "user name from the fixture (alice, bob, carol, …)")
	app := fs.String("app", "", "client id of a fixture app: an app-only token instead of a user token")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	version := fs.Int("version", 2, "token version (1 or 2)")
	audience := fs.String("audience", "", "audience (default: the flowbricks API)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*user == "") == (*app == "") {
		return errors.New("token: give exactly one of --user NAME or --app CLIENT_ID")
	}
	if pid, err := lockHolder(*dir); err != nil {
		return err
	} else if pid == 0 {
		return fmt.Errorf("token: no stack is running in %s; start one with `devstack up --detach`", *dir)
	}
	info, err := readInfo(*dir)
	if err != nil {
		return fmt.Errorf("token: the stack in %s is not ready yet: %w", *dir, err)
	}
	client, err := clientTrusting(info.CAFile)
	if err != nil {
		return err
	}
	req := map[string]any{"ttl_seconds": int(ttl.Seconds()), "version": *version}
	if *user != "" {
		req["user"] = *user
	} else {
		req["app"] = *app
	}
	if *audience != "" {
		req["audience"] = *audience
	}
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := postJSON(ctx, client, info.Authority+"/devstack/token", req, &resp); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(stdout, resp.AccessToken)
	return nil
}

func clientTrusting(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

func postJSON(ctx context.Context, client *http.Client, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}

// runDemo tells the whole story: a user's token, run-now with the asynchronous pattern, polls
// that follow Location and Retry-After, the final status and the notebook's exit value; then SQL
// as the signed-in user: alice's rows, and bob refused by Unity Catalog where his grants end.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	port := fs.Int("port", 7071, "port of the Functions host stand-in (0: any free port)")
	jobID := fs.Int64("job", 101, "job to run")
	user := fs.String("user", "alice", "who runs the job (the SQL part always shows alice and bob)")
	appDir := fs.String("app", "", "Functions app folder with host.json and function-trigger/ (default: the repository)")
	noBuild := fs.Bool("no-build", false, "start the handler binary host.json names as it is, without building it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected arguments %q", fs.Args())
	}
	ln, err := listenPort(*port)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "flowbricks-demo-")
	if err != nil {
		ln.Close()
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(stdout, "== starting the local stack (fake Entra ID, fake Databricks workspace, Functions host stand-in)")
	appRoot, err := prepareApp(ctx, *appDir, !*noBuild, stdout)
	if err != nil {
		ln.Close()
		return err
	}
	s, err := stack.Start(ctx, stack.Options{Dir: dir, AppRoot: appRoot, Listener: ln, Getenv: getenv})
	if err != nil {
		return err
	}
	defer s.Close(context.Background())
	fmt.Fprintf(stdout, "   handler %s, Entra %s, workspace %s\n", s.Info.HandlerURL, s.Info.Authority, s.Info.DatabricksHost)

	token, err := s.Entra.MintUserToken(*user, fakeentra.MintOptions{TTL: time.Hour})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "== %s signs in: an Entra ID access token for %s (%d bytes, not shown)\n", *user, s.Info.APIAudience, len(token))

	demo := demoClient{base: s.Info.HandlerURL, token: token, http: &http.Client{Timeout: 70 * time.Second}, out: stdout}
	url := fmt.Sprintf("%s/api/jobs/run-now?wait=true&include_output=true", s.Info.HandlerURL)
	fmt.Fprintf(stdout, "== POST /api/jobs/run-now?wait=true  {\"job_id\": %d}\n", *jobID)
	status, body, hdr, err := demo.do(ctx, http.MethodPost, url, fmt.Sprintf(`{"job_id": %d}`, *jobID))
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return fmt.Errorf("run-now answered %d, want 202: %s", status, body)
	}
	final, err := demo.poll(ctx, hdr, body)
	if err != nil {
		return err
	}
	var run struct {
		Succeeded bool `json:"succeeded"`
		Output    struct {
			Result string `json:"result"`
		} `json:"output"`
	}
	if err := json.Unmarshal(final, &run); err != nil {
		return fmt.Errorf("final status is not JSON: %w", err)
	}
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, final, "", "  ")
	fmt.Fprintf(stdout, "== final run status\n%s\n", pretty.String())
	if run.Output.Result != "" {
		fmt.Fprintf(stdout, "== notebook result: %s\n", run.Output.Result)
	}
	if !run.Succeeded {
		return errors.New("the run did not succeed")
	}
	if err := demoSQL(ctx, s, demo, *user); err != nil {
		return err
	}
	entraStats := s.Entra.Stats()
	fmt.Fprintf(stdout, "== Entra ID token requests for the whole demo: %d (one On-Behalf-Of exchange per user token, then cached)\n", entraStats.TokenRequests)
	fmt.Fprintln(stdout, "== SUCCESS")
	return nil
}

// The demo's query reads both fixture tables: orders per region, express orders only (a
// parameter, never spliced into the text). Written in the SQL both Databricks and the local
// stack's SQLite-backed warehouse understand.
const (
	demoWarehouse = "Shared SQL"
	demoOrders    = "SELECT r.region, r.manager, COUNT(*) AS orders, SUM(o.quantity) AS items " +
		"FROM main.sales.orders AS o JOIN main.sales.regions AS r ON o.region = r.region " +
		"WHERE o.express = :express GROUP BY r.region, r.manager ORDER BY r.region"
	demoRegions = "SELECT region, manager FROM main.sales.regions ORDER BY region"
	// sqlStateNoPrivilege is the SQL state of Unity Catalog's INSUFFICIENT_PERMISSIONS.
	sqlStateNoPrivilege = "42501"
)

// demoStatement is the part of flowbricks' statement answer the demo shows.
type demoStatement struct {
	State     string `json:"state"`
	Succeeded bool   `json:"succeeded"`
	Columns   []struct {
		Key string `json:"key"`
	} `json:"columns"`
	Rows  []map[string]json.RawMessage `json:"rows"`
	Error *struct {
		Message  string `json:"message"`
		SQLState string `json:"sql_state"`
	} `json:"error"`
}

// demoSQL runs SQL as the signed-in user: alice's query of orders and regions comes back as rows;
// bob, who may read regions only, is refused by Unity Catalog on orders and reads regions.
// client is signed in as signedIn already.
func demoSQL(ctx context.Context, s *stack.Stack, client demoClient, signedIn string) error {
	out := client.out
	as := func(user string) (demoClient, error) {
		if user == signedIn {
			return client, nil
		}
		token, err := s.Entra.MintUserToken(user, fakeentra.MintOptions{TTL: time.Hour})
		c := client
		c.token = token
		return c, err
	}
	alice, err := as("alice")
	if err != nil {
		return err
	}
	bob, err := as("bob")
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "== SQL as the signed-in user, on the %q warehouse\n", demoWarehouse)
	fmt.Fprintf(out, "== alice: POST /api/sql/statements  orders per region, express orders only\n   %s\n", demoOrders)
	st, err := alice.statement(ctx, demoOrders, map[string]any{"name": "express", "value": true, "type": "BOOLEAN"})
	if err != nil {
		return err
	}
	if !st.Succeeded || len(st.Rows) == 0 {
		return fmt.Errorf("alice's query ended %s with %d rows, want SUCCEEDED with rows", st.State, len(st.Rows))
	}
	printRows(out, st)

	fmt.Fprintln(out, "== bob (may read main.sales.regions, not main.sales.orders): the same query")
	if st, err = bob.statement(ctx, demoOrders, map[string]any{"name": "express", "value": true, "type": "BOOLEAN"}); err != nil {
		return err
	}
	if st.State != "FAILED" || st.Error == nil || st.Error.SQLState != sqlStateNoPrivilege {
		return fmt.Errorf("bob's query of orders ended %s, want FAILED with SQL state %s (Unity Catalog's refusal)", st.State, sqlStateNoPrivilege)
	}
	// Databricks' message, as the flow receives it in error.message (it spans lines).
	fmt.Fprintf(out, "   %s, SQL state %s:\n   %s\n", st.State, st.Error.SQLState, strings.ReplaceAll(st.Error.Message, "\n", "\n   "))

	fmt.Fprintf(out, "== bob: POST /api/sql/statements\n   %s\n", demoRegions)
	if st, err = bob.statement(ctx, demoRegions); err != nil {
		return err
	}
	if !st.Succeeded || len(st.Rows) == 0 {
		return fmt.Errorf("bob's query of regions ended %s with %d rows, want SUCCEEDED with rows", st.State, len(st.Rows))
	}
	printRows(out, st)
	return nil
}

// statement runs text on the demo's warehouse without wait: the demo's statements answer within
// the few seconds flowbricks lets Databricks wait.
func (d demoClient) statement(ctx context.Context, text string, params ...map[string]any) (demoStatement, error) {
	var st demoStatement
	body := map[string]any{"statement": text, "warehouse_name": demoWarehouse}
	if len(params) > 0 {
		body["parameters"] = params
	}
	b, err := json.Marshal(body)
	if err != nil {
		return st, err
	}
	status, answer, _, err := d.do(ctx, http.MethodPost, d.base+"/api/sql/statements", string(b))
	if err != nil {
		return st, err
	}
	if status != http.StatusOK {
		return st, fmt.Errorf("POST /api/sql/statements answered %d, want 200: %s", status, answer)
	}
	if err := json.Unmarshal(answer, &st); err != nil {
		return st, fmt.Errorf("the statement's answer is not JSON: %w", err)
	}
	return st, nil
}

// printRows prints a statement's rows as a small aligned table, columns in the result's order.
func printRows(out io.Writer, st demoStatement) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	cells := make([]string, len(st.Columns))
	for i, c := range st.Columns {
		cells[i] = c.Key
	}
	fmt.Fprintln(tw, "   "+strings.Join(cells, "\t"))
	for _, row := range st.Rows {
		for i, c := range st.Columns {
			cells[i] = cellText(row[c.Key])
		}
		fmt.Fprintln(tw, "   "+strings.Join(cells, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(out, "   (%d rows)\n", len(st.Rows))
}

// cellText shows a typed value: strings without quotes, null as NULL, anything else as compact JSON.
func cellText(v json.RawMessage) string {
	var s string
	switch {
	case len(v) == 0 || string(v) == "null":
		return "NULL"
	case json.Unmarshal(v, &s) == nil:
		return s
	}
	var compact bytes.Buffer
	if json.Compact(&compact, v) != nil {
		return string(v)
	}
	return compact.String()
}

type demoClient struct {
	base, token string
	http        *http.Client
	out         io.Writer
}

func (d demoClient) do(ctx context.Context, method, url, body string) (int, []byte, http.Header, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, resp.Header, err
}

// poll follows the asynchronous pattern the way Logic Apps does: GET Location after Retry-After
// seconds until the answer is not 202. Bounded by count and by ctx.
func (d demoClient) poll(ctx context.Context, hdr http.Header, body []byte) ([]byte, error) {
	const maxPolls = 120
	last := stateOf(body)
	fmt.Fprintf(d.out, "   202 Accepted  state=%s  Location=%s  Retry-After=%s\n", last, hdr.Get("Location"), hdr.Get("Retry-After"))
	for range maxPolls {
		wait, _ := strconv.Atoi(hdr.Get("Retry-After"))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(max(wait, 1)) * time.Second):
		}
		status, b, h, err := d.do(ctx, http.MethodGet, hdr.Get("Location"), "")
		if err != nil {
			return nil, err
		}
		if st := stateOf(b); st != last {
			fmt.Fprintf(d.out, "   %d  state=%s\n", status, st)
			last = st
		}
		if status != http.StatusAccepted {
			if status != http.StatusOK && status != http.StatusFailedDependency {
				return nil, fmt.Errorf("poll answered %d: %s", status, b)
			}
			return b, nil
		}
		hdr = h
	}
	return nil, fmt.Errorf("the run did not finish after %d polls", maxPolls)
}

func stateOf(body []byte) string {
	var s struct {
		State  string `json:"state"`
		Result string `json:"result"`
	}
	_ = json.Unmarshal(body, &s)
	if s.Result != "" {
		return s.State + "/" + s.Result
	}
	return s.State
}
