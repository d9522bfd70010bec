package fakeentra_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
)

// sha256Sum is the x5t#S256 value MSAL Go puts in certificate assertions (standard base64).
func sha256Sum(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestConfigJSON documents the fixture format the devstack reads.
func TestConfigJSON(t *testing.T) {
	const fixture = `{
	  "tenant_id": "7d9f2c1e-4b3a-4e6f-8a2b-1c0d9e8f7a6b",
	  "api": {
	    "client_id": "3a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
	    "client_secret": "dev-secret",
	    "app_id_uri": "api://3a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
	    "scope": "user_impersonation",
	    "federated_subjects": ["0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"]
	  },
	  "users": [
	    {"name": "alice", "oid": "11111111-2222-4333-8444-555555555555", "upn": "alice@contoso.example", "display_name": "Alice"},
	    {"name": "mallory", "oid": "44444444-5555-4666-8777-888888888888", "upn": "mallory@contoso.example", "entra_error": "mfa_required"}
	  ],
	  "apps": [{"name": "logic-app", "client_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "client_secret": "s", "roles": ["Jobs.Run"]}],
	  "managed_identities": [{"client_id": "a1b2c3d4-0000-4000-8000-000000000001", "object_id": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"}],
	  "identity_header": "h"
	}`
	var cfg fakeentra.Config
	dec := json.NewDecoder(strings.NewReader(fixture))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("fixture does not decode: %v", err)
	}
	cfg.BaseURL = "https://127.0.0.1:44321/"
	s, err := fakeentra.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Issuer(2) != "https://127.0.0.1:44321/"+cfg.TenantID+"/v2.0" || s.Issuer(1) != "https://127.0.0.1:44321/"+cfg.TenantID+"/" {
		t.Errorf("issuers %q %q", s.Issuer(2), s.Issuer(1))
	}
	if s.ServicePrincipalObjectID("a1b2c3d4-0000-4000-8000-000000000001") != "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e" {
		t.Error("a managed identity's service principal is its object id")
	}
	if a, b := s.ServicePrincipalObjectID(cfg.API.ClientID), s.ServicePrincipalObjectID(strings.ToUpper(cfg.API.ClientID)); a != b || len(a) != 36 {
		t.Errorf("derived service principal ids must be stable GUIDs: %q %q", a, b)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*fakeentra.Config)
		want   string
	}{
		{"plain http", func(c *fakeentra.Config) { c.BaseURL = "http://127.0.0.1:1" }, "https"},
		{"base URL with a path", func(c *fakeentra.Config) { c.BaseURL = "https://127.0.0.1:1/tenant" }, "https"},
		{"no tenant", func(c *fakeentra.Config) { c.TenantID = "" }, "TenantID"},
		{"no API client id", func(c *fakeentra.Config) { c.API.ClientID = "" }, "API.ClientID"},
		{"user without oid", func(c *fakeentra.Config) { c.Users[0].OID = "" }, "Users[0]"},
		{"duplicate user", func(c *fakeentra.Config) { c.Users[1].Name = "alice" }, "duplicate"},
		{"unknown error kind", func(c *fakeentra.Config) { c.Users[0].Error = "teapot" }, "entra_error"},
		{"app reusing the API's id", func(c *fakeentra.Config) { c.Apps[0].ClientID = apiClientID }, "duplicate"},
		{"managed identity without object id", func(c *fakeentra.Config) {
			c.ManagedIdentities = []fakeentra.ManagedIdentity{{ClientID: "x"}}
		}, "ManagedIdentities[0]"},
		{"managed identities without identity header", func(c *fakeentra.Config) {
			c.ManagedIdentities = []fakeentra.ManagedIdentity{newManagedIdentity()}
			c.IdentityHeader = ""
		}, "IdentityHeader"},
		{"token lifetime MSAL would refuse", func(c *fakeentra.Config) { c.TokenTTL = 5 * time.Minute }, "TokenTTL"},
		{"bad certificate", func(c *fakeentra.Config) { c.API.CertificatesPEM = []string{"not pem"} }, "CertificatesPEM[0]"},
		{"bad token version", func(c *fakeentra.Config) { c.API.AccessTokenVersion = 3 }, "AccessTokenVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.BaseURL = "https://127.0.0.1:44321"
			tt.mutate(&cfg)
			_, err := fakeentra.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error naming %q, got %v", tt.want, err)
			}
		})
	}
}

func TestInjectedClockDrivesLifetimes(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	cfg := baseConfig()
	cfg.BaseURL = "https://127.0.0.1:44321"
	cfg.Now = func() time.Time { return now }
	s, err := fakeentra.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.MintUserToken("alice", fakeentra.MintOptions{TTL: 90 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Verify(tok, apiClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ExpiresAt.Equal(now.Add(90 * time.Minute)) {
		t.Errorf("exp = %v", c.ExpiresAt)
	}
	now = now.Add(91 * time.Minute) // the fake's clock moves on; the token expires
	if _, err := s.Verify(tok, apiClientID); err == nil {
		t.Error("want expiry by the injected clock")
	}
}
