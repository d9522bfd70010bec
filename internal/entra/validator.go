package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"
)

// PrincipalKind tells a signed-in user (delegated token) from an application (app-only token).
type PrincipalKind int

// Principal kinds.
const (
	User PrincipalKind = iota + 1
	App
)

func (k PrincipalKind) String() string {
	switch k {
	case User:
		return "user"
	case App:
		return "app"
	default:
		return "unknown"
	}
}

// Principal is who called, as established from a validated token.
type Principal struct {
	Kind PrincipalKind
	// ObjectID (oid) and TenantID (tid) together are the stable key for the caller.
	ObjectID, TenantID string
	// Name is upn / preferred_username / unique_name — for display and audit only, never for decisions.
	Name string
	// AppID is the calling client application: azp (v2 tokens) or appid (v1 tokens).
	AppID string
	// Scopes (scp, delegated tokens) and Roles (roles: app permissions or user app roles).
	// Read-only: a Principal of a token validated before shares them with the validated-token cache.
	Scopes, Roles []string
	// TokenVersion is the token's ver claim: "1.0" or "2.0".
	TokenVersion string
	ExpiresAt    time.Time
}

// Defaults and limits for [ValidatorOptions].
const (
	DefaultLeeway        = 2 * time.Minute
	MaxLeeway            = 5 * time.Minute
	DefaultMaxTokenBytes = 16 << 10

	// DefaultUnknownKIDRefreshInterval is the minimum time between JWKS refreshes triggered by a token
	// whose kid is not in the cached key set, for the whole key set. Microsoft's caching algorithm
	// (https://learn.microsoft.com/entra/identity-platform/signing-key-rollover#keyrefresh-procedure-algorithm)
	// says "no more frequently than 5mins"; but anyone can send a made-up kid, and whoever comes
	// first spends the budget, so after an emergency rollover genuine tokens would be refused for
	// up to that long. 30 s bounds both sides: after a rollover, tokens signed with the new key are
	// refused for at most 30 s (a refresh triggered by a junk kid fetches the new key too), and a
	// flood of made-up kids costs Entra at most one fetch of each JWKS URI per 30 s per instance.
	DefaultUnknownKIDRefreshInterval = 30 * time.Second
	// MinUnknownKIDRefreshInterval is the hard floor for UnknownKIDRefreshInterval: whatever is
	// configured, tokens with made-up kids cannot make this process fetch the JWKS more than once
	// per second per JWKS URI. Only tests should go near it.
	MinUnknownKIDRefreshInterval = time.Second

	// MaxTokenLifetime bounds exp - iat (exp - nbf without iat) of an accepted token, plus the
	// leeway. Entra's configurable access token lifetime is at most one day, and tokens for
	// clients that negotiate continuous access evaluation live "up to 28 hours"
	// (https://learn.microsoft.com/entra/identity-platform/configurable-token-lifetimes#access-id-and-saml2-token-lifetime-policy-properties).
	// A longer-lived token was not issued by Entra as configured: a signing-key compromise or a
	// bug, whose damage a lifetime bound limits.
	MaxTokenLifetime = 28 * time.Hour

	// keysRefreshInterval: background JWKS refresh (Microsoft: every hour, keep last-known-good).
	keysRefreshInterval = time.Hour
	// unknownKIDWaitMax bounds what a token with an unknown kid may cost its request: how long it
	// waits for the refresh it started or joined. When the interval allows no refresh it is
	// refused at once.
	unknownKIDWaitMax = 5 * time.Second
	// metadataTimeout bounds each discovery / JWKS fetch.
	metadataTimeout = 10 * time.Second
	// initRetryBackoff: after a failed first fetch, requests within this window (real time) fail
	// fast with the same ErrUnavailable instead of each hitting Entra again.
	initRetryBackoff = time.Second
	// maxMetadataBytes bounds a discovery document.
	maxMetadataBytes = 1 << 20
)

// ValidatorOptions configures [NewValidator].
type ValidatorOptions struct {
	// AuthorityHost, e.g. https://login.microsoftonline.com/ (empty = that). Must be https.
	AuthorityHost string
	// TenantID is the tenant's ID (the GUID that appears in tokens' tid claim).
	TenantID string
	// Audiences are the accepted aud values, e.g. <client id> and api://<client id>. Required.
	Audiences []string
	// Scope is the delegated scope a user token must carry in scp, e.g. user_impersonation. Required.
	Scope string
	// AppRole is the app role an app-only caller must carry in roles, e.g. Jobs.Run.
	// Required when AppCallers is not empty.
	AppRole string
	// AppCallers are the allow-listed application (client) ids for app-only tokens (matched against
	// azp / appid). Empty: every app-only token is refused.
	AppCallers []string
	// ClientApps are the client applications whose delegated (user) tokens are accepted, matched
	// against azp (v2 tokens) or appid (v1 tokens). Empty: any client application the user gave a
	// token for this API to may act as the user (see docs/admin-guide.md, "Which client
	// applications may act for a user").
	ClientApps []string
	// HTTPClient fetches discovery documents and keys; nil = a default client with a timeout.
	// Its transport's RootCAs are used as they are (so SSL_CERT_FILE works with the default one).
	HTTPClient *http.Client
	// Metadata keeps the discovery documents; pass the same one to the Exchanger
	// (ExchangerOptions.Metadata) to fetch the tenant's v2 document once for both. nil = the
	// Validator's own.
	Metadata *Metadata
	// Leeway for exp/nbf; 0 = DefaultLeeway, at most MaxLeeway.
	Leeway time.Duration
	// MaxTokenBytes: larger tokens are refused before parsing; default DefaultMaxTokenBytes.
	MaxTokenBytes int
	// UnknownKIDRefreshInterval: minimum time between JWKS refreshes triggered by an unknown kid;
	// default DefaultUnknownKIDRefreshInterval, never below MinUnknownKIDRefreshInterval.
	UnknownKIDRefreshInterval time.Duration
	// TokenCacheSize bounds how many validated tokens are remembered (by their SHA-256, never the
	// token) so that a token presented again skips the signature check; default
	// DefaultTokenCacheSize. See docs/security.md, "Validated-token cache".
	TokenCacheSize int
	// Now is the clock for token lifetimes; default time.Now.
	Now func() time.Time
	// Logger gets metadata/key refresh failures. Tokens are never logged.
	Logger zerolog.Logger
}

// Validator validates incoming Entra ID access tokens. It is safe for concurrent use.
// Create it with [NewValidator]; call [Validator.Close] to stop the background key refresh.
type Validator struct {
	authority  string
	tenantID   string
	scope      string
	appRole    string
	appCallers []string // lower-cased
	clientApps []string // lower-cased
	leeway     time.Duration
	client     *http.Client
	metadata   *Metadata
	parser     *jwt.Parser
	// lifetimes applies the parser's time rules (exp required, nbf, iat, the leeway, the clock) to
	// a remembered token: the same options, so a hit passes exactly when a fresh validation would.
	lifetimes   *jwt.Validator
	tokens      *validatedTokens
	unknownKIDs time.Duration
	maxBytes    int
	now         func() time.Time
	// keysClock paces unknown-kid refreshes: real time, not now (a load limit, not a token
	// lifetime); tests set it before the first Validate.
	keysClock func() time.Time
	log       zerolog.Logger

	baseCtx context.Context // lives until Close; parent of the key refresh goroutines
	cancel  context.CancelFunc

	keys      atomic.Pointer[keyState]
	initGroup singleflight.Group

	failMu   sync.Mutex
	failedAt time.Time
	failErr  error
}

// keyState is what the first successful use fetched: the two issuers and the key set.
type keyState struct {
	v1Issuer, v2Issuer string
	keys               keyfunc.Keyfunc
}

// NewValidator checks the options and returns a Validator. It does not touch the network:
// metadata and keys are fetched on the first Validate.
func NewValidator(o ValidatorOptions) (*Validator, error) {
	authority, err := normalizeAuthorityHost(o.AuthorityHost)
	if err != nil {
		return nil, fmt.Errorf("entra: validator: %w", err)
	}
	if err := checkTenantID(o.TenantID); err != nil {
		return nil, fmt.Errorf("entra: validator: %w", err)
	}
	if len(o.Audiences) == 0 {
		return nil, errors.New("entra: validator: at least one audience is required")
	}
	for _, a := range o.Audiences {
		if strings.TrimSpace(a) == "" {
			return nil, errors.New("entra: validator: empty audience")
		}
	}
	if o.Scope == "" || strings.ContainsAny(o.Scope, " \t") {
		return nil, errors.New("entra: validator: scope is required and must be a single scope value")
	}
	callers, err := lowerIDs(o.AppCallers, "app caller")
	if err != nil {
		return nil, err
	}
	clientApps, err := lowerIDs(o.ClientApps, "client application")
	if err != nil {
		return nil, err
	}
	if len(callers) > 0 && (o.AppRole == "" || strings.ContainsAny(o.AppRole, " \t")) {
		return nil, errors.New("entra: validator: an app role is required when app callers are allow-listed")
	}
	leeway := o.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0 || leeway > MaxLeeway:
		return nil, fmt.Errorf("entra: validator: leeway must be between 0 and %s", MaxLeeway)
	}
	maxBytes := o.MaxTokenBytes
	switch {
	case maxBytes == 0:
		maxBytes = DefaultMaxTokenBytes
	case maxBytes < 0:
		return nil, errors.New("entra: validator: max token bytes must be positive")
	}
	unknownKIDs := o.UnknownKIDRefreshInterval
	switch {
	case unknownKIDs == 0:
		unknownKIDs = DefaultUnknownKIDRefreshInterval
	case unknownKIDs < MinUnknownKIDRefreshInterval:
		return nil, fmt.Errorf("entra: validator: unknown-kid refresh interval must be at least %s", MinUnknownKIDRefreshInterval)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	client := o.HTTPClient
	if client == nil {
		client = defaultHTTPClient(metadataTimeout)
	}
	cacheSize := o.TokenCacheSize
	switch {
	case cacheSize == 0:
		cacheSize = DefaultTokenCacheSize
	case cacheSize < 0:
		return nil, errors.New("entra: validator: token cache size must be positive")
	}
	metadata := o.Metadata
	if metadata == nil {
		metadata = NewMetadata()
	}
	tokens, err := newValidatedTokens(cacheSize)
	if err != nil {
		return nil, fmt.Errorf("entra: validator: %w", err)
	}

	v := &Validator{
		authority:   authority,
		tenantID:    o.TenantID,
		scope:       o.Scope,
		appRole:     o.AppRole,
		appCallers:  callers,
		clientApps:  clientApps,
		leeway:      leeway,
		client:      client,
		metadata:    metadata,
		tokens:      tokens,
		unknownKIDs: unknownKIDs,
		maxBytes:    maxBytes,
		now:         now,
		keysClock:   time.Now,
		log:         o.Logger,
	}
	timeRules := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), // iat in the future (beyond the leeway): not a token Entra issued yet
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
	}
	v.parser = jwt.NewParser(append([]jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256"}),
		// Canonical base64url only: otherwise the unused low bits of the signature's last
		// character make several strings of one signed token, each a distinct token for the
		// exchange cache. Entra's encoder is canonical.
		jwt.WithStrictDecoding(),
		jwt.WithAudience(slices.Clone(o.Audiences)...),
	}, timeRules...)...)
	v.lifetimes = jwt.NewValidator(timeRules...)
	v.baseCtx, v.cancel = context.WithCancel(context.Background())
	return v, nil
}

// Close stops the background key refresh. Tokens keep validating against the keys already
// fetched; a Validator that never initialised reports ErrUnavailable after Close.
func (v *Validator) Close() error {
	v.cancel()
	return nil
}

// Validate checks the Authorization header value of a request and returns the caller and the
// bearer token (for the exchange). Errors: ErrNoCredentials, ErrInvalidToken (*InvalidTokenError),
// *ForbiddenError, ErrUnavailable.
func (v *Validator) Validate(ctx context.Context, authorizationHeader string) (Principal, Token, error) {
	raw, err := parseBearer(authorizationHeader, v.maxBytes)
	if err != nil {
		return Principal{}, "", err
	}
	// A token that passed every check before passes again while its time claims do and its key
	// is still published (docs/security.md, "Validated-token cache"). Anything else — a lifetime
	// that ran out — takes the full path below, which gives the answer a first use would.
	key := tokenKey(raw)
	if ent, ok := v.tokens.get(key); ok {
		if v.lifetimes.Validate(&ent.lifetime) == nil {
			return ent.principal, Token(raw), nil
		}
		v.tokens.remove(key)
	}
	ks, err := v.keyState(ctx)
	if err != nil {
		return Principal{}, "", err
	}
	var c entraClaims
	var kid string
	tok, err := v.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: a recipient must reject a JWS whose "crit" lists an extension it does
		// not understand, and flowbricks understands none (Entra sets no crit). Checked before the
		// key lookup, so such tokens cannot trigger a key refresh either.
		if _, ok := t.Header["crit"]; ok {
			return nil, errCritical
		}
		if kid, _ = t.Header["kid"].(string); kid == "" {
			return nil, errNoKID
		}
		return ks.keys.KeyfuncCtx(ctx)(t)
	})
	if err != nil {
		return Principal{}, "", jwtError(tok, &c, err)
	}
	p, err := v.checkClaims(ks, &c)
	if err != nil {
		return Principal{}, "", err
	}
	p.Scopes, p.Roles = slices.Clip(p.Scopes), slices.Clip(p.Roles) // a caller's append cannot write into the cached arrays
	v.tokens.add(key, &validatedToken{
		principal: p,
		lifetime:  lifetime{exp: c.ExpiresAt, nbf: c.NotBefore, iat: c.IssuedAt},
		kid:       kid,
	})
	return p, Token(raw), nil
}

var (
	errNoKID    = errors.New("token header has no kid")
	errCritical = errors.New("token header has crit")
)

// jwtError maps golang-jwt's errors to fixed, token-free reasons.
func jwtError(tok *jwt.Token, c *entraClaims, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalidToken("malformed token")
	case errors.Is(err, errNoKID):
		return invalidToken("token has no key id")
	case errors.Is(err, errCritical):
		return invalidToken("critical header not supported")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return invalidToken("signing key not found")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok != nil && tok.Method != nil && tok.Method.Alg() != "RS256" {
			return invalidToken("signing algorithm not accepted")
		}
		return invalidToken("signature invalid")
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalidToken("token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalidToken("token not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalidToken("token issued in the future")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalidToken("audience not accepted")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		if c.ExpiresAt == nil {
			return invalidToken("exp claim missing")
		}
		return invalidToken("audience not accepted")
	default:
		return invalidToken("invalid claims")
	}
}

// entraClaims are the claims flowbricks reads from an Entra access token (v1 or v2), decoded by
// their exact names (UnmarshalJSON).
type entraClaims struct {
	jwt.RegisteredClaims
	Ver               string   `json:"ver"`
	Tid               string   `json:"tid"`
	Oid               string   `json:"oid"`
	Scp               string   `json:"scp"`
	Roles             []string `json:"roles"`
	Idtyp             string   `json:"idtyp"`
	Azp               string   `json:"azp"`
	Appid             string   `json:"appid"`
	Upn               string   `json:"upn"`
	PreferredUsername string   `json:"preferred_username"`
	UniqueName        string   `json:"unique_name"`
}

// UnmarshalJSON reads each claim from its exact name only. Claim names are case-sensitive
// (RFC 7519 §4), but encoding/json also fills a field from a key that differs in letter case
// (Unicode folding included: "ſcp" is "scp" to it), so "Scp", "TID" or "EXP" would stand in for
// the claims that decide access and, placed after the real one, win.
//
// Validation runs on every request, so the common case stays one struct decode: a quick look at
// the member names (lookAlikeNames) finds none that encoding/json could take for another claim's,
// and then its case-insensitive matching reads exactly what exact matching would. Only a token
// with such a name, or with a name it does not interpret (escapes, non-ASCII), is decoded member
// by member. (encoding/json/v2 matches case-sensitively, but is not in the standard library
// without GOEXPERIMENT=jsonv2.)
func (c *entraClaims) UnmarshalJSON(b []byte) error {
	if !c.lookAlikeNames(b) {
		return json.Unmarshal(b, (*claimFields)(c))
	}
	return c.unmarshalExact(b)
}

// unmarshalExact decodes member by member, each claim from its exact name.
func (c *entraClaims) unmarshalExact(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for name, value := range raw {
		if dst := c.field(name); dst != nil {
			if err := json.Unmarshal(value, dst); err != nil {
				return err
			}
		}
	}
	return nil
}

// claimFields is entraClaims without its UnmarshalJSON: encoding/json's own struct decoding.
type claimFields entraClaims

// field returns where the claim with exactly this name goes, or nil for a claim flowbricks does
// not read.
func (c *entraClaims) field(name string) any {
	switch name {
	case "iss":
		return &c.Issuer
	case "sub":
		return &c.Subject
	case "aud":
		return &c.Audience
	case "exp":
		return &c.ExpiresAt
	case "nbf":
		return &c.NotBefore
	case "iat":
		return &c.IssuedAt
	case "jti":
		return &c.ID
	case "ver":
		return &c.Ver
	case "tid":
		return &c.Tid
	case "oid":
		return &c.Oid
	case "scp":
		return &c.Scp
	case "roles":
		return &c.Roles
	case "idtyp":
		return &c.Idtyp
	case "azp":
		return &c.Azp
	case "appid":
		return &c.Appid
	case "upn":
		return &c.Upn
	case "preferred_username":
		return &c.PreferredUsername
	case "unique_name":
		return &c.UniqueName
	}
	return nil
}

// lookAlikeNames reports whether a member name of the JSON object b (valid JSON: encoding/json
// checks the whole input before it calls UnmarshalJSON) might be taken by encoding/json for one
// of the claims flowbricks reads without being it: a name with upper-case ASCII letters that is a
// claim's name in other letter case, or a name with an escape or a non-ASCII byte, which this
// look does not interpret. Only names directly in b's top-level object count.
func (c *entraClaims) lookAlikeNames(b []byte) bool {
	depth, inKey := 0, false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			depth++
			inKey = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			inKey = depth == 1
		case '"':
			end, plain, upper := i+1, true, false
			for ; end < len(b) && b[end] != '"'; end++ {
				switch ch := b[end]; {
				case ch == '\\':
					plain = false
					end++ // the escaped character, which may be a quote
				case ch >= 0x80:
					plain = false
				case 'A' <= ch && ch <= 'Z':
					upper = true
				}
			}
			if inKey && (!plain || upper && c.field(strings.ToLower(string(b[i+1:end]))) != nil) {
				return true
			}
			inKey = false
			i = end
		}
	}
	return false
}

// checkClaims applies the rules golang-jwt does not: issuer per version, tenant, oid, the
// token's lifetime, and the delegated-scope / client-application / app-caller authorisation.
func (v *Validator) checkClaims(ks *keyState, c *entraClaims) (Principal, error) {
	var wantIss string
	switch c.Ver {
	case "2.0":
		wantIss = ks.v2Issuer
	case "1.0":
		wantIss = ks.v1Issuer
	default:
		return Principal{}, invalidToken("token version not supported")
	}
	if c.Issuer != wantIss {
		return Principal{}, invalidToken("issuer not accepted")
	}
	if !strings.EqualFold(c.Tid, v.tenantID) {
		return Principal{}, invalidToken("tenant not accepted")
	}
	if c.Oid == "" {
		return Principal{}, invalidToken("oid claim missing")
	}
	if err := v.checkLifetime(c); err != nil {
		return Principal{}, err
	}

	p := Principal{
		ObjectID:     c.Oid,
		TenantID:     c.Tid,
		Name:         firstNonEmpty(c.Upn, c.PreferredUsername, c.UniqueName),
		Scopes:       strings.Fields(c.Scp),
		Roles:        c.Roles,
		TokenVersion: c.Ver,
		ExpiresAt:    c.ExpiresAt.Time,
	}
	if c.Ver == "2.0" {
		p.AppID = firstNonEmpty(c.Azp, c.Appid)
	} else {
		p.AppID = firstNonEmpty(c.Appid, c.Azp)
	}

	// idtyp=app is the reliable marker when the app registration emits it (an optional claim,
	// off by default); otherwise an app-only token is recognised by having no scp and either
	// roles or an allow-listed app caller as its client — the latter so that an app caller whose
	// role assignment is missing hears that (403 app_caller_not_allowed), not "scope missing". Any
	// other token without scp is treated as delegated and fails the scope check.
	if c.Idtyp == "app" || (c.Scp == "" && (len(c.Roles) > 0 || slices.Contains(v.appCallers, strings.ToLower(p.AppID)))) {
		p.Kind = App
		return p, v.checkAppCaller(p)
	}
	p.Kind = User
	if err := v.checkClientApp(c); err != nil {
		return Principal{}, err
	}
	if !slices.Contains(p.Scopes, v.scope) {
		return Principal{}, &ForbiddenError{Code: CodeInsufficientScope, Reason: "scope " + v.scope + " missing"}
	}
	return p, nil
}

// checkLifetime bounds exp - iat (exp - nbf when there is no iat) by MaxTokenLifetime plus the
// leeway; golang-jwt has already checked exp, nbf and iat against the clock.
func (v *Validator) checkLifetime(c *entraClaims) error {
	start := c.IssuedAt
	if start == nil {
		start = c.NotBefore
	}
	if start == nil {
		return invalidToken("iat claim missing") // Entra always sets iat: the lifetime is unknown
	}
	if c.ExpiresAt.Sub(start.Time) > MaxTokenLifetime+v.leeway {
		return invalidToken("token lifetime too long")
	}
	return nil
}

// checkClientApp applies the ClientApps allow-list to a delegated token: the client is azp in a
// v2 token and appid in a v1 token, and only that claim counts (Entra sets one of them per
// version; a token carrying the other one alone is not what Entra issues).
func (v *Validator) checkClientApp(c *entraClaims) error {
	if len(v.clientApps) == 0 {
		return nil
	}
	client := c.Azp
	if c.Ver == "1.0" {
		client = c.Appid
	}
	if client == "" || !slices.Contains(v.clientApps, strings.ToLower(client)) {
		return &ForbiddenError{Code: CodeClientAppNotAllowed, Reason: "client application not allowed: " + safeID(client)}
	}
	return nil
}

func (v *Validator) checkAppCaller(p Principal) error {
	if len(v.appCallers) == 0 {
		return &ForbiddenError{Code: CodeAppCallerNotAllowed, Reason: "app-only tokens are not accepted by this API"}
	}
	if p.AppID == "" || !slices.Contains(v.appCallers, strings.ToLower(p.AppID)) {
		return &ForbiddenError{Code: CodeAppCallerNotAllowed, Reason: "application " + safeID(p.AppID) + " is not an allowed app caller"}
	}
	if !slices.Contains(p.Roles, v.appRole) {
		return &ForbiddenError{Code: CodeAppCallerNotAllowed, Reason: "application " + safeID(p.AppID) + " lacks the app role " + v.appRole}
	}
	return nil
}

// safeID renders an id taken from a token for an error message: only characters that can appear
// in an app id, at most 64 of them.
func safeID(s string) string {
	if s == "" {
		return "(none)"
	}
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 64; i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':' || c == '/' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "(unprintable)"
	}
	return b.String()
}

// lowerIDs trims and lower-cases a list of application ids, refusing empty ones.
func lowerIDs(ids []string, what string) ([]string, error) {
	var out []string
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			return nil, errors.New("entra: validator: empty " + what + " id")
		}
		out = append(out, strings.ToLower(id))
	}
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// keyState returns the issuers and keys, fetching them on first use. Concurrent first callers
// share one fetch; the fetch runs on the Validator's own context (a caller giving up does not
// abort it for the others); a failure is reported as ErrUnavailable and retried by a later call
// (after initRetryBackoff).
func (v *Validator) keyState(ctx context.Context) (*keyState, error) {
	if ks := v.keys.Load(); ks != nil {
		return ks, nil
	}
	v.failMu.Lock()
	if v.failErr != nil && time.Since(v.failedAt) < initRetryBackoff {
		err := v.failErr
		v.failMu.Unlock()
		return nil, err
	}
	v.failMu.Unlock()

	ch := v.initGroup.DoChan("init", func() (any, error) {
		if ks := v.keys.Load(); ks != nil {
			return ks, nil
		}
		ks, err := v.initialize()
		v.failMu.Lock()
		defer v.failMu.Unlock()
		if err != nil {
			err = fmt.Errorf("%w: %s", ErrUnavailable, err.Error())
			v.failErr, v.failedAt = err, time.Now() // real (monotonic) time: this is about load, not token lifetimes
			v.log.Warn().Err(err).Msg("entra: fetching token-validation metadata failed; will retry on a later request")
			return nil, err
		}
		v.failErr = nil
		v.keys.Store(ks)
		return ks, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*keyState), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for metadata: %w", ErrUnavailable, ctx.Err())
	}
}

// initialize fetches the v2 and v1 discovery documents and starts the key set (whose first fetch
// must succeed). On failure everything it started is stopped.
func (v *Validator) initialize() (*keyState, error) {
	if v.baseCtx.Err() != nil {
		return nil, errors.New("validator closed")
	}
	ctx, cancel := context.WithTimeout(v.baseCtx, 2*metadataTimeout)
	defer cancel()
	base := v.authority + url.PathEscape(v.tenantID)
	v2, err := v.discover(ctx, base+"/v2.0/.well-known/openid-configuration")
	if err != nil {
		return nil, err
	}
	v1, err := v.discover(ctx, base+"/.well-known/openid-configuration")
	if err != nil {
		return nil, err
	}
	uris := []string{v2.JWKSURI}
	if v1.JWKSURI != v2.JWKSURI {
		uris = append(uris, v1.JWKSURI)
	}

	kctx, kcancel := context.WithCancel(v.baseCtx)
	sk, err := startSigningKeys(kctx, signingKeysOptions{
		uris:     uris,
		client:   v.client,
		interval: v.unknownKIDs,
		clock:    v.keysClock,
		onKeys:   v.tokens.keysChanged,
		onError: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				// ctx carries the request's logger for a refresh triggered by an unknown kid.
				requestLogger(ctx, &v.log).Warn().Err(err).Str("jwks_uri", u).Msg("entra: refreshing signing keys failed; keeping the last known keys")
			}
		},
	})
	if err == nil {
		var keys keyfunc.Keyfunc
		if keys, err = keyfunc.New(keyfunc.Options{Ctx: kctx, Storage: sk}); err == nil {
			context.AfterFunc(v.baseCtx, kcancel) // Close stops the refresh goroutines
			return &keyState{v1Issuer: v1.Issuer, v2Issuer: v2.Issuer, keys: keys}, nil
		}
	}
	kcancel() // stops refresh goroutines of the URIs that did start
	return nil, err
}

type discoveryDoc struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

func (v *Validator) discover(ctx context.Context, u string) (discoveryDoc, error) {
	var d discoveryDoc
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return d, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.metadata.do(req, v.client.Do)
	if err != nil {
		return d, fmt.Errorf("fetching %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("fetching %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadataBytes)).Decode(&d); err != nil {
		return d, fmt.Errorf("decoding %s: %w", u, err)
	}
	if d.Issuer == "" {
		return d, fmt.Errorf("%s has no issuer", u)
	}
	ju, err := url.Parse(d.JWKSURI)
	if err != nil || ju.Scheme != "https" || ju.Host == "" {
		return d, fmt.Errorf("%s has no https jwks_uri", u)
	}
	return d, nil
}
