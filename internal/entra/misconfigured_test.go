package entra

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
)

// When Entra refuses flowbricks' own credential, every request fails until an administrator acts.
// The failure is logged at error level, on the request's logger (request and workflow run ids),
// with an action that names the setting or registration to fix.
func TestMisconfiguredExchangeLogsAnAdministratorAction(t *testing.T) {
	f := newFakeEntra(t)
	logs := &syncBuffer{}
	// The secret's ID copied instead of its value: Entra refuses it (AADSTS7000215).
	const wrongSecret = "8c1e0a52-0000-4000-8000-secret-id-not-value"
	e := newTestExchanger(t, f, func(o *ExchangerOptions) {
		o.Logger = zerolog.New(logs)
		o.Credential = CredentialOptions{ClientSecret: wrongSecret}
	})
	requestLog := zerolog.New(logs).With().Str("request_id", "req-42").Str("workflow_run_id", "0858RUN").Logger()
	ctx := requestLog.WithContext(context.Background())

	a := userToken(t, f, 1)
	_, _, err := e.TokenFor(ctx, alice, a)
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Kind != Misconfigured || !strings.Contains(xe.Action, "AZURE_CLIENT_SECRET") {
		t.Fatalf("err = %v (action %q)", err, xe.Action)
	}
	line := logLine(t, logs.String(), "entra: token exchange failed")
	for field, want := range map[string]string{
		"level": "error", "request_id": "req-42", "workflow_run_id": "0858RUN", "kind": "misconfigured",
		"aadsts": "AADSTS7000215", "action": xe.Action,
	} {
		if line[field] != want {
			t.Errorf("log field %s = %v, want %q", field, line[field], want)
		}
	}
	assertNoSecrets(t, err, logs.String(), a.Reveal(), wrongSecret)
}

// A failure that is the caller's (or Entra's) business has no administrator action and is a warning.
func TestCallerSideExchangeFailuresHaveNoAction(t *testing.T) {
	f := newFakeEntra(t)
	logs := &syncBuffer{}
	e := newTestExchanger(t, f, func(o *ExchangerOptions) { o.Logger = zerolog.New(logs) })
	if err := f.fe.SetUserError("alice", fakeentra.ErrorConsentRequired); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.TokenFor(context.Background(), alice, aliceToken(t, f))
	var xe *ExchangeError
	if !errors.As(err, &xe) || xe.Kind != ConsentRequired || xe.Action != "" {
		t.Fatalf("err = %v, action %q", err, xe.Action)
	}
	if line := logLine(t, logs.String(), "entra: token exchange failed"); line["level"] != "warn" {
		t.Errorf("level = %v, want warn", line["level"])
	}
}

func TestAdminActionNamesWhatToFix(t *testing.T) {
	secret := &clientCredential{kind: credSecret}
	cert := &clientCredential{kind: credCertificate}
	mi := &clientCredential{kind: credManagedIdentity, miAudience: "api://AzureADTokenExchange"}
	tests := []struct {
		name  string
		cred  *clientCredential
		xe    ExchangeError
		wants []string // substrings of the action; none = no action
	}{
		{"wrong secret", secret, ExchangeError{Kind: Misconfigured, AADSTS: "AADSTS7000215"}, []string{"AZURE_CLIENT_SECRET", "value"}},
		{"expired secret", secret, ExchangeError{Kind: Misconfigured, AADSTS: "AADSTS7000222"}, []string{"expired", "new client secret"}},
		{"certificate not registered", cert, ExchangeError{Kind: Misconfigured, AADSTS: "AADSTS700027"}, []string{"AZURE_CLIENT_CERTIFICATE_PATH", "upload"}},
		{"federated credential subject mismatch", mi, ExchangeError{Kind: Misconfigured, AADSTS: "AADSTS700213"},
			[]string{"federated credential", "https://login.microsoftonline.com/" + testTenant + "/v2.0", "object (principal) id", "api://AzureADTokenExchange"}},
		{"managed identity endpoint failed", mi, ExchangeError{Kind: Misconfigured}, []string{"FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID", "assigned"}},
		{"app registration not found", secret, ExchangeError{Kind: Misconfigured, AADSTS: "AADSTS700016"}, []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID"}},
		{"Databricks permission missing", secret, ExchangeError{Kind: Misconfigured, AADSTS: "AADSTS500011"}, []string{"user_impersonation", "admin consent"}},
		{"unknown code, secret", secret, ExchangeError{Kind: Misconfigured, AADSTS: "AADSTS1"}, []string{"AZURE_CLIENT_SECRET"}},
		{"consent is not an administrator action here", secret, ExchangeError{Kind: ConsentRequired, AADSTS: "AADSTS65001"}, nil},
		{"unavailable is nobody's configuration", secret, ExchangeError{Kind: Unavailable}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cred.adminAction(testTenant, &tt.xe)
			if len(tt.wants) == 0 && got != "" {
				t.Fatalf("action = %q, want none", got)
			}
			for _, w := range tt.wants {
				if !strings.Contains(got, w) {
					t.Errorf("action %q lacks %q", got, w)
				}
			}
		})
	}
}

// logLine returns the first JSON log line with the message msg.
func logLine(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == msg {
			return m
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, logs)
	return nil
}
