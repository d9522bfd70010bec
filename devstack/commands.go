package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
)

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("up", stderr)
	dir := fs.String("dir", ".devstack", "state folder (stack.json, ca.pem, handler.log)")
	port := fs.Int("port", 7071, "port of the Functions host stand-in")
	fixturePath := fs.String("fixture", "", "fixture JSON (default: the built-in one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := findRepoRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	logPath, _ := filepath.Abs(filepath.Join(*dir, "handler.log"))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()

	s, err := startStack(ctx, stackOptions{
		Dir: *dir, AppRoot: root, RepoRoot: root, Build: true,
		Listen: fmt.Sprintf("127.0.0.1:%d", *port), FixturePath: *fixturePath, HandlerLog: logFile,
	})
	if err != nil {
		return err
	}
	s.Info.HandlerLog = logPath
	if err := writeJSONFile(filepath.Join(*dir, "stack.json"), s.Info); err != nil {
		s.Close(context.Background())
		return err
	}
	fmt.Fprintf(stderr, "handler:     %s  (direct: %s, logs: %s)\n", s.Info.HandlerURL, s.Info.HandlerDirect, logPath)
	fmt.Fprintf(stderr, "fake Entra:  %s  (tenant %s)\n", s.Info.Authority, s.Info.TenantID)
	fmt.Fprintf(stderr, "workspace:   %s\n", s.Info.DatabricksHost)
	fmt.Fprintf(stderr, "state:       %s\n", filepath.Join(*dir, "stack.json"))
	fmt.Fprintln(stdout, "ready")
	<-ctx.Done()
	fmt.Fprintln(stderr, "stopping")
	return s.Close(context.Background())
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
	var info stackInfo
	raw, err := os.ReadFile(filepath.Join(*dir, "stack.json"))
	if err != nil {
		return fmt.Errorf("token: is `devstack up` running? %w", err)
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return fmt.Errorf("token: %s: %w", filepath.Join(*dir, "stack.json"), err)
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
// that follow Location and Retry-After, the final status and the notebook's exit value.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	port := fs.Int("port", 7071, "port of the Functions host stand-in")
	jobID := fs.Int64("job", 101, "job to run")
	user := fs.String("user", "alice", "who runs it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := findRepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "flowbricks-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logFile, err := os.Create(filepath.Join(dir, "handler.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	fmt.Fprintln(stdout, "== starting the local stack (fake Entra ID, fake Databricks workspace, Functions host stand-in)")
	s, err := startStack(ctx, stackOptions{Dir: dir, AppRoot: root, RepoRoot: root, Build: true,
		Listen: fmt.Sprintf("127.0.0.1:%d", *port), HandlerLog: logFile})
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
	entraStats := s.Entra.Stats()
	fmt.Fprintf(stdout, "== Entra ID token requests for the whole demo: %d (one On-Behalf-Of exchange, then cached)\n", entraStats.TokenRequests)
	if !run.Succeeded {
		return errors.New("the run did not succeed")
	}
	fmt.Fprintln(stdout, "== SUCCESS")
	return nil
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
