package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/internal/azure"
)

const (
	tenant = "11111111-2222-3333-4444-555555555555"
	client = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)

func env(overrides map[string]string) func(string) string {
	base := map[string]string{
		EnvTenantID:       tenant,
		EnvClientID:       client,
		EnvClientSecret:   "s3cr3t-value",
		EnvDatabricksHost: "https://adb-1.2.azuredatabricks.net",
		EnvPort:           "8080",
	}
	for k, v := range overrides {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Credential != CredentialSecret || c.AuthorityHost != azure.PublicAuthorityHost || c.Scope != DefaultScope ||
		c.AppRole != DefaultAppRole || c.LogFormat != "json" || c.LogLevel != "info" || c.Port != 8080 ||
		c.PollInterval != 20*time.Second || len(c.AppCallers) != 0 || c.UpstreamTimeout != DefaultUpstreamTimeout ||
		c.TriggerLookback != 48*time.Hour {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if got := strings.Join(c.Audiences, ","); got != client+",api://"+client {
		t.Fatalf("audiences = %s", got)
	}
	if c.Workspaces["default"] != "https://adb-1.2.azuredatabricks.net" {
		t.Fatalf("workspaces = %v", c.Workspaces)
	}
}

func TestLoadAccepts(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) bool
	}{
		{"host without scheme gets https", map[string]string{EnvDatabricksHost: "adb-1.2.azuredatabricks.net/"},
			func(c Config) bool { return c.DatabricksHost == "https://adb-1.2.azuredatabricks.net" }},
		{"authority gets trailing slash", map[string]string{EnvAuthorityHost: "https://127.0.0.1:8443"},
			func(c Config) bool { return c.AuthorityHost == "https://127.0.0.1:8443/" }},
		{"certificate credential", map[string]string{EnvClientSecret: "", EnvCertificatePath: "/c.pem", EnvCertificatePassword: "p"},
			func(c Config) bool { return c.Credential == CredentialCertificate }},
		{"managed identity credential", map[string]string{EnvClientSecret: "", EnvManagedIdentityClient: client},
			func(c Config) bool { return c.Credential == CredentialManagedIdentity }},
		{"audiences, app callers, poll", map[string]string{EnvAudiences: "a, b", EnvAppCallers: tenant + "," + client, EnvPollSeconds: "5"},
			func(c Config) bool {
				return len(c.Audiences) == 2 && len(c.AppCallers) == 2 && c.PollInterval == 5*time.Second
			}},
		{"client apps", map[string]string{EnvClientApps: client + " , " + tenant},
			func(c Config) bool { return slices.Equal(c.ClientApps, []string{client, tenant}) }},
		{"workspaces and jobs", map[string]string{EnvWorkspaces: "sales=https://adb-9.1.azuredatabricks.net", EnvJobs: "101, 102"},
			func(c Config) bool {
				return c.Workspaces["sales"] == "https://adb-9.1.azuredatabricks.net" && len(c.Jobs) == 2
			}},
		{"upstream timeout", map[string]string{EnvUpstreamTimeout: "3"},
			func(c Config) bool { return c.UpstreamTimeout == 3*time.Second }},
		{"trigger look-back of a day", map[string]string{EnvTriggerLookbackHours: "24"},
			func(c Config) bool { return c.TriggerLookback == 24*time.Hour }},
		{"trigger look-back of Databricks' whole 60-day retention", map[string]string{EnvTriggerLookbackHours: "1440"},
			func(c Config) bool { return c.TriggerLookback == 60*24*time.Hour }},
		{"console logs", map[string]string{EnvLogFormat: "Console", EnvLogLevel: "DEBUG"},
			func(c Config) bool { return c.LogFormat == "console" && c.LogLevel == "debug" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestLoadRejectsNamingTheVariable(t *testing.T) {
	tests := []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{EnvTenantID: ""}, EnvTenantID},
		{map[string]string{EnvTenantID: "contoso.onmicrosoft.com"}, EnvTenantID},
		{map[string]string{EnvClientID: "x"}, EnvClientID},
		{map[string]string{EnvClientSecret: ""}, EnvClientSecret},
		{map[string]string{EnvCertificatePath: "/c.pem"}, EnvClientSecret},
		{map[string]string{EnvManagedIdentityClient: "not-a-guid", EnvClientSecret: ""}, EnvManagedIdentityClient},
		{map[string]string{EnvCertificatePassword: "p"}, EnvCertificatePassword},
		{map[string]string{EnvAuthorityHost: "http://127.0.0.1:8443/"}, EnvAuthorityHost},
		{map[string]string{EnvDatabricksHost: ""}, EnvDatabricksHost},
		{map[string]string{EnvDatabricksHost: "https://adb-1.azuredatabricks.net/api/2.2"}, EnvDatabricksHost},
		{map[string]string{EnvDatabricksHost: "ftp://adb-1"}, EnvDatabricksHost},
		{map[string]string{EnvWorkspaces: "=https://x"}, EnvWorkspaces},
		{map[string]string{EnvWorkspaces: "a=https://x/path"}, EnvWorkspaces},
		{map[string]string{EnvJobs: "101,abc"}, EnvJobs},
		{map[string]string{EnvScope: "a b"}, EnvScope},
		{map[string]string{EnvAppCallers: "logic-app"}, EnvAppCallers},
		{map[string]string{EnvClientApps: "power-automate"}, EnvClientApps},
		{map[string]string{EnvPublicURL: "flowbricks.example"}, EnvPublicURL},
		{map[string]string{EnvPollSeconds: "0"}, EnvPollSeconds},
		{map[string]string{EnvUpstreamTimeout: "0"}, EnvUpstreamTimeout},
		{map[string]string{EnvUpstreamTimeout: "56"}, EnvUpstreamTimeout},
		{map[string]string{EnvUpstreamTimeout: "3s"}, EnvUpstreamTimeout},
		{map[string]string{EnvTriggerLookbackHours: "0"}, EnvTriggerLookbackHours},
		{map[string]string{EnvTriggerLookbackHours: "1441"}, EnvTriggerLookbackHours},
		{map[string]string{EnvTriggerLookbackHours: "48h"}, EnvTriggerLookbackHours},
		{map[string]string{EnvLogLevel: "loud"}, EnvLogLevel},
		{map[string]string{EnvLogFormat: "xml"}, EnvLogFormat},
		{map[string]string{EnvPort: ""}, EnvPort},
		{map[string]string{EnvPort: "70000"}, EnvPort},
		{map[string]string{EnvConnectorHost: "https://fb.contoso.example"}, EnvConnectorHost},
		{map[string]string{EnvConnectorHost: "fb.contoso.example/api"}, EnvConnectorHost},
		{map[string]string{EnvConnectorHost: "user@fb.contoso.example"}, EnvConnectorHost},
		{map[string]string{EnvConnectorContactURL: "http://intranet.contoso.example"}, EnvConnectorContactURL},
		{map[string]string{EnvConnectorContactURL: "intranet"}, EnvConnectorContactURL},
		{map[string]string{EnvConnectorPrivacyURL: "/privacy"}, EnvConnectorPrivacyURL},
		{map[string]string{EnvConnectorContactEmail: "Flow team <flows@contoso.example>"}, EnvConnectorContactEmail},
		{map[string]string{EnvConnectorContactEmail: "flows"}, EnvConnectorContactEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("want *Error, got %v", err)
			}
			if !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("error %q does not name %s", err, tt.name)
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Fatal("error leaks the secret")
			}
		})
	}
}

func TestSettingNamesCoverRequired(t *testing.T) {
	all := map[string]bool{}
	for _, n := range SettingNames() {
		if all[n] {
			t.Fatalf("%s listed twice", n)
		}
		all[n] = true
	}
	for _, n := range RequiredSettingNames() {
		if !all[n] {
			t.Fatalf("required %s not in SettingNames", n)
		}
	}
}
