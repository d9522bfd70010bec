// Package stack starts and stops the local flowbricks stack: a fake Entra ID and a fake Azure
// Databricks workspace (HTTPS, with their own CA), and the real handler behind a stand-in for the
// Azure Functions host — either the binary host.json names, started the way `func start` starts
// it, or internal/app served in this process (tests: nothing to build, every test its own
// handler). The devstack command and the end-to-end tests both use it.
package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	"github.com/flowbricks/flowbricks/devstack/hoststandin"
	"github.com/flowbricks/flowbricks/devstack/pki"
	"github.com/flowbricks/flowbricks/internal/app"
	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
)

// Options says where and how to run the stack.
type Options struct {
	Dir     string // state folder: ca.pem (the handler's SSL_CERT_FILE)
	AppRoot string // folder with host.json and function-trigger/; the binary is below it
	// Listener is the host stand-in's listener, opened by the caller (nil: a free loopback
	// port). The handler's public URL names its address, so it is opened once and handed on:
	// closing a probe listener and listening again would let another process take the port.
	Listener    net.Listener
	FixturePath string    // "" = the built-in fixture
	HandlerLog  io.Writer // the handler's output (and, with the binary, the stand-in's log); nil = discarded
	// InProcess serves the handler with internal/app in this process instead of starting the
	// binary: no build, no process. This process must trust CA for TLS (SSL_CERT_FILE set before
	// its first TLS connection, see TrustCA), since the handler's transports use the system roots.
	InProcess bool
	// CA is the stack's certificate authority; nil = a new one. In-process stacks share the one
	// the process trusts.
	CA *pki.CA
	// Env is applied over the stack's settings for the handler, later entries winning ("NAME="
	// clears a setting); tests use it to change one setting.
	Env []string
	// Getenv reads the caller's environment for the few variables a process needs (PATH, HOME,
	// TMPDIR); nil = os.Getenv. Nothing else of it reaches the handler.
	Getenv func(string) string
	// Mutate lets tests adjust the fixture before the fakes start.
	Mutate func(*Fixture)
}

// Info is every URL and id a person or a script needs (the devstack command writes it to
// stack.json).
type Info struct {
	HandlerURL     string `json:"handler_url"`
	HandlerDirect  string `json:"handler_direct_url"`
	Authority      string `json:"authority"`
	TenantID       string `json:"tenant_id"`
	APIClientID    string `json:"api_client_id"`
	APIAudience    string `json:"api_audience"`
	APIScope       string `json:"api_scope"`
	DatabricksHost string `json:"databricks_host"`
	CAFile         string `json:"ca_file"`
	AppCallers     string `json:"app_callers"` // FLOWBRICKS_APP_CALLERS: client ids whose app-only tokens are accepted
	HandlerLog     string `json:"handler_log,omitempty"`
	HandlerPID     int    `json:"handler_pid,omitempty"` // 0 when the handler runs in-process
	PID            int    `json:"pid,omitempty"`         // the process running the stack (devstack up)
}

// Stack is a running local stack.
type Stack struct {
	Info      Info
	Fixture   Fixture
	CA        *pki.CA
	Entra     *fakeentra.Server
	Workspace *fakeworkspace.Server
	Host      *hoststandin.Host
	// Clock is the fake workspace's clock: tests advance it instead of sleeping while a run
	// progresses (a 202's Retry-After, for instance). An in-process handler reads it too (the run
	// trigger's cursor, the retry memories); the binary reads the system clock, so a stack that
	// runs the binary must not move it.
	Clock *Clock

	entraSrv *http.Server
	servers  []*http.Server
	serving  chan error         // the in-process handler's app.Serve result
	stop     context.CancelFunc // ends the in-process handler
}

// Start starts the fakes, then the handler behind the host stand-in, and returns once the handler
// answers. ctx bounds the start only; stop the stack with Close. An error from a handler that
// exited before it was ready carries the handler's own last line of output.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	s := &Stack{Clock: &Clock{}}
	defer func() {
		if err != nil {
			_ = s.Close(context.Background())
			if o.Listener != nil && s.Host == nil {
				o.Listener.Close()
			}
		}
	}()
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		o.Listener = ln
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.InProcess && o.CA == nil {
		return nil, errors.New("an in-process stack needs the CA this process trusts (Options.CA, see TrustCA)")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	fx, err := LoadFixture(o.FixturePath)
	if err != nil {
		return nil, err
	}
	fx.Workspace.Now = s.Clock.Now
	if o.Mutate != nil {
		o.Mutate(&fx)
	}
	if s.CA = o.CA; s.CA == nil {
		if s.CA, err = pki.NewCA(); err != nil {
			return nil, err
		}
	}
	caFile, err := filepath.Abs(filepath.Join(o.Dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	if err := s.CA.WritePEM(caFile); err != nil {
		return nil, err
	}

	entraLn, entraURL, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	fx.Entra.BaseURL = entraURL
	if s.Entra, err = fakeentra.New(fx.Entra); err != nil {
		entraLn.Close()
		return nil, fmt.Errorf("fake Entra ID: %w", err)
	}
	if s.entraSrv, err = s.serve(entraLn, s.Entra); err != nil {
		return nil, err
	}

	wsLn, wsURL, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	fx.Workspace.HostURL = wsURL
	fx.Workspace.Verify = s.verifyDatabricksToken
	if s.Workspace, err = fakeworkspace.New(fx.Workspace); err != nil {
		wsLn.Close()
		return nil, fmt.Errorf("fake workspace: %w", err)
	}
	if _, err := s.serve(wsLn, s.Workspace); err != nil {
		return nil, err
	}
	s.Fixture = fx

	env := handlerEnv(fx, entraURL, wsURL, "http://"+ln.Addr().String(), caFile, o.Getenv)
	env = append(env, o.Env...)
	// One lock for every writer of HandlerLog: the handler's output, the stand-in's lines and,
	// in-process, the handler's goroutines.
	out := &syncWriter{w: o.HandlerLog}
	log := &lastLines{w: out}
	hostOpts := hoststandin.Options{
		AppRoot: o.AppRoot, Listener: ln, Environ: []string{}, Env: env,
		Stdout: log, Stderr: log, Log: out,
	}
	if o.InProcess {
		if hostOpts.ForwardTo, err = s.serveInProcess(env, log); err != nil {
			return nil, err
		}
		hostOpts.Env = nil // the handler already has its settings; the stand-in needs none
	}
	if s.Host, err = hoststandin.Start(ctx, hostOpts); err != nil {
		if errors.Is(err, hoststandin.ErrHandlerExited) {
			if last := log.last(); last != "" {
				return nil, fmt.Errorf("the handler did not start: %s (%w)", last, err)
			}
		}
		return nil, fmt.Errorf("host stand-in: %w", err)
	}
	s.Info = Info{
		HandlerURL:     s.Host.URL(),
		HandlerDirect:  s.Host.HandlerURL(),
		Authority:      entraURL,
		TenantID:       fx.Entra.TenantID,
		APIClientID:    fx.Entra.API.ClientID,
		APIAudience:    fx.Entra.API.AppIDURI,
		APIScope:       fx.Entra.API.AppIDURI + "/" + fx.Entra.API.Scope,
		DatabricksHost: wsURL,
		CAFile:         caFile,
		AppCallers:     lookup(env)(config.EnvAppCallers),
		HandlerPID:     s.Host.Pid(),
	}
	return s, nil
}

// handlerEnv is the handler's whole environment: the stack's settings and what any process needs.
// Nothing else of the caller's environment gets in, so variables exported in a developer's shell
// (AZURE_CLIENT_CERTIFICATE_PATH, DATABRICKS_TOKEN, …) cannot change the local handler.
func handlerEnv(fx Fixture, entraURL, wsURL, publicURL, caFile string, getenv func(string) string) []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "SYSTEMROOT"} {
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	var appCallers string
	if a, ok := fx.App(DefaultAppCaller); ok {
		appCallers = a.ClientID
	}
	return append(env,
		config.EnvTenantID+"="+fx.Entra.TenantID,
		config.EnvClientID+"="+fx.Entra.API.ClientID,
		config.EnvClientSecret+"="+fx.Entra.API.ClientSecret,
		config.EnvAuthorityHost+"="+entraURL+"/",
		config.EnvDatabricksHost+"="+wsURL,
		config.EnvPublicURL+"="+publicURL,
		config.EnvPollSeconds+"=1",
		// The fake mints user tokens for this client unless told otherwise, as if every flow used
		// the custom connector; tokens of other clients are refused, as in a deployment that lists
		// its clients (docs/deploy.md#client-applications-allowed-to-act-for-users).
		config.EnvClientApps+"="+fakeentra.DefaultClientAppID,
		config.EnvAppCallers+"="+appCallers,
		config.EnvLogFormat+"=json",
		"SSL_CERT_FILE="+caFile, // the standard way Go on Linux trusts an extra CA
	)
}

// serveInProcess runs internal/app on a loopback listener of its own with the settings in env,
// as the binary would run with that environment, and returns its address.
func (s *Stack) serveInProcess(env []string, stdout io.Writer) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	env = append(env, config.EnvPort+"="+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	cfg, err := config.Load(lookup(env))
	if err != nil {
		ln.Close()
		return "", fmt.Errorf("the handler did not start: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.serving = cancel, make(chan error, 1)
	// The handler reads the fake workspace's clock: the run trigger's cursor ("now" on the first
	// poll) must be comparable with the end times of runs that end when a test moves it.
	go func() { s.serving <- app.Serve(ctx, cfg, ln, stdout, app.WithClock(s.Clock.Now)) }()
	return ln.Addr().String(), nil
}

// lookup reads "NAME=value" entries the way a process reads its environment: the last wins.
func lookup(env []string) func(string) string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}

// verifyDatabricksToken is how the fake workspace checks a bearer token: one the fake Entra ID
// issued for Azure Databricks.
func (s *Stack) verifyDatabricksToken(token string) (fakeworkspace.Principal, error) {
	c, err := s.Entra.Verify(token, azure.DatabricksAppID)
	if errors.Is(err, fakeentra.ErrTokenExpired) {
		return fakeworkspace.Principal{}, fmt.Errorf("%w: %w", fakeworkspace.ErrTokenExpired, err)
	}
	if err != nil {
		return fakeworkspace.Principal{}, err
	}
	return fakeworkspace.Principal{UPN: c.UPN, OID: c.OID, AppID: c.AppID, App: c.IsApp, ExpiresAt: c.ExpiresAt}, nil
}

func listenLoopback() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return ln, "https://" + ln.Addr().String(), nil
}

func (s *Stack) serve(ln net.Listener, h http.Handler) (*http.Server, error) {
	tlsConfig, err := s.CA.ServerTLSConfig()
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return srv, nil
}

// StopEntra stops the fake Entra ID, so that tests see what the handler does when it is
// unreachable.
func (s *Stack) StopEntra(ctx context.Context) error {
	return s.entraSrv.Shutdown(ctx)
}

// closeTimeout bounds the graceful part of Close (in-flight requests, the handler's SIGTERM);
// then connections are cut and the handler killed.
const closeTimeout = 15 * time.Second

// Close stops the handler (through the host stand-in, or in-process) and both fakes.
func (s *Stack) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	var errs []error
	if s.Host != nil {
		errs = append(errs, s.Host.Close(ctx))
	}
	if s.stop != nil {
		s.stop()
		select {
		case err := <-s.serving:
			errs = append(errs, err)
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("the in-process handler did not stop: %w", ctx.Err()))
		}
		s.stop = nil
	}
	// The fakes are closed, not shut down: their clients (the handler, the host stand-in) have
	// stopped, and Shutdown would wait up to 5 s for each connection that never carried a request
	// (net/http closes a connection in StateNew only once it is 5 s old), which the handler's
	// connection pool leaves behind after a burst of concurrent calls.
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if s.Workspace != nil {
		// After its server stopped: no request can reach the fake SQL warehouse's database any more.
		errs = append(errs, s.Workspace.Close())
	}
	return errors.Join(errs...)
}

// HTTPClient trusts the stack's CA, for talking to the fakes.
func (s *Stack) HTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: s.CA.ClientTLSConfig()}}
}

// TrustCA makes this process trust ca the way the handler binary does (SSL_CERT_FILE), for
// in-process stacks. Go reads SSL_CERT_FILE once, at the first TLS verification of the process,
// so call it first thing in TestMain; it writes the certificate to dir. It works where Go reads
// its roots from files (Linux and the BSDs).
func TrustCA(ca *pki.CA, dir string) error {
	path := filepath.Join(dir, "trusted-ca.pem")
	if err := ca.WritePEM(path); err != nil {
		return err
	}
	return os.Setenv("SSL_CERT_FILE", path)
}

// Clock is real time plus an offset that only moves forward.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the fake workspace's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d, as if d had passed.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += max(d, 0)
}

// lastLines passes the handler's output on and keeps its end, so that a handler that exits at
// start-up can be explained by its own last line (it is in a log file `demo` deletes).
type lastLines struct {
	mu   sync.Mutex
	w    io.Writer
	tail []byte
}

const tailBytes = 4 << 10

func (l *lastLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.tail = append(l.tail, p...)
	if n := len(l.tail); n > tailBytes {
		l.tail = append(l.tail[:0], l.tail[n-tailBytes:]...)
	}
	l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lastLines) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(l.tail), []byte("\n"))
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}

// syncWriter serialises writes to w (nil: discarded); bytes.Buffer and the like are not safe for
// concurrent use.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	if s.w == nil {
		return len(p), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
