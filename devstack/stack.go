package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	"github.com/flowbricks/flowbricks/devstack/hoststandin"
	"github.com/flowbricks/flowbricks/devstack/pki"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
)

//go:embed fixture.json
var defaultFixture []byte

// fixture is the tenant, the users and the workspace the local stack simulates.
type fixture struct {
	Entra     fakeentra.Config     `json:"entra"`
	Workspace fakeworkspace.Config `json:"workspace"`
}

func loadFixture(path string) (fixture, error) {
	raw := defaultFixture
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fixture{}, err
		}
		raw = b
	}
	var f fixture
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fixture{}, fmt.Errorf("fixture: %w", err)
	}
	return f, nil
}

// stackOptions says where and how to run the stack.
type stackOptions struct {
	Dir         string // state folder: stack.json, ca.pem, handler.log
	AppRoot     string // folder with host.json and function-trigger/ (the repo root for up/demo)
	RepoRoot    string // where ./handler is built from
	Build       bool   // build the handler to the path host.json names before starting
	Listen      string // the host stand-in's address, 127.0.0.1:7071 by default
	FixturePath string // "" = the embedded fixture
	HandlerLog  io.Writer
	// ExtraEnv is appended to the handler's environment (tests use it to change settings).
	ExtraEnv []string
	// Mutate lets tests adjust the fixture before the fakes start.
	Mutate func(*fixture)
}

// stackInfo is written to stack.json: every URL and id a person or a script needs.
type stackInfo struct {
	HandlerURL     string `json:"handler_url"`
	HandlerDirect  string `json:"handler_direct_url"`
	Authority      string `json:"authority"`
	TenantID       string `json:"tenant_id"`
	APIClientID    string `json:"api_client_id"`
	APIAudience    string `json:"api_audience"`
	APIScope       string `json:"api_scope"`
	DatabricksHost string `json:"databricks_host"`
	CAFile         string `json:"ca_file"`
	HandlerLog     string `json:"handler_log,omitempty"`
	HandlerPID     int    `json:"handler_pid"`
}

// stack is the running local stack.
type stack struct {
	Info      stackInfo
	Fixture   fixture
	CA        *pki.CA
	Entra     *fakeentra.Server
	Workspace *fakeworkspace.Server
	Host      *hoststandin.Host
	servers   []*http.Server
}

func startStack(ctx context.Context, o stackOptions) (_ *stack, err error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:7071"
	}
	if strings.HasSuffix(o.Listen, ":0") {
		// The handler must know its public URL before it starts, so pick the port now.
		if o.Listen, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	fx, err := loadFixture(o.FixturePath)
	if err != nil {
		return nil, err
	}
	if o.Mutate != nil {
		o.Mutate(&fx)
	}
	s := &stack{Fixture: fx}
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	if s.CA, err = pki.NewCA(); err != nil {
		return nil, err
	}
	caFile, err := filepath.Abs(filepath.Join(o.Dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	if err := s.CA.WritePEM(caFile); err != nil {
		return nil, err
	}

	entraLn, entraURL, err := s.listen()
	if err != nil {
		return nil, err
	}
	fx.Entra.BaseURL = entraURL
	if s.Entra, err = fakeentra.New(fx.Entra); err != nil {
		return nil, fmt.Errorf("fake Entra ID: %w", err)
	}
	if err := s.serve(entraLn, s.Entra); err != nil {
		return nil, err
	}

	wsLn, wsURL, err := s.listen()
	if err != nil {
		return nil, err
	}
	fx.Workspace.HostURL = wsURL
	fx.Workspace.Verify = func(token string) (fakeworkspace.Principal, error) {
		c, err := s.Entra.Verify(token, azure.DatabricksAppID)
		if errors.Is(err, fakeentra.ErrTokenExpired) {
			return fakeworkspace.Principal{}, fmt.Errorf("%w: %w", fakeworkspace.ErrTokenExpired, err)
		}
		if err != nil {
			return fakeworkspace.Principal{}, err
		}
		return fakeworkspace.Principal{UPN: c.UPN, OID: c.OID, AppID: c.AppID, App: c.IsApp, ExpiresAt: c.ExpiresAt}, nil
	}
	if s.Workspace, err = fakeworkspace.New(fx.Workspace); err != nil {
		return nil, fmt.Errorf("fake workspace: %w", err)
	}
	if err := s.serve(wsLn, s.Workspace); err != nil {
		return nil, err
	}

	if o.Build {
		if err := buildHandler(ctx, o.RepoRoot, o.AppRoot); err != nil {
			return nil, err
		}
	}
	env := []string{
		config.EnvTenantID + "=" + fx.Entra.TenantID,
		config.EnvClientID + "=" + fx.Entra.API.ClientID,
		config.EnvClientSecret + "=" + fx.Entra.API.ClientSecret,
		config.EnvAuthorityHost + "=" + entraURL + "/",
		config.EnvDatabricksHost + "=" + wsURL,
		config.EnvPublicURL + "=http://" + o.Listen,
		config.EnvPollSeconds + "=1",
		// The fake mints user tokens for this client unless told otherwise, as if every flow used
		// the custom connector; tokens of other clients are refused, as in a deployment that lists
		// its clients (docs/deploy.md#client-applications-allowed-to-act-for-users).
		config.EnvClientApps + "=" + fakeentra.DefaultClientAppID,
		config.EnvLogFormat + "=json",
		"SSL_CERT_FILE=" + caFile, // the standard way Go on Linux trusts an extra CA
	}
	env = append(env, o.ExtraEnv...)
	handlerLog := o.HandlerLog
	if handlerLog == nil {
		handlerLog = io.Discard
	}
	if s.Host, err = hoststandin.Start(ctx, hoststandin.Options{
		AppRoot: o.AppRoot, Listen: o.Listen, Env: env, Stdout: handlerLog, Stderr: handlerLog,
	}); err != nil {
		return nil, fmt.Errorf("host stand-in: %w", err)
	}
	s.Info = stackInfo{
		HandlerURL:     s.Host.URL(),
		HandlerDirect:  s.Host.HandlerURL(),
		Authority:      entraURL,
		TenantID:       fx.Entra.TenantID,
		APIClientID:    fx.Entra.API.ClientID,
		APIAudience:    fx.Entra.API.AppIDURI,
		APIScope:       fx.Entra.API.AppIDURI + "/" + fx.Entra.API.Scope,
		DatabricksHost: wsURL,
		CAFile:         caFile,
		HandlerPID:     s.Host.Pid(),
	}
	s.Fixture = fx
	return s, writeJSONFile(filepath.Join(o.Dir, "stack.json"), s.Info)
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *stack) listen() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return ln, "https://" + ln.Addr().String(), nil
}

func (s *stack) serve(ln net.Listener, h http.Handler) error {
	tlsConfig, err := s.CA.ServerTLSConfig()
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: h, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return nil
}

// Close stops the handler (through the host stand-in) and both fakes.
func (s *stack) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var errs []error
	if s.Host != nil {
		errs = append(errs, s.Host.Close(ctx))
	}
	for _, srv := range s.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// httpClient trusts the stack's CA, for talking to the fakes.
func (s *stack) httpClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: s.CA.ClientTLSConfig()}}
}

// buildHandler builds ./handler to the executable path host.json names, below appRoot.
func buildHandler(ctx context.Context, repoRoot, appRoot string) error {
	exe, err := executablePath(appRoot)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", exe, "./handler")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the handler: %w\n%s", err, out)
	}
	return nil
}

// executablePath reads host.json's customHandler.description.defaultExecutablePath.
func executablePath(appRoot string) (string, error) {
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

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// findRepoRoot walks up from the working directory to the folder holding go.mod and host.json.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 20 {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "host.json")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("run devstack inside the flowbricks repository (no go.mod with host.json found above the working directory)")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
