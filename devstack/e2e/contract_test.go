package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
)

// TestHostJSONContract is the one test of the handler binary: built to the path host.json names
// and started through the host stand-in as `func start` starts it (FUNCTIONS_CUSTOMHANDLER_PORT,
// a clean environment, GET / until it answers), it serves one authenticated call. Every other
// test runs the same wiring (internal/app) in-process.
func TestHostJSONContract(t *testing.T) {
	ctx := testContext(t)
	app := filepath.Join(t.TempDir(), "app")
	if err := devstack.CopyApp(repoRoot, app); err != nil {
		t.Fatal(err)
	}
	if err := devstack.BuildHandler(ctx, repoRoot, app); err != nil {
		t.Fatal(err)
	}
	s, err := devstack.Start(ctx, devstack.Options{Dir: t.TempDir(), AppRoot: app, HandlerLog: handlerLogs})
	if err != nil {
		t.Fatalf("starting the stack with the binary: %v", err)
	}
	stacksStarted.Add(1)
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	if s.Info.HandlerPID == 0 {
		t.Fatal("no handler process")
	}
	tests := []struct {
		name, url string
		want      string
	}{
		{"the host's page", s.Info.HandlerURL + "/", "Functions 4.0 app is up and running"},
		{"the handler's GET /, which the host probes", s.Info.HandlerDirect + "/", ""},
	}
	for _, tt := range tests {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := send(t, req)
		if r.status != 200 || !strings.Contains(string(r.body), tt.want) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
	st := &stack{s}
	if r := st.call(t, apiCall{method: "GET", path: "/api/jobs?name=daily-sales-refresh", token: st.userToken(t, "alice", fakeentra.MintOptions{})}); r.status != 200 {
		t.Fatalf("an authenticated call through the stand-in: %d %s", r.status, r.body)
	}
}
