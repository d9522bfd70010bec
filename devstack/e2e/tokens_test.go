package e2e

// End-to-end tests of the Databricks token a request acts with: the workspace refuses a token
// that Entra ID considers fine (revoked, or expired by the workspace's clock) and flowbricks must
// exchange again exactly once, repeat the call exactly once (run-now without a second run), and
// answer a clear problem when the fresh token is refused too; and one caller presenting many
// tokens must be slowed down without touching anybody else.

import (
	"strconv"
	"testing"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
	"github.com/flowbricks/flowbricks/devstack/fakeworkspace"
	devstack "github.com/flowbricks/flowbricks/devstack/stack"
)

func TestWorkspaceRejectsTheExchangedToken(t *testing.T) {
	s := startTestStack(t, devstack.Options{})
	alice := s.userToken(t, "alice", fakeentra.MintOptions{})
	obo := func() int64 { return s.Entra.Stats().OBOByAssertion[fakeentra.AssertionKey(alice)] }
	list := apiCall{method: "GET", path: "/api/jobs?name=daily-sales-refresh", token: alice}
	reject := func(t *testing.T, r fakeworkspace.TokenRejection) {
		t.Helper()
		if err := s.Workspace.RejectTokens(r); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Workspace.ClearTokenRejections)
	}
	if r := s.call(t, list); r.status != 200 || obo() != 1 {
		t.Fatalf("before: %d %s, %d exchanges", r.status, r.body, obo())
	}

	t.Run("a revoked token is exchanged again once and the call succeeds", func(t *testing.T) {
		reject(t, fakeworkspace.TokenRejection{Form: fakeworkspace.RejectJWTExpired, SeenOnly: true})
		before, ws := obo(), s.Workspace.Stats()

		if r := s.call(t, list); r.status != 200 {
			t.Fatalf("got %d %s", r.status, r.body)
		}

		after := s.Workspace.Stats()
		if n := obo() - before; n != 1 {
			t.Errorf("the user's token was exchanged %d more times, want 1", n)
		}
		if rejected, lists := after.TokensRejected-ws.TokensRejected, after.JobsList-ws.JobsList; rejected != 1 || lists != 2 {
			t.Errorf("workspace: %d tokens rejected, %d jobs/list requests; want 1 and 2 (the rejected call, its retry)", rejected, lists)
		}
		// The fresh token is cached: the next call neither exchanges nor is rejected.
		if r := s.call(t, list); r.status != 200 || obo()-before != 1 {
			t.Errorf("next call: %d, %d exchanges since the revocation", r.status, obo()-before)
		}
	})

	t.Run("run-now with a revoked token starts exactly one run", func(t *testing.T) {
		reject(t, fakeworkspace.TokenRejection{Form: fakeworkspace.RejectExpiring, SeenOnly: true})
		before, ws := obo(), s.Workspace.Stats()

		r := s.call(t, apiCall{method: "POST", path: "/api/jobs/run-now", token: alice, body: `{"job_id": 101}`})
		if r.status != 200 || r.json["run_id"] == nil {
			t.Fatalf("got %d %s", r.status, r.body)
		}

		after := s.Workspace.Stats()
		if created, posts := after.RunsCreated-ws.RunsCreated, after.RunNow-ws.RunNow; created != 1 || posts != 2 {
			t.Errorf("%d runs created by %d run-now requests; want 1 by 2", created, posts)
		}
		if n := obo() - before; n != 1 {
			t.Errorf("exchanges = %d, want 1", n)
		}
	})

	t.Run("a workspace that refuses every token: one retry only, a clear error", func(t *testing.T) {
		reject(t, fakeworkspace.TokenRejection{Form: fakeworkspace.RejectTokenExpired})
		before, ws := obo(), s.Workspace.Stats()

		r := s.call(t, list)

		if r.status != 502 || r.str("code") != "databricks_token_rejected" {
			t.Fatalf("got %d %s, want 502 databricks_token_rejected", r.status, r.body)
		}
		if n := obo() - before; n != 1 {
			t.Errorf("exchanges = %d, want 1", n)
		}
		if lists := s.Workspace.Stats().JobsList - ws.JobsList; lists != 2 {
			t.Errorf("jobs/list requests = %d, want 2", lists)
		}
	})
}

func TestOneUserWithManyTokensIsBoundedAlone(t *testing.T) {
	s := startTestStack(t, devstack.Options{})
	list := func(tok string) apiResponse {
		return s.call(t, apiCall{method: "GET", path: "/api/jobs?name=daily-sales-refresh", token: tok})
	}
	bob := s.userToken(t, "bob", fakeentra.MintOptions{})
	if r := list(bob); r.status != 200 {
		t.Fatalf("bob: %d %s", r.status, r.body)
	}
	oboBefore := s.Entra.Stats().OBORequests

	// Alice presents a new token on every request: 20 are exchanged, then she must wait.
	ok, refused := 0, 0
	for range 30 {
		r := list(s.userToken(t, "alice", fakeentra.MintOptions{}))
		switch r.status {
		case 200:
			ok++
		case 429:
			refused++
			if r.str("code") != "throttled" {
				t.Fatalf("429 with code %q", r.str("code"))
			}
			if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
				t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("alice: %d %s", r.status, r.body)
		}
	}
	if ok < 20 || ok > 21 || refused != 30-ok {
		// 21: the bucket refills one exchange every 3 s, which a slow machine may reach.
		t.Errorf("alice: %d answered, %d refused; want 20 (or 21) and the rest", ok, refused)
	}
	if n := s.Entra.Stats().OBORequests - oboBefore; n != int64(ok) {
		t.Errorf("%d On-Behalf-Of requests for %d answered calls: refusals must not reach Entra", n, ok)
	}

	// Bob's cached token is still served without an exchange, and another user's new token still
	// reaches Entra (dave's fixture answers AADSTS65001: what matters is that Entra was asked).
	before := s.Entra.Stats().OBORequests
	if r := list(bob); r.status != 200 || s.Entra.Stats().OBORequests != before {
		t.Errorf("bob after alice's burst: %d, %d new exchanges", r.status, s.Entra.Stats().OBORequests-before)
	}
	if r := list(s.userToken(t, "dave", fakeentra.MintOptions{})); r.str("code") != "consent_required" || s.Entra.Stats().OBORequests != before+1 {
		t.Errorf("dave after alice's burst: %d %s, want Entra's answer", r.status, r.body)
	}
}
