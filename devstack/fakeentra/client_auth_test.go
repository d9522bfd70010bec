package fakeentra_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/flowbricks/flowbricks/devstack/fakeentra"
)

// Stats.ClientAuthentications tells the end-to-end tests which kind of credential the handler
// really presented: a secret, a certificate-signed assertion or a managed identity token.
func TestStatsCountClientAuthenticationsByMethod(t *testing.T) {
	cert, key, certPEM := newClientCertificate(t)
	mi := newManagedIdentity()
	f := newFixture(t, func(c *fakeentra.Config) {
		c.API.CertificatesPEM = []string{certPEM}
		c.ManagedIdentities = []fakeentra.ManagedIdentity{mi}
		c.API.FederatedSubjects = []string{mi.ObjectID}
	})
	t.Setenv("IDENTITY_ENDPOINT", f.fe.MSIEndpoint())
	t.Setenv("IDENTITY_HEADER", identityHdr)
	miCred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ID: azidentity.ClientID(mi.ClientID), ClientOptions: f.clientOptions(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	miAssertion := func(ctx context.Context) (string, error) {
		tk, err := miCred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{fakeentra.TokenExchangeAudience + "/.default"}})
		return tk.Token, err
	}

	credentials := []struct {
		method string
		build  func(userTok string) (*azidentity.OnBehalfOfCredential, error)
	}{
		{fakeentra.ClientAuthSecret, func(u string) (*azidentity.OnBehalfOfCredential, error) {
			return azidentity.NewOnBehalfOfCredentialWithSecret(tenantID, apiClientID, u, apiSecret, f.oboOptions(true))
		}},
		{fakeentra.ClientAuthCertificate, func(u string) (*azidentity.OnBehalfOfCredential, error) {
			return azidentity.NewOnBehalfOfCredentialWithCertificate(tenantID, apiClientID, u, []*x509.Certificate{cert}, key, f.oboOptions(true))
		}},
		{fakeentra.ClientAuthFederated, func(u string) (*azidentity.OnBehalfOfCredential, error) {
			return azidentity.NewOnBehalfOfCredentialWithClientAssertions(tenantID, apiClientID, u, miAssertion, f.oboOptions(true))
		}},
	}
	for _, c := range credentials {
		t.Run(c.method, func(t *testing.T) {
			f.fe.ResetStats()
			cred, err := c.build(f.userToken(t, "alice", fakeentra.MintOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope}); err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			got := f.fe.Stats().ClientAuthentications
			if len(got) != 1 || got[c.method] != 1 {
				t.Fatalf("client authentications = %v, want exactly one %s", got, c.method)
			}
		})
	}

	t.Run("a refused credential is not counted", func(t *testing.T) {
		f.fe.ResetStats()
		cred, err := azidentity.NewOnBehalfOfCredentialWithSecret(tenantID, apiClientID, f.userToken(t, "alice", fakeentra.MintOptions{}), "wrong", f.oboOptions(true))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: databricksScope}); err == nil {
			t.Fatal("a wrong secret was accepted")
		}
		if got := f.fe.Stats().ClientAuthentications; len(got) != 0 {
			t.Fatalf("client authentications = %v, want none", got)
		}
	})
}
