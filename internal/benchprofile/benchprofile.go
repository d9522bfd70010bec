// Package benchprofile lets `devstack bench --profile` take CPU and heap profiles of the real
// handler binary for exactly the phases it measures (docs/performance.md, Profiling it yourself).
// The server side runs in the handler, the client side in the bench; both are here so that the
// protocol has one home.
//
// Why it cannot be reached in production, in three independent layers:
//
//  1. The handler only calls [Start] from a file compiled with the build tag [BuildTag]
//     (handler/profile_bench.go). Deployment builds never set it: internal/handlerbuild refuses
//     tags in its Deployment mode, so tools/package cannot produce a binary that contains this
//     code at all, whatever its caller asks.
//  2. Even a tagged binary serves nothing unless [EnvAddr] is set; only the bench sets it, and
//     the Functions host passes app settings, not the bench's environment.
//  3. [Start] listens on a loopback IP literal only (no host names, no wildcard address), so
//     nothing outside the machine can connect, as for the handler's own port.
//
// Why not net/http/pprof: its CPU profile runs for a duration fixed when the request is made,
// while the bench's phases end when their last request is answered; and importing it registers
// its handlers on http.DefaultServeMux from an init function. Start and stop around
// runtime/pprof are a few lines.
package benchprofile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

const (
	// BuildTag is the build tag that compiles the profile endpoint into the handler.
	BuildTag = "benchprofile"
	// EnvAddr is the loopback address (127.0.0.1:port) a tagged handler serves profiles on.
	EnvAddr = "FLOWBRICKS_BENCH_PROFILE_ADDR"
)

// The endpoint's paths.
const (
	pathCPUStart = "/cpu/start" // POST: start the CPU profile
	pathCPUStop  = "/cpu/stop"  // POST: stop it; the answer is the profile (pprof format)
	pathHeap     = "/heap"      // GET: a heap profile after a garbage collection
)

// ErrNotLoopback is returned by [Start] for an address that is not a loopback IP and port.
var ErrNotLoopback = errors.New("benchprofile: the address must be a loopback IP and port, e.g. 127.0.0.1:6061")

// Start serves the profile endpoint on addr, which must be a loopback IP literal with a port (0
// for any free one), until stop is called, and returns the address it listens on. It returns once
// the listener is open, so a client may connect at once.
func Start(addr string) (bound string, stop func() error, err error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return "", nil, fmt.Errorf("%w (got %q)", ErrNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return "", nil, fmt.Errorf("benchprofile: %w", err)
	}
	srv := &http.Server{Handler: newHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	}, nil
}

// cpuProfile is the one CPU profile in progress (runtime/pprof allows one per process).
type cpuProfile struct {
	mu  sync.Mutex
	buf *bytes.Buffer // nil when no profile runs
}

func newHandler() http.Handler {
	var p cpuProfile
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathCPUStart, func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.buf != nil {
			http.Error(w, "a CPU profile is already running", http.StatusConflict)
			return
		}
		buf := new(bytes.Buffer)
		// The profiler's goroutine writes into buf until StopCPUProfile returns; buf is only
		// read after that.
		if err := pprof.StartCPUProfile(buf); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		p.buf = buf
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST "+pathCPUStop, func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.buf == nil {
			http.Error(w, "no CPU profile is running", http.StatusConflict)
			return
		}
		pprof.StopCPUProfile()
		buf := p.buf
		p.buf = nil
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET "+pathHeap, func(w http.ResponseWriter, _ *http.Request) {
		// As net/http/pprof's ?gc=1: the in-use figures are those of the last collection.
		runtime.GC()
		var buf bytes.Buffer
		if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(buf.Bytes())
	})
	return mux
}

// Client talks to a handler's profile endpoint.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client for the endpoint at addr (the value of [EnvAddr]).
func NewClient(addr string) *Client {
	return &Client{base: "http://" + addr, http: &http.Client{Transport: &http.Transport{Proxy: nil}}}
}

// StartCPU starts the handler's CPU profile.
func (c *Client) StartCPU(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, pathCPUStart, io.Discard)
}

// StopCPU stops the handler's CPU profile and writes it to w.
func (c *Client) StopCPU(ctx context.Context, w io.Writer) error {
	return c.do(ctx, http.MethodPost, pathCPUStop, w)
}

// Heap writes a heap profile of the handler, taken after a garbage collection, to w.
func (c *Client) Heap(ctx context.Context, w io.Writer) error {
	return c.do(ctx, http.MethodGet, pathHeap, w)
}

// Close releases the client's idle connection.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("benchprofile %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("benchprofile %s answered %d: %s", path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("benchprofile %s: %w", path, err)
	}
	return nil
}
