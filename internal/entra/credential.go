package entra

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialOptions is the handler's own credential towards Entra. Exactly one kind must be set.
type CredentialOptions struct {
	// ClientSecret of the app registration (development).
	ClientSecret Token

	// CertificatePath is a PEM or PKCS#12 file with the certificate and its RSA private key;
	// CertificatePassword decrypts it if needed (see azidentity.ParseCertificates).
	CertificatePath     string
	CertificatePassword Token

	// ManagedIdentityClientID selects a user-assigned managed identity whose token is presented as
	// a federated identity credential (client assertion) — production, no secret anywhere. The app
	// registration needs a federated credential with issuer https://login.microsoftonline.com/{tenant}/v2.0,
	// subject = the identity's object (principal) id and audience = FederatedTokenAudience.
	// azidentity reads App Service's IDENTITY_ENDPOINT / IDENTITY_HEADER itself.
	ManagedIdentityClientID string
	// FederatedTokenAudience is the audience of the managed identity token. Default by cloud:
	// api://AzureADTokenExchange (public), api://AzureADTokenExchangeUSGov (US Gov),
	// api://AzureADTokenExchangeChina (China).
	FederatedTokenAudience string
}

type credentialKind int

const (
	credSecret credentialKind = iota + 1
	credCertificate
	credManagedIdentity
)

// clientCredential is the loaded form of CredentialOptions.
type clientCredential struct {
	kind       credentialKind
	secret     string
	certs      []*x509.Certificate
	key        crypto.PrivateKey
	mi         *azidentity.ManagedIdentityCredential
	miAudience string
	password   string // only for redaction
}

// loadCredential checks that exactly one kind is configured and loads it. It reads the certificate
// file but makes no network call (azidentity's managed identity credential is lazy too).
func loadCredential(o CredentialOptions, authority string, clientOpts azcore.ClientOptions) (*clientCredential, error) {
	n := 0
	if o.ClientSecret != "" {
		n++
	}
	if o.CertificatePath != "" {
		n++
	}
	if o.ManagedIdentityClientID != "" {
		n++
	}
	if n != 1 {
		return nil, fmt.Errorf("exactly one of client secret, certificate path or managed identity client ID must be set (got %d)", n)
	}
	if o.CertificatePassword != "" && o.CertificatePath == "" {
		return nil, errors.New("a certificate password is set without a certificate path")
	}
	switch {
	case o.ClientSecret != "":
		return &clientCredential{kind: credSecret, secret: o.ClientSecret.Reveal()}, nil

	case o.CertificatePath != "":
		data, err := os.ReadFile(o.CertificatePath)
		if err != nil {
			return nil, fmt.Errorf("reading certificate: %w", err)
		}
		var pw []byte
		if o.CertificatePassword != "" {
			pw = []byte(o.CertificatePassword.Reveal())
		}
		certs, key, err := azidentity.ParseCertificates(data, pw)
		if err != nil {
			// ParseCertificates' messages describe the format problem, not the password.
			return nil, fmt.Errorf("loading certificate %s: %s", o.CertificatePath, sanitize(err.Error(), []string{o.CertificatePassword.Reveal()}))
		}
		if _, ok := key.(*rsa.PrivateKey); !ok {
			return nil, fmt.Errorf("certificate %s: the private key must be RSA (Entra client assertions are RSA-signed)", o.CertificatePath)
		}
		return &clientCredential{kind: credCertificate, certs: certs, key: key, password: o.CertificatePassword.Reveal()}, nil

	default:
		aud := o.FederatedTokenAudience
		if aud == "" {
			aud = federatedTokenAudience(authority)
		}
		mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: clientOpts,
			ID:            azidentity.ClientID(o.ManagedIdentityClientID),
		})
		if err != nil {
			return nil, fmt.Errorf("managed identity credential: %w", err)
		}
		return &clientCredential{kind: credManagedIdentity, mi: mi, miAudience: aud}, nil
	}
}

// federatedTokenAudience returns the FIC audience for the cloud of an authority host.
func federatedTokenAudience(authority string) string {
	u, err := url.Parse(authority)
	if err != nil {
		return "api://AzureADTokenExchange"
	}
	switch strings.ToLower(u.Hostname()) {
	case "login.microsoftonline.us", "login.usgovcloudapi.net", "login-us.microsoftonline.com":
		return "api://AzureADTokenExchangeUSGov"
	case "login.chinacloudapi.cn", "login.partner.microsoftonline.cn":
		return "api://AzureADTokenExchangeChina"
	default:
		return "api://AzureADTokenExchange"
	}
}

// assertion is the client-assertion callback for the managed-identity kind: the managed identity's
// token for the federation audience. azidentity/MSAL cache that token process-wide, so the managed
// identity endpoint is called once per token lifetime, not per exchange.
func (c *clientCredential) assertion(ctx context.Context) (string, error) {
	tk, err := c.mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.miAudience + "/.default"}})
	tr := traceFrom(ctx)
	if err != nil {
		tr.assertionFailed(err)
		return "", errors.New("managed identity token for the federated credential unavailable")
	}
	tr.addSecret(tk.Token)
	return tk.Token, nil
}

// secrets lists the credential's secret material for redaction.
func (c *clientCredential) secretsForRedaction() []string {
	return []string{c.secret, c.password}
}

// oboCredential builds an On-Behalf-Of credential for one user assertion. No network.
func (c *clientCredential) oboCredential(tenantID, clientID, userAssertion string, o *azidentity.OnBehalfOfCredentialOptions) (azcore.TokenCredential, error) {
	switch c.kind {
	case credSecret:
		return azidentity.NewOnBehalfOfCredentialWithSecret(tenantID, clientID, userAssertion, c.secret, o)
	case credCertificate:
		return azidentity.NewOnBehalfOfCredentialWithCertificate(tenantID, clientID, userAssertion, c.certs, c.key, o)
	case credManagedIdentity:
		return azidentity.NewOnBehalfOfCredentialWithClientAssertions(tenantID, clientID, userAssertion, c.assertion, o)
	}
	return nil, errors.New("no credential configured")
}

// appCredential builds the handler's own client-credentials credential (long-lived: azidentity
// caches its tokens). No network.
func (c *clientCredential) appCredential(tenantID, clientID string, clientOpts azcore.ClientOptions, disableInstanceDiscovery bool) (azcore.TokenCredential, error) {
	switch c.kind {
	case credSecret:
		return azidentity.NewClientSecretCredential(tenantID, clientID, c.secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: clientOpts, DisableInstanceDiscovery: disableInstanceDiscovery,
		})
	case credCertificate:
		return azidentity.NewClientCertificateCredential(tenantID, clientID, c.certs, c.key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions: clientOpts, DisableInstanceDiscovery: disableInstanceDiscovery,
		})
	case credManagedIdentity:
		return azidentity.NewClientAssertionCredential(tenantID, clientID, c.assertion, &azidentity.ClientAssertionCredentialOptions{
			ClientOptions: clientOpts, DisableInstanceDiscovery: disableInstanceDiscovery,
		})
	}
	return nil, errors.New("no credential configured")
}

// adminAction says what an administrator must change when Entra refused the handler's own
// registration or credential (xe.Kind Misconfigured; "" for every other kind). The codes are
// Entra's (reference-error-codes.md); the settings are named the way the handler reads them.
func (c *clientCredential) adminAction(tenantID string, xe *ExchangeError) string {
	if xe.Kind != Misconfigured {
		return ""
	}
	const fic = "add a federated credential to the flowbricks API app registration with issuer " +
		"https://login.microsoftonline.com/%s/v2.0, subject = the managed identity's object (principal) id and audience %s"
	switch xe.AADSTS {
	case "AADSTS7000215":
		return "Entra ID refused the client secret (AZURE_CLIENT_SECRET): it is not the value of a current secret of the " +
			"flowbricks API app registration (often the secret's ID was copied instead of its value). Set the value of a " +
			"current client secret, or better use the managed identity as a federated credential (FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID)."
	case "AADSTS7000222":
		return "The client secret (AZURE_CLIENT_SECRET) has expired: create a new client secret on the flowbricks API app " +
			"registration and update the setting, or switch to the managed identity as a federated credential."
	case "AADSTS700027", "AADSTS700021", "AADSTS700023", "AADSTS50027":
		if c.kind == credManagedIdentity {
			return "Entra ID refused the managed identity token presented as client assertion: " + fmt.Sprintf(fic, tenantID, c.miAudience) + "."
		}
		return "Entra ID refused the certificate's client assertion: upload the certificate (public part) of " +
			"AZURE_CLIENT_CERTIFICATE_PATH to the flowbricks API app registration (Certificates & secrets) and check that the " +
			"file holds the matching RSA private key."
	case "AADSTS700024":
		return "The client assertion was outside its validity window: check the clock of the host (certificate) or that " +
			"the managed identity endpoint returns fresh tokens."
	case "AADSTS700211", "AADSTS700212", "AADSTS700213", "AADSTS700229":
		aud := c.miAudience
		if aud == "" {
			aud = "api://AzureADTokenExchange"
		}
		return "No federated credential matches the managed identity's token: " + fmt.Sprintf(fic, tenantID, aud) + "."
	case "AADSTS700016", "AADSTS7000218":
		return "The flowbricks API app registration was not found or has no usable credential: check AZURE_CLIENT_ID " +
			"(the API registration's client id), AZURE_TENANT_ID and the credential setting."
	case "AADSTS90002", "AADSTS900023":
		return "The tenant was not found: check AZURE_TENANT_ID and AZURE_AUTHORITY_HOST (the cloud)."
	case "AADSTS500011", "AADSTS650057", "AADSTS70011":
		return "Entra ID refused the Azure Databricks permission: the flowbricks API app registration needs the API " +
			"permission AzureDatabricks user_impersonation (2ff814a6-3304-4ab8-85cb-cd0e6f879c1d) with admin consent."
	case "AADSTS7000114":
		return "Entra ID refused an on-behalf-of exchange of an application token; only user tokens can be exchanged."
	}
	switch c.kind {
	case credManagedIdentity:
		if xe.AADSTS == "" {
			return "The managed identity token could not be obtained: check that the user-assigned identity is assigned to " +
				"the Function App and that FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID is its client id."
		}
		return "Check the flowbricks API app registration and its federated credential for the managed identity " +
			"(FLOWBRICKS_MANAGED_IDENTITY_CLIENT_ID)."
	case credCertificate:
		return "Check the flowbricks API app registration and the certificate it trusts (AZURE_CLIENT_CERTIFICATE_PATH)."
	default:
		return "Check the flowbricks API app registration and its client secret (AZURE_CLIENT_SECRET)."
	}
}
