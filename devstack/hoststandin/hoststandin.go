// Package hoststandin is a local stand-in for the Azure Functions host in front of a custom handler.
//
// `func start` (Azure Functions Core Tools) cannot run everywhere the local stack must run, so this package
// does for flowbricks what the host does, following the documented and coded contract (docs/architecture.md, Azure Functions custom
// handler (forwarding mode)): it reads host.json and */function.json, starts the executable
// named there with FUNCTIONS_CUSTOMHANDLER_PORT and friends, waits until the handler answers GET /, and then
// serves the functions' routes in forwarding mode (enableForwardingHttpRequest), copying and dropping the
// same parts of each request as the host and failing what the host fails (a chunked request body). It
// restarts a handler that crashes and gives up like the host does (supervise.go). Whatever it does not
// emulate (payload or proxying mode, non-HTTP bindings, route constraints) it refuses with an error
// wrapping ErrUnsupported.
//
// It is a test double for local runs; it is never linked into the handler.
package hoststandin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// Options configures Start.
type Options struct {
	AppRoot string // folder with host.json and */function.json (the repo root)
	Listen  string // "127.0.0.1:7071" (default); an empty host (":0") means 127.0.0.1
	// Listener, when set, is used instead of listening on Listen: a caller that must know the
	// address before starting (the handler's public URL names it) opens it once and hands it on,
	// so no other process can take the port in between. Close closes it.
	Listener net.Listener
	// Environ is the host's own environment, which the handler inherits; nil means os.Environ().
	// The local stack passes a clean one so that variables exported in a developer's shell cannot
	// change the handler.
	Environ        []string
	Env            []string      // extra environment for the child (like local.settings.json Values), appended to Environ
	Stdout, Stderr io.Writer     // where the child's output goes (the host captures it)
	Log            io.Writer     // the stand-in's own log lines; nil means Stderr
	StartTimeout   time.Duration // default 30s (the host's InitializationTimeout), also for restarts
	// ForwardTo is the address (127.0.0.1:port) of a handler that is already serving: the stand-in
	// starts no process, waits until it answers GET / and forwards to it, and never restarts it.
	// Tests run the handler in-process this way (internal/app.Serve) and still go through the
	// host's request rules.
	ForwardTo string

	now func() time.Time // clock of the restart error window; tests set it, default time.Now
}

// Errors returned by Start when the handler does not come up. Test with errors.Is.
var (
	ErrHandlerExited = errors.New("handler process exited before it was ready")
	ErrNotReady      = errors.New("handler did not become ready")
)

const (
	defaultListen       = "127.0.0.1:7071"
	defaultStartTimeout = 30 * time.Second // HttpWorkerOptions.InitializationTimeout
	readyPollInterval   = 25 * time.Millisecond
	pipeWaitDelay       = 2 * time.Second // bound on copying the child's output after it exits
	killWait            = 5 * time.Second // bound on reaping the child after SIGKILL
)

// Host is a running stand-in: the handler process (restarted when it crashes) and the HTTP front end.
type Host struct {
	url        string
	handlerURL string
	exe        string
	app        *app
	env        []string // the handler's environment, the same for every restart
	stdout     io.Writer
	stderr     io.Writer
	log        *log.Logger
	srv        *http.Server
	transport  *http.Transport
	timeout    time.Duration    // InitializationTimeout, for restarts too
	now        func() time.Time // the clock of the restart error window

	ctx         context.Context // the stand-in's lifetime: cancelled by Close
	cancel      context.CancelFunc
	supervising chan struct{} // closed when the supervisor has returned
	closing     atomic.Bool

	mu       sync.Mutex
	cur      *worker       // the handler process the front end calls
	ready    chan struct{} // closed once cur answers GET /; a new one on every restart
	gaveUp   chan struct{} // closed when the host gave up restarting the handler
	failures []time.Time   // the error bucket (HttpFunctionInvocationDispatcher._invokerErrors)

	closeOnce sync.Once
	closeErr  error
}

// worker is one handler process.
type worker struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the child has exited and been reaped
	exitErr error         // cmd.Wait's result; read only after done is closed
}

// Start reads the app in o.AppRoot, starts the handler, waits until it answers GET / and serves the
// function routes on o.Listen. ctx bounds start-up only; stop the host with Close. A handler that crashes
// later is restarted the way the Functions host restarts it (see supervise).
func Start(ctx context.Context, o Options) (*Host, error) {
	if o.Listen == "" {
		o.Listen = defaultListen
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = defaultStartTimeout
	}
	if o.now == nil {
		o.now = time.Now
	}
	stdout, stderr, logw := lockedOutputs(o.Stdout, o.Stderr, o.Log)
	if logw == nil {
		logw = stderr
	}
	if logw == nil {
		logw = io.Discard
	}
	logger := log.New(logw, "[hoststandin] ", log.LstdFlags|log.Lmicroseconds|log.LUTC)

	// App settings become the host's environment, so they also feed %NAME% expansion (docs/architecture.md, Azure Functions custom handler (forwarding mode)).
	environ := o.Environ
	if environ == nil {
		environ = os.Environ()
	}
	env := append(slices.Clip(environ), o.Env...)
	a, err := loadApp(o.AppRoot, env, func(note string) { logger.Print(note) })
	if err != nil {
		return nil, err
	}
	var exe string
	if o.ForwardTo == "" {
		if exe, err = a.resolveExecutable(); err != nil {
			return nil, err
		}
	}
	bodyLimit := int64(defaultBodyLimit)
	if v, ok := envMap(env)["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			bodyLimit = n
		}
	}

	ln := o.Listener
	if ln == nil {
		listen, err := loopbackListenAddr(o.Listen)
		if err != nil {
			return nil, err
		}
		if ln, err = net.Listen("tcp", listen); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", listen, err)
		}
	}
	port := a.port
	if o.ForwardTo != "" {
		_, p, err := net.SplitHostPort(o.ForwardTo)
		if err == nil {
			port, err = strconv.Atoi(p)
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("ForwardTo %q: %w", o.ForwardTo, err)
		}
	} else if port == 0 {
		// A free loopback port, as WorkerUtilities.GetUnusedTcpPort picks it. The host
		// picks it once (HttpWorkerOptionsSetup) and every restarted handler gets the same one.
		if port, err = freeLoopbackPort(); err != nil {
			ln.Close()
			return nil, err
		}
	}
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	// Environment of the handler (docs/architecture.md, Azure Functions custom handler (forwarding mode)): the host's own environment (process + app settings)
	// plus the port and worker id under both the customHandler and the legacy httpWorker names.
	workerID := uuid.NewString()
	env = append(env,
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+workerID,
		"FUNCTIONS_HTTPWORKER_PORT="+strconv.Itoa(port),
		"FUNCTIONS_HTTPWORKER_ID="+workerID,
		"FUNCTIONS_APP_ROOT_PATH="+a.root,
	)
	life, cancel := context.WithCancel(context.Background())
	h := &Host{
		url:        "http://" + ln.Addr().String(),
		handlerURL: "http://" + target,
		exe:        exe,
		app:        a,
		env:        env,
		stdout:     stdout,
		stderr:     stderr,
		log:        logger,
		timeout:    o.StartTimeout,
		now:        o.now,
		ctx:        life,
		cancel:     cancel,
		ready:      make(chan struct{}),
		gaveUp:     make(chan struct{}),
		// The host's client to the handler: no proxy, no automatic decompression (.NET HttpClient's
		// defaults), redirects are never followed because ReverseProxy uses the transport directly.
		transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			DisableCompression:  true,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	h.supervising = make(chan struct{})
	if o.ForwardTo != "" {
		// Nothing to start or supervise: the caller owns the handler.
		if err := h.waitReady(ctx, nil, o.StartTimeout); err != nil {
			cancel()
			ln.Close()
			return nil, err
		}
		close(h.ready)
		close(h.supervising)
	} else {
		w, err := h.startWorker()
		if err != nil {
			cancel()
			ln.Close()
			return nil, err
		}
		if err := h.waitReady(ctx, w, o.StartTimeout); err != nil {
			h.kill(w)
			cancel()
			ln.Close()
			return nil, err
		}
		close(h.ready)
		go h.supervise(w)
	}

	h.srv = &http.Server{
		Handler:           newFrontEnd(a, target, bodyLimit, h.transport, h, logger),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          logger,
	}
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Printf("serve %s: %v", h.url, err)
		}
	}()
	for _, fn := range a.functions {
		methods := "all methods"
		if len(fn.methods) > 0 {
			methods = fmt.Sprint(fn.methods)
		}
		logger.Printf("Functions: %s: %s %s/%s", fn.name, methods, h.url, fn.template.text)
	}
	return h, nil
}

// URL is the stand-in's address, e.g. http://127.0.0.1:7071.
func (h *Host) URL() string { return h.url }

// HandlerURL is the handler's own address, http://127.0.0.1:<FUNCTIONS_CUSTOMHANDLER_PORT>, for calls that
// bypass the host (benchmarks). It stays the same across restarts.
func (h *Host) HandlerURL() string { return h.handlerURL }

// Pid is the process id of the current handler process (a restarted handler has a new one); 0
// when the stand-in forwards to a handler it did not start (Options.ForwardTo).
func (h *Host) Pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur == nil {
		return 0
	}
	return h.cur.cmd.Process.Pid
}

// GaveUp is closed when the handler crashed ErrorEventsThreshold times in a row and the stand-in stopped
// restarting it; the Functions host shuts down then, and every request is answered 503.
func (h *Host) GaveUp() <-chan struct{} { return h.gaveUp }

// Close stops serving (in-flight requests may finish until ctx is done), stops restarting the handler,
// sends SIGTERM to it and waits for it to exit, and sends SIGKILL when ctx is done first. It is safe to
// call more than once and after the handler has died on its own. It returns an error only if the handler
// could not be stopped.
func (h *Host) Close(ctx context.Context) error {
	h.closeOnce.Do(func() {
		h.closing.Store(true)
		if err := h.srv.Shutdown(ctx); err != nil {
			_ = h.srv.Close() // deadline reached: cut the remaining connections
		}
		h.cancel()
		<-h.supervising // it returns promptly once h.ctx is done; it never blocks on a child
		h.mu.Lock()
		w := h.cur
		h.mu.Unlock()
		if w != nil {
			h.closeErr = h.stop(ctx, w)
		}
		h.transport.CloseIdleConnections()
	})
	return h.closeErr
}

// startWorker starts a handler process and makes it the current one.
func (h *Host) startWorker() (*worker, error) {
	cmd := exec.Command(h.exe, h.app.args...)
	cmd.Dir = h.app.workingDir
	cmd.Env = h.env
	cmd.Stdout, cmd.Stderr = h.stdout, h.stderr
	cmd.WaitDelay = pipeWaitDelay
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start handler %s: %w", h.exe, err)
	}
	w := &worker{cmd: cmd, done: make(chan struct{})}
	go h.reap(w)
	h.mu.Lock()
	h.cur = w
	h.mu.Unlock()
	h.log.Printf("started handler %s (pid %d) on %s", h.exe, cmd.Process.Pid, h.handlerURL)
	return w, nil
}

// reap waits for the child and records how it ended.
func (h *Host) reap(w *worker) {
	err := w.cmd.Wait()
	w.exitErr = err
	close(w.done)
	if !h.closing.Load() {
		h.log.Printf("handler process %d exited: %s", w.cmd.Process.Pid, exitStatus(err))
	}
}

// waitReady sends GET / to the handler every 25 ms until any HTTP response arrives (docs/architecture.md, Azure Functions custom handler (forwarding mode)), the
// child exits, or the timeout or ctx ends. w is nil for a handler the stand-in did not start.
func (h *Host) waitReady(ctx context.Context, w *worker, timeout time.Duration) error {
	exited := make(<-chan struct{}) // never closed: nothing to watch without a child
	if w != nil {
		exited = w.done
	}
	pollCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	// A probe ends when the child exits, too: something else listening on the handler's port (the
	// reason the child exited) may accept the connection and never answer.
	probeCtx, stopProbes := context.WithCancel(pollCtx)
	defer stopProbes()
	go func() {
		select {
		case <-exited:
			stopProbes()
		case <-probeCtx.Done():
		}
	}()
	for {
		req, err := http.NewRequestWithContext(probeCtx, http.MethodGet, h.handlerURL+"/", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			return nil
		}
		select { // an exit takes priority over the deadline: it is the better explanation
		case <-exited:
			return h.exitedError(w)
		default:
		}
		select {
		case <-exited:
			return h.exitedError(w)
		case <-pollCtx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("waiting for handler %s: %w", h.exe, err)
			}
			return fmt.Errorf("%w: the handler did not answer GET %s/ within %s (InitializationTimeout)", ErrNotReady, h.handlerURL, timeout)
		case <-tick.C:
		}
	}
}

func (h *Host) exitedError(w *worker) error {
	return fmt.Errorf("%w: %s (pid %d): %s", ErrHandlerExited, h.exe, w.cmd.Process.Pid, exitStatus(w.exitErr))
}

// stop sends SIGTERM, waits until the child exits or ctx is done, then SIGKILL.
func (h *Host) stop(ctx context.Context, w *worker) error {
	select {
	case <-w.done:
		return nil
	default:
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		h.log.Printf("SIGTERM to handler pid %d: %v", w.cmd.Process.Pid, err)
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	h.log.Printf("handler pid %d still running at the deadline; sending SIGKILL", w.cmd.Process.Pid)
	return h.kill(w)
}

// kill sends SIGKILL and waits (bounded) until the child is reaped.
func (h *Host) kill(w *worker) error {
	if err := w.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		h.log.Printf("SIGKILL to handler pid %d: %v", w.cmd.Process.Pid, err)
	}
	timer := time.NewTimer(killWait)
	defer timer.Stop()
	select {
	case <-w.done:
		return nil
	case <-timer.C:
		return fmt.Errorf("handler pid %d still running %s after SIGKILL", w.cmd.Process.Pid, killWait)
	}
}

// exitStatus describes cmd.Wait's result: "exit status 3", "signal: killed", …
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// loopbackListenAddr keeps the stand-in on loopback: an address without a host means 127.0.0.1.
func loopbackListenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port for the handler: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedOutputs serialises writes from the child's output copying and the stand-in's own log lines when
// the writers are not files (bytes.Buffer and the like are not safe for concurrent use).
func lockedOutputs(stdout, stderr, logw io.Writer) (io.Writer, io.Writer, io.Writer) {
	mu := &sync.Mutex{}
	wrap := func(w io.Writer) io.Writer {
		switch w.(type) {
		case nil:
			return nil
		case *os.File:
			return w
		default:
			return &lockedWriter{mu: mu, w: w}
		}
	}
	return wrap(stdout), wrap(stderr), wrap(logw)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
