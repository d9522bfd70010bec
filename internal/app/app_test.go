package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/testsupport"
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
	err := Run(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "DATABRICKS_HOST") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want one line naming DATABRICKS_HOST, got %v", err)
	}
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testDeadline ends at the test's deadline (go test -timeout), or with the test.
func testDeadline(t *testing.T) context.Context { return testsupport.Context(t) }

// runUntilServing runs the handler with env until it answers GET / with 200, then cancels it and
// returns what it logged once run has returned.
func runUntilServing(t *testing.T, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer // read only after run returned
	done := make(chan error, 1)
	go func() { done <- Run(ctx, func(k string) string { return env[k] }, &logs) }()

	deadline := testDeadline(t)
	url := "http://127.0.0.1:" + env["FUNCTIONS_CUSTOMHANDLER_PORT"] + "/"
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET / = %d", resp.StatusCode)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before serving: %v", err)
		case <-deadline.Done():
			t.Fatalf("handler never answered GET /: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-deadline.Done():
		t.Fatal("run did not return after cancellation")
	}
	return logs.String()
}

func TestRunServesAndShutsDownGracefully(t *testing.T) {
	logs := runUntilServing(t, testEnv(freePort(t)))
	if !strings.Contains(logs, "flowbricks ready") || strings.Contains(logs, "secret-for-test") {
		t.Fatalf("unexpected logs: %s", logs)
	}
}

// Without FLOWBRICKS_CLIENT_APPS any client application of the tenant can act for a user; the
// handler serves anyway (it is the behaviour of earlier versions) but says so at start-up.
func TestRunWarnsWhenAnyClientAppMayActForUsers(t *testing.T) {
	tests := []struct {
		name       string
		clientApps string
		wantWarn   bool
	}{
		{"unset", "", true},
		{"set", "5e2b8a4c-6d1f-4c3e-9b7a-0f8e1d2c3b4a", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(freePort(t))
			if tc.clientApps != "" {
				env[config.EnvClientApps] = tc.clientApps
			}
			logs := runUntilServing(t, env)
			var warned bool
			for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
				var e struct{ Level, Message, Setting string }
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("log line is not JSON: %q", line)
				}
				if strings.HasPrefix(e.Message, "FLOWBRICKS_CLIENT_APPS is empty: any client application in the tenant that obtains a token for this API can act as its users") {
					warned = true
					if e.Level != "warn" || e.Setting != config.EnvClientApps {
						t.Errorf("warning line %s, want level warn and setting %s", line, config.EnvClientApps)
					}
				}
			}
			if warned != tc.wantWarn {
				t.Fatalf("warned = %v, want %v; logs:\n%s", warned, tc.wantWarn, logs)
			}
		})
	}
}

// TestStartUpChecksWhereLocationPoints: a connector imported for one host and 202 Location URLs
// on another make every wait fail (docs/connector.md, "The 202 Location and the connector's
// host"). Known mismatch: the handler refuses to start. Possible mismatch: it warns.
func TestStartUpChecksWhereLocationPoints(t *testing.T) {
	t.Run("a known mismatch stops the handler", func(t *testing.T) {
		env := testEnv(8080)
		env[config.EnvWebsiteHostname] = "fb.azurewebsites.net"
		env[config.EnvConnectorHost] = "fb.contoso.example"
		err := Run(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), config.EnvConnectorHost) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("want one line naming %s, got %v", config.EnvConnectorHost, err)
		}
	})

	tests := []struct {
		name     string
		cfg      config.Config
		wantWarn bool
	}{
		{"FLOWBRICKS_PUBLIC_URL on another host, connector host unknown",
			config.Config{PublicURL: "https://fb.contoso.example", WebsiteHostname: "fb.azurewebsites.net"}, true},
		{"the connector host is known (and was checked)",
			config.Config{PublicURL: "https://fb.contoso.example", WebsiteHostname: "fb.azurewebsites.net",
				Connector: config.Connector{Host: "fb.contoso.example"}}, false},
		{"FLOWBRICKS_PUBLIC_URL on the Function App's host",
			config.Config{PublicURL: "https://FB.azurewebsites.net/", WebsiteHostname: "fb.azurewebsites.net"}, false},
		{"only WEBSITE_HOSTNAME", config.Config{WebsiteHostname: "fb.azurewebsites.net"}, false},
		{"local: only FLOWBRICKS_PUBLIC_URL", config.Config{PublicURL: "http://127.0.0.1:7071"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.ClientApps = []string{"5e2b8a4c-6d1f-4c3e-9b7a-0f8e1d2c3b4a"} // silence the other warning
			var logs bytes.Buffer
			warnAboutSettings(tt.cfg, zerolog.New(&logs))
			warned := strings.Contains(logs.String(), `"setting":"`+config.EnvConnectorHost+`"`) &&
				strings.Contains(logs.String(), `"level":"warn"`)
			if warned != tt.wantWarn {
				t.Errorf("warned = %v, want %v; logs: %s", warned, tt.wantWarn, logs.String())
			}
		})
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
