package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
)

func testEnv(port int) map[string]string {
	return map[string]string{
		"AZURE_TENANT_ID":              "7e1a2b3c-0000-4d5e-8f00-00000000fb01",
		"AZURE_CLIENT_ID":              "f10b61c5-0000-4000-8000-00000000a001",
		"AZURE_CLIENT_SECRET":          "secret-for-test",
		"AZURE_AUTHORITY_HOST":         "https://127.0.0.1:1/", // never contacted: start-up makes no network call
		"DATABRICKS_HOST":              "https://127.0.0.1:2",
		"FUNCTIONS_CUSTOMHANDLER_PORT": strconv.Itoa(port),
	}
}

func TestRunRefusesBadConfigurationWithOneLine(t *testing.T) {
	env := testEnv(8080)
	delete(env, "DATABRICKS_HOST")
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "DATABRICKS_HOST") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want one line naming DATABRICKS_HOST, got %v", err)
	}
}

func TestRunServesAndShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env := testEnv(port)

	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &logs, &logs) }()

	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	var resp *http.Response
	for range 200 { // up to ~2 s for the listener to come up
		if resp, err = http.Get(url); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("handler never answered GET /: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	if !strings.Contains(logs.String(), "flowbricks ready") || strings.Contains(logs.String(), "secret-for-test") {
		t.Fatalf("unexpected logs: %s", logs.String())
	}
}

func TestServerTimeoutsBoundEveryPhase(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler())
	tests := []struct {
		name string
		got  time.Duration
		ok   bool
	}{
		{"ReadHeaderTimeout (slowloris)", srv.ReadHeaderTimeout, srv.ReadHeaderTimeout > 0},
		{"ReadTimeout (slow body)", srv.ReadTimeout, srv.ReadTimeout > 0},
		{"WriteTimeout leaves room to answer a timed-out request", srv.WriteTimeout, srv.WriteTimeout > requestTimeout},
		{"IdleTimeout (idle keep-alive connections)", srv.IdleTimeout, srv.IdleTimeout > 0},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s = %v", tt.name, tt.got)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d, want a bound below the 1 MiB default", srv.MaxHeaderBytes)
	}
}

func TestDatabricksCallsEndWithinTheUpstreamTimeout(t *testing.T) {
	env := testEnv(8080)
	env["FLOWBRICKS_UPSTREAM_TIMEOUT_SECONDS"] = "3"
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	o := databricksOptions(cfg, cfg.DatabricksHost, nil)
	if o.RequestTimeout != 3*time.Second || o.RetryTimeout != 3*time.Second || o.Host != cfg.DatabricksHost {
		t.Fatalf("options %+v, want a 3 s request deadline and retry window", o)
	}

	delete(env, "FLOWBRICKS_UPSTREAM_TIMEOUT_SECONDS")
	if cfg, err = config.Load(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	o = databricksOptions(cfg, cfg.DatabricksHost, nil)
	if o.RequestTimeout != config.DefaultUpstreamTimeout || o.RetryTimeout != databricks.DefaultRetryTimeout {
		t.Fatalf("default options %+v", o)
	}
	if o.RequestTimeout >= requestTimeout {
		t.Fatalf("an upstream call (%v) must end before the request does (%v)", o.RequestTimeout, requestTimeout)
	}
}
