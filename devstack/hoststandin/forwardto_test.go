package hoststandin

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// With ForwardTo the stand-in starts no process: it forwards to the handler that already serves
// there, with the host's request rules, on the listener it was given. With Environ the handler's
// environment is exactly that plus the app settings; the process environment stays out.
func TestForwardToARunningHandlerAndAGivenEnvironment(t *testing.T) {
	var got *http.Request
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	defer handler.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	root := writeApp(t, appSpec{})
	must(t, os.Remove(root+"/bin/echohandler")) // nothing to start
	h := startHost(t, Options{AppRoot: root, Listener: ln, ForwardTo: strings.TrimPrefix(handler.URL, "http://")})

	if h.URL() != "http://"+ln.Addr().String() || h.HandlerURL() != handler.URL || h.Pid() != 0 {
		t.Fatalf("URL %s, HandlerURL %s, Pid %d", h.URL(), h.HandlerURL(), h.Pid())
	}
	resp, _ := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/jobs?a=1&a=2", nil))
	if resp.StatusCode != 200 || got == nil || got.URL.Path != "/api/jobs" || got.URL.RawQuery != "a=1%2C2" ||
		got.Header.Get(headerInvocationID) == "" {
		t.Fatalf("%d; the handler saw %+v", resp.StatusCode, got)
	}

	t.Setenv("ECHO_FROM_SHELL", "leaked")
	root = writeApp(t, appSpec{})
	h = startHost(t, Options{AppRoot: root, Environ: []string{"PATH=" + os.Getenv("PATH")}, Env: []string{"ECHO_SETTING=set"}})
	resp, body := do(t, mustRequest(t, http.MethodGet, h.URL()+"/api/env", nil))
	e := readEcho(t, resp, body)
	if e.Env["ECHO_SETTING"] != "set" || e.Env["ECHO_FROM_SHELL"] != "" {
		t.Fatalf("the handler's environment: %v", e.Env)
	}
}
