package entra

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flowbricks/flowbricks/internal/azure"
)

// normalizeAuthorityHost checks that host is an absolute https URL without query or fragment and
// returns it with exactly one trailing slash ("https://login.microsoftonline.com/").
// An empty host means the public cloud.
func normalizeAuthorityHost(host string) (string, error) {
	if host == "" {
		return azure.PublicAuthorityHost, nil
	}
	u, err := url.Parse(host)
	if err != nil {
		return "", fmt.Errorf("authority host %q is not a URL", host)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("authority host %q must use https", host)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("authority host %q must be of the form https://host[:port]/", host)
	}
	return strings.TrimRight(u.String(), "/") + "/", nil
}

// multiTenantAliases are authority "tenants" that are not a tenant: tokens from them cannot be
// pinned to one issuer and one tid, and OBO must run in the app's own tenant.
var multiTenantAliases = map[string]bool{"common": true, "organizations": true, "consumers": true}

// checkTenantID applies azidentity's tenant syntax rule ([A-Za-z0-9.-]+) and refuses the
// multi-tenant aliases.
func checkTenantID(tenantID string) error {
	if tenantID == "" {
		return errors.New("tenant ID is required")
	}
	for _, r := range tenantID {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '.' || r == '-') {
			return fmt.Errorf("tenant ID %q contains characters other than letters, digits, '.' and '-'", tenantID)
		}
	}
	if multiTenantAliases[strings.ToLower(tenantID)] {
		return fmt.Errorf("tenant ID %q is a multi-tenant alias; use the tenant's own ID", tenantID)
	}
	return nil
}

// NewTransport is the HTTP transport for Entra ID: discovery, signing keys, the token endpoint
// and the managed identity endpoint. It keeps connections alive between requests — the default
// transport keeps only two idle connections per host, too few under a burst of flows — and
// bounds the TLS handshake and the wait for an answer's headers. HTTP/2 is used when Entra offers
// it. roots are the certificate authorities to trust; nil means the system roots (on Linux
// SSL_CERT_FILE / SSL_CERT_DIR), a pool is for a test or local Entra ID with its own CA.
func NewTransport(roots *x509.CertPool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.MinVersion = tls.VersionTLS12
	t.TLSClientConfig.RootCAs = roots
	return t
}

// defaultHTTPClient is used when the caller passes no client: NewTransport with an overall
// timeout, so no request can hang.
func defaultHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: NewTransport(nil)}
}

// microsoftAuthorityHosts are Entra's own authority hosts, for which instance discovery is
// meaningful. Copied from MSAL Go v1.10.1 apps/internal/oauth/ops/authority/authority.go
// (aadTrustedHostList), which is internal and cannot be imported.
var microsoftAuthorityHosts = map[string]bool{
	"login.windows.net":                true,
	"login.partner.microsoftonline.cn": true,
	"login.chinacloudapi.cn":           true,
	"login.microsoftonline.de":         true,
	"login-us.microsoftonline.com":     true,
	"login.microsoftonline.us":         true,
	"login.microsoftonline.com":        true,
	"login.microsoft.com":              true,
	"sts.windows.net":                  true,
	"login.usgovcloudapi.net":          true,
	"login.sovcloud-identity.fr":       true,
	"login.sovcloud-identity.de":       true,
	"login.sovcloud-identity.sg":       true,
}

// isMicrosoftAuthorityHost reports whether normalized authority URL points at one of Entra's hosts
// (on the default port).
func isMicrosoftAuthorityHost(authority string) bool {
	u, err := url.Parse(authority)
	if err != nil {
		return false
	}
	return u.Port() == "" && microsoftAuthorityHosts[strings.ToLower(u.Hostname())]
}
