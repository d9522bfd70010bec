// Package fakeentra is a test double for Microsoft Entra ID (one tenant) used by the
// local stack, the end-to-end tests and the load benchmark.
//
// It reproduces Entra's documented wire behaviour closely enough that the real client
// libraries work against it unchanged: azidentity (OnBehalfOfCredential, client secret,
// certificate, client assertion and App Service managed identity credentials, with MSAL
// Go underneath) and JWT validation with golang-jwt + keyfunc. It serves:
//
//   - v1 and v2 OpenID Connect discovery documents and Entra-shaped JWKS (RSA 2048,
//     x5c, x5t, no alg), with key rotation where the previous key stays published;
//   - the v2 (and v1) token endpoint: the jwt-bearer On-Behalf-Of grant and client
//     credentials, clients authenticated with a secret, a certificate-signed client
//     assertion or a managed-identity token used as a federated credential;
//   - Entra-shaped error bodies (AADSTS codes, suberror, claims challenge) with Entra's
//     HTTP statuses, including per-user injected failures (consent, MFA, …);
//   - the App Service managed identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER);
//   - a few fake-only endpoints under /devstack/ (mint a token, rotate keys, counters).
//
// The server must be reached over HTTPS (MSAL refuses other authorities); the caller
// owns the listener and passes its base URL in Config.BaseURL. Client secrets, tokens
// and assertions never appear in responses other than the issued token itself, and the
// package does not log.
package fakeentra

import (
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

const (
	// DatabricksResourceID is the application id of the AzureDatabricks first-party app,
	// the resource of every Databricks token.
	DatabricksResourceID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
	// TokenExchangeAudience is the audience of managed-identity tokens used as
	// federated identity credentials (public cloud).
	TokenExchangeAudience = "api://AzureADTokenExchange"
	// DefaultClientAppID is the client application (azp/appid) of user tokens minted
	// without MintOptions.ClientAppID: it stands in for the Power Platform custom
	// connector's app registration.
	DefaultClientAppID = "5e2b8a4c-6d1f-4c3e-9b7a-0f8e1d2c3b4a"
	// DefaultTokenTTLMin and DefaultTokenTTLMax bound the lifetime of issued tokens when
	// Config.TokenTTL is zero: Entra "assigns a random value ranging between 60-90 minutes
	// (75 minutes on average)" (https://learn.microsoft.com/entra/identity-platform/access-tokens#token-lifetime).
	DefaultTokenTTLMin = 60 * time.Minute
	DefaultTokenTTLMax = 90 * time.Minute
	// RefreshTokenTTL is how long a refresh token the fake issues can be redeemed: "90 days
	// for all other scenarios" than single-page apps
	// (https://learn.microsoft.com/entra/identity-platform/refresh-tokens#token-lifetime).
	RefreshTokenTTL = 90 * 24 * time.Hour
	// DefaultThrottleRetryAfter is the Retry-After of a throttled (429) answer when
	// Config.ThrottleRetryAfter is zero: Entra "will reply with 429 Too Many Requests, with a
	// Retry-After: 60 header" (https://learn.microsoft.com/entra/msal/dotnet/advanced/client-and-server-throttling).
	DefaultThrottleRetryAfter = 60 * time.Second
	// MinTokenTTL is the shortest Config.TokenTTL accepted. Entra's configurable token
	// lifetime has a 10 minute minimum, and MSAL refuses tokens that live 5 minutes or less.
	MinTokenTTL = 10 * time.Minute
)

// Error kinds for User.Error: the OBO token request for the user's assertion fails the
// way Entra fails it.
const (
	ErrorNone            = ""
	ErrorConsentRequired = "consent_required" // AADSTS65001, invalid_grant, suberror consent_required
	ErrorMFARequired     = "mfa_required"     // AADSTS50076, invalid_grant, suberror basic_action, claims challenge
	// ErrorMFAInteractionRequired is the other form Entra sends AADSTS50076 in:
	// error interaction_required with a claims challenge and no suberror.
	ErrorMFAInteractionRequired = "mfa_interaction_required"
	ErrorInvalidGrant           = "invalid_grant" // AADSTS50013, assertion invalid
	ErrorUnavailable            = "unavailable"   // HTTP 503 temporarily_unavailable with Retry-After
	// ErrorThrottled answers HTTP 429 "Too Many Requests" with Retry-After
	// (Config.ThrottleRetryAfter), as Entra throttles an app that asks for tokens too often.
	ErrorThrottled = "throttled"
)

// OptionalClaimIDTyp is the access-token optional claim `idtyp`: when the API's app
// registration asks for it, Entra marks app-only tokens for the API with idtyp=app.
const OptionalClaimIDTyp = "idtyp"

// User is a member of the fake tenant.
type User struct {
	Name        string `json:"name"`         // short name used by tests and the CLI, e.g. "alice"
	OID         string `json:"oid"`          // object id (GUID)
	UPN         string `json:"upn"`          // alice@contoso.example
	DisplayName string `json:"display_name"` // "Alice Example"
	// Error makes the OBO token request for this user's assertion fail; one of the
	// Error* constants.
	Error string `json:"entra_error,omitempty"`
}

// App is a confidential client that may call the token endpoint with client
// credentials, e.g. a Logic App's "Active Directory OAuth" app registration.
type App struct {
	Name         string `json:"name"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// Roles are the app roles granted on the flowbricks API; they appear in the `roles`
	// claim of client-credentials tokens for the API.
	Roles []string `json:"roles"`
}

// ManagedIdentity is a user-assigned managed identity served by the App Service
// managed identity endpoint (/msi/token).
type ManagedIdentity struct {
	ClientID   string `json:"client_id"`
	ObjectID   string `json:"object_id"`             // principal id; `oid`/`sub` of its tokens
	ResourceID string `json:"resource_id,omitempty"` // optional ARM id, selectable with mi_res_id
	// Roles are app roles granted to the identity on the flowbricks API (a Logic App
	// HTTP action authenticating with this identity).
	Roles []string `json:"roles,omitempty"`
}

// APIRegistration is the flowbricks API app registration: the middle tier that
// receives user tokens and exchanges them On-Behalf-Of.
type APIRegistration struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	AppIDURI     string `json:"app_id_uri"` // default api://<client_id>
	Scope        string `json:"scope"`      // delegated scope; default user_impersonation
	// AccessTokenVersion is the API's accepted access token version
	// (requestedAccessTokenVersion): 1 or 2, default 2. It decides the version of
	// client-credentials tokens for the API and the default of MintOptions.Version.
	AccessTokenVersion int `json:"access_token_version,omitempty"`
	// FederatedSubjects are object ids of managed identities whose tokens (aud
	// api://AzureADTokenExchange, issued by this fake) are accepted as client_assertion
	// for the API client (federated identity credential).
	FederatedSubjects []string `json:"federated_subjects,omitempty"`
	// CertificatesPEM are PEM certificates whose keys may sign client_assertion JWTs
	// (x5t or x5t#S256 header) for the API client.
	CertificatesPEM []string `json:"certificates_pem,omitempty"`
	// AccessTokenOptionalClaims are the optional claims the API's app registration asks
	// for in its access tokens (optionalClaims.accessToken in the manifest). Only
	// OptionalClaimIDTyp is emulated. None by default, as in a new registration: `idtyp`
	// is "Special: only in app-only access tokens" and only when requested
	// (https://learn.microsoft.com/entra/identity-platform/optional-claims-reference).
	AccessTokenOptionalClaims []string `json:"access_token_optional_claims,omitempty"`
}

// Config describes the fake tenant.
type Config struct {
	// BaseURL is the authority host, e.g. https://127.0.0.1:44321 (no trailing slash).
	BaseURL  string          `json:"-"`
	TenantID string          `json:"tenant_id"`
	API      APIRegistration `json:"api"`
	Users    []User          `json:"users"`
	Apps     []App           `json:"apps"`
	// ManagedIdentities are served by GET /msi/token.
	ManagedIdentities []ManagedIdentity `json:"managed_identities,omitempty"`
	// IdentityHeader is the secret the managed identity endpoint expects in
	// X-IDENTITY-HEADER (IDENTITY_HEADER in the client's environment). Required when
	// ManagedIdentities is not empty.
	IdentityHeader string `json:"identity_header,omitempty"`
	// TokenTTL fixes the lifetime of tokens issued by the token and managed identity
	// endpoints (and of minted tokens without MintOptions.TTL); at least MinTokenTTL.
	// Zero draws each lifetime at random between DefaultTokenTTLMin and
	// DefaultTokenTTLMax, as Entra does.
	TokenTTL time.Duration `json:"-"`
	// Random returns a number in [0, 1) for the random token lifetime; default
	// math/rand/v2.Float64. Tests that need a known lifetime set it (or TokenTTL).
	Random func() float64 `json:"-"`
	// ThrottleRetryAfter is the Retry-After of ErrorThrottled answers; default
	// DefaultThrottleRetryAfter, whole seconds.
	ThrottleRetryAfter time.Duration `json:"-"`
	// Now is the clock; default time.Now.
	Now func() time.Time `json:"-"`
	// SigningKey is the first token signing key; nil generates one. Tests share one
	// (RSA key generation is slow) or keep it to sign tokens themselves.
	SigningKey *SigningKey `json:"-"`
}

// Stats are the server's counters. Every field is a copy.
type Stats struct {
	DiscoveryRequests         int64 `json:"discovery_requests"`
	JWKSRequests              int64 `json:"jwks_requests"`
	TokenRequests             int64 `json:"token_requests"` // every POST to a token endpoint
	OBORequests               int64 `json:"obo_requests"`
	ClientCredentialsRequests int64 `json:"client_credentials_requests"`
	TokenErrors               int64 `json:"token_errors"` // token endpoint responses other than 200
	MSIRequests               int64 `json:"msi_requests"`
	// RefreshRequests counts refresh_token grants (MSAL redeems the refresh token of an
	// OBO answer instead of repeating OBO once the access token is due).
	RefreshRequests int64 `json:"refresh_requests"`
	// OBOByAssertion counts OBO requests per assertion: key = first 12 hex characters of
	// the SHA-256 of the assertion (AssertionKey).
	OBOByAssertion map[string]int64 `json:"obo_by_assertion"`
	// OBOByUser counts OBO requests per user name, for assertions that passed
	// validation (before the user's injected error, if any, is applied).
	OBOByUser map[string]int64 `json:"obo_by_user"`
	// ClientAuthentications counts successful client authentications at the token
	// endpoints by method: ClientAuthSecret, ClientAuthCertificate or
	// ClientAuthFederated.
	ClientAuthentications map[string]int64 `json:"client_authentications"`
}

// Client authentication methods, the keys of Stats.ClientAuthentications.
const (
	ClientAuthSecret      = "client_secret"        // client_secret (post or basic)
	ClientAuthCertificate = "certificate"          // client_assertion signed with a registered certificate
	ClientAuthFederated   = "federated_credential" // client_assertion = a managed identity token (FIC)
)

// Server is the fake Entra ID: an http.Handler plus state. Safe for concurrent use.
type Server struct {
	base     string // BaseURL without trailing slash
	tenant   string // TenantID as configured
	api      APIRegistration
	apiCerts []*x509Cert
	apps     map[string]App    // by client id (lower case)
	mis      []ManagedIdentity // read-only after New
	fedSubs  map[string]bool   // federated subjects (exact, case-sensitive like Entra)
	ttl      atomic.Int64      // a time.Duration; 0 = random between DefaultTokenTTLMin and DefaultTokenTTLMax
	random   func() float64
	throttle time.Duration
	idtyp    bool // the API asked for the idtyp optional claim
	now      func() time.Time
	idHeader string
	rtKey    []byte // signs refresh tokens (they are opaque to clients)

	mu    sync.RWMutex
	users []User // guarded by mu (SetUserError)
	keys  keySet // guarded by mu

	statsMu sync.Mutex
	stats   Stats
}

var validTenantID = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)

// New validates cfg, fills in defaults and generates the first signing key.
func New(cfg Config) (*Server, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("fakeentra: BaseURL must be an https origin like https://127.0.0.1:44321, got %q", cfg.BaseURL)
	}
	if !validTenantID.MatchString(cfg.TenantID) {
		return nil, fmt.Errorf("fakeentra: TenantID must be a tenant id (letters, digits, '.', '-'), got %q", cfg.TenantID)
	}
	api := cfg.API
	if api.ClientID == "" {
		return nil, errors.New("fakeentra: API.ClientID is required")
	}
	if api.AppIDURI == "" {
		api.AppIDURI = "api://" + api.ClientID
	}
	if api.Scope == "" {
		api.Scope = "user_impersonation"
	}
	switch api.AccessTokenVersion {
	case 0:
		api.AccessTokenVersion = 2
	case 1, 2:
	default:
		return nil, fmt.Errorf("fakeentra: API.AccessTokenVersion must be 1 or 2, got %d", api.AccessTokenVersion)
	}
	s := &Server{
		base:     base,
		tenant:   cfg.TenantID,
		api:      api,
		apps:     map[string]App{},
		fedSubs:  map[string]bool{},
		random:   cfg.Random,
		throttle: cfg.ThrottleRetryAfter,
		now:      cfg.Now,
		idHeader: cfg.IdentityHeader,
		rtKey:    make([]byte, 32),
	}
	_, _ = rand.Read(s.rtKey) // never fails (crypto/rand, Go ≥ 1.24)
	if s.random == nil {
		s.random = mathrand.Float64
	}
	if s.throttle <= 0 {
		s.throttle = DefaultThrottleRetryAfter
	}
	for _, c := range api.AccessTokenOptionalClaims {
		if c != OptionalClaimIDTyp {
			return nil, fmt.Errorf("fakeentra: API.AccessTokenOptionalClaims: %q is not emulated (only %q)", c, OptionalClaimIDTyp)
		}
		s.idtyp = true
	}
	if err := s.SetTokenTTL(cfg.TokenTTL); err != nil {
		return nil, err
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i, p := range api.CertificatesPEM {
		certs, err := parseCertificatesPEM(p)
		if err != nil {
			return nil, fmt.Errorf("fakeentra: API.CertificatesPEM[%d]: %w", i, err)
		}
		s.apiCerts = append(s.apiCerts, certs...)
	}
	for _, sub := range api.FederatedSubjects {
		s.fedSubs[sub] = true
	}

	seenUser := map[string]bool{}
	for i, usr := range cfg.Users {
		if usr.Name == "" || usr.OID == "" || usr.UPN == "" {
			return nil, fmt.Errorf("fakeentra: Users[%d]: name, oid and upn are required", i)
		}
		if seenUser[strings.ToLower(usr.Name)] || seenUser[strings.ToLower(usr.OID)] {
			return nil, fmt.Errorf("fakeentra: Users[%d]: duplicate name or oid %q", i, usr.Name)
		}
		seenUser[strings.ToLower(usr.Name)], seenUser[strings.ToLower(usr.OID)] = true, true
		if err := checkErrorKind(usr.Error); err != nil {
			return nil, fmt.Errorf("fakeentra: Users[%d]: %w", i, err)
		}
		if usr.DisplayName == "" {
			usr.DisplayName = usr.Name
		}
		s.users = append(s.users, usr)
	}
	for i, app := range cfg.Apps {
		key := strings.ToLower(app.ClientID)
		if app.ClientID == "" {
			return nil, fmt.Errorf("fakeentra: Apps[%d]: client_id is required", i)
		}
		if _, dup := s.apps[key]; dup || strings.EqualFold(app.ClientID, api.ClientID) {
			return nil, fmt.Errorf("fakeentra: Apps[%d]: duplicate client_id %q", i, app.ClientID)
		}
		app.Roles = append([]string(nil), app.Roles...)
		s.apps[key] = app
	}
	for i, mi := range cfg.ManagedIdentities {
		if mi.ClientID == "" || mi.ObjectID == "" {
			return nil, fmt.Errorf("fakeentra: ManagedIdentities[%d]: client_id and object_id are required", i)
		}
		s.mis = append(s.mis, mi)
	}
	if len(s.mis) > 0 && s.idHeader == "" {
		return nil, errors.New("fakeentra: IdentityHeader is required when ManagedIdentities are configured")
	}

	k := cfg.SigningKey
	if k == nil {
		if k, err = newSigningKey(s.now()); err != nil {
			return nil, err
		}
	}
	s.keys.current = k
	s.stats = newStats()
	return s, nil
}

func checkErrorKind(kind string) error {
	switch kind {
	case ErrorNone, ErrorConsentRequired, ErrorMFARequired, ErrorMFAInteractionRequired, ErrorInvalidGrant, ErrorUnavailable, ErrorThrottled:
		return nil
	}
	return fmt.Errorf("unknown entra_error %q (want one of consent_required, mfa_required, mfa_interaction_required, invalid_grant, unavailable, throttled)", kind)
}

// tokenLifetime is the lifetime of a token issued without an explicit TTL: Config.TokenTTL,
// or a random value between DefaultTokenTTLMin and DefaultTokenTTLMax in whole seconds
// (Entra's default: access-tokens.md, "Token lifetime"), so clients that assume a fixed
// hour, or cache for a fixed time, fail here as they would against Entra.
func (s *Server) tokenLifetime() time.Duration {
	if ttl := time.Duration(s.ttl.Load()); ttl != 0 {
		return ttl
	}
	span := float64(DefaultTokenTTLMax - DefaultTokenTTLMin)
	return (DefaultTokenTTLMin + time.Duration(s.random()*span)).Truncate(time.Second)
}

// SetTokenTTL changes Config.TokenTTL for the tokens issued from now on (0: random
// lifetimes again). Entra's lifetimes differ by tenant policy and client
// (https://learn.microsoft.com/entra/identity-platform/configurable-token-lifetimes); a
// client's cache must cope with a lifetime that changes between two tokens.
func (s *Server) SetTokenTTL(ttl time.Duration) error {
	if ttl != 0 && ttl < MinTokenTTL {
		return fmt.Errorf("fakeentra: TokenTTL must be at least %v (Entra's minimum; MSAL rejects tokens living 5 minutes or less), got %v", MinTokenTTL, ttl)
	}
	s.ttl.Store(int64(ttl))
	return nil
}

// BaseURL returns the authority host (no trailing slash).
func (s *Server) BaseURL() string { return s.base }

// TenantID returns the tenant id.
func (s *Server) TenantID() string { return s.tenant }

// Issuer returns the issuer of tokens of the given version: v2
// BaseURL/{tid}/v2.0; v1 BaseURL/{tid}/ (stands in for https://sts.windows.net/{tid}/).
func (s *Server) Issuer(version int) string {
	if version == 1 {
		return s.base + "/" + s.tenant + "/"
	}
	return s.base + "/" + s.tenant + "/v2.0"
}

// JWKSURL returns the URL of the signing keys for tokens of the given version.
func (s *Server) JWKSURL(version int) string {
	if version == 1 {
		return s.base + "/" + s.tenant + "/discovery/keys"
	}
	return s.base + "/" + s.tenant + "/discovery/v2.0/keys"
}

// TokenEndpoint returns the token endpoint of the given protocol version.
func (s *Server) TokenEndpoint(version int) string {
	if version == 1 {
		return s.base + "/" + s.tenant + "/oauth2/token"
	}
	return s.base + "/" + s.tenant + "/oauth2/v2.0/token"
}

// MSIEndpoint returns the App Service managed identity endpoint (IDENTITY_ENDPOINT).
func (s *Server) MSIEndpoint() string { return s.base + "/msi/token" }

// ServicePrincipalObjectID returns the object id of the service principal of a client
// application of this tenant: the `oid` of its app-only tokens. It is derived from the
// client id (stable across runs); for managed identities it is their ObjectID.
func (s *Server) ServicePrincipalObjectID(clientID string) string {
	for _, mi := range s.mis {
		if strings.EqualFold(mi.ClientID, clientID) {
			return mi.ObjectID
		}
	}
	return derivedID("service-principal", s.tenant, strings.ToLower(clientID))
}

// SetUserError changes the injected OBO failure of a user at run time; kind is one of
// the Error* constants.
func (s *Server) SetUserError(name, kind string) error {
	if err := checkErrorKind(kind); err != nil {
		return fmt.Errorf("fakeentra: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.users {
		if strings.EqualFold(s.users[i].Name, name) {
			s.users[i].Error = kind
			return nil
		}
	}
	return fmt.Errorf("fakeentra: %w %q", errUnknownUser, name)
}

var errUnknownUser = errors.New("unknown user")

// userByName returns a copy of the named user.
func (s *Server) userByName(name string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.users {
		if strings.EqualFold(u.Name, name) {
			return u, true
		}
	}
	return User{}, false
}

// userByOID returns a copy of the user with the object id.
func (s *Server) userByOID(oid string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.users {
		if strings.EqualFold(u.OID, oid) {
			return u, true
		}
	}
	return User{}, false
}

func (s *Server) managedIdentityByClientID(clientID string) (ManagedIdentity, bool) {
	for _, mi := range s.mis {
		if strings.EqualFold(mi.ClientID, clientID) {
			return mi, true
		}
	}
	return ManagedIdentity{}, false
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	c := s.stats
	c.OBOByAssertion = make(map[string]int64, len(s.stats.OBOByAssertion))
	for k, v := range s.stats.OBOByAssertion {
		c.OBOByAssertion[k] = v
	}
	c.OBOByUser = make(map[string]int64, len(s.stats.OBOByUser))
	for k, v := range s.stats.OBOByUser {
		c.OBOByUser[k] = v
	}
	c.ClientAuthentications = make(map[string]int64, len(s.stats.ClientAuthentications))
	for k, v := range s.stats.ClientAuthentications {
		c.ClientAuthentications[k] = v
	}
	return c
}

func newStats() Stats {
	return Stats{OBOByAssertion: map[string]int64{}, OBOByUser: map[string]int64{}, ClientAuthentications: map[string]int64{}}
}

// ResetStats sets every counter to zero.
func (s *Server) ResetStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.stats = newStats()
}

func (s *Server) count(f func(*Stats)) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	f(&s.stats)
}

// derivedID returns a stable GUID for the given parts (UUID v5).
func derivedID(parts ...string) string {
	return uuid.NewSHA1(idNamespace, []byte(strings.Join(parts, "\x00"))).String()
}

var idNamespace = uuid.MustParse("6f1c2d8e-3b4a-5c6d-8e7f-9a0b1c2d3e4f")
