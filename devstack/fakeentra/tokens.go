package fakeentra

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MintOptions shape a token minted with MintUserToken or MintAppToken. Zero values mean
// "as Entra would issue it".
type MintOptions struct {
	// TTL is the lifetime; 0 = the server's TokenTTL. A negative TTL mints a token that
	// has already expired (exp = now+TTL).
	TTL time.Duration
	// Version is the token version, 1 or 2; 0 = the API's AccessTokenVersion (default 2).
	Version int
	// Audience defaults to the API client id for v2 and the App ID URI for v1.
	Audience string
	// Scopes are the delegated scopes (`scp`) of a user token; nil = [the API scope],
	// an empty non-nil slice = no `scp` claim. Not allowed for app tokens.
	Scopes []string
	// Roles are app roles (`roles`). For app tokens nil = the roles configured for the
	// app or managed identity.
	Roles []string
	// NotBefore sets nbf and iat; zero = now.
	NotBefore time.Time
	// ClientAppID is the calling client (v2 `azp`, v1 `appid`) of a user token; default
	// DefaultClientAppID.
	ClientAppID string
	// Extra overrides any claim; a nil value removes the claim.
	Extra map[string]any
}

// Claims is what Verify reports about a valid token.
type Claims struct {
	OID      string
	UPN      string // upn, preferred_username or unique_name; "" for app tokens
	Name     string
	TenantID string
	AppID    string // v1 appid / v2 azp: the client application
	IsApp    bool   // app-only token (idtyp=app, or no scp)
	Audience string
	Issuer   string
	Subject  string
	Version  int
	Scopes   []string
	Roles    []string
	// ExpiresAt is exp.
	ExpiresAt time.Time
	// Raw holds every claim of the token.
	Raw map[string]any
}

var (
	// ErrInvalidToken is wrapped by every error Verify returns.
	ErrInvalidToken = errors.New("invalid token")
	// ErrTokenExpired is wrapped (together with ErrInvalidToken) when the only problem
	// is that the token has expired.
	ErrTokenExpired = errors.New("token expired")

	errSignature   = errors.New("signature validation failed")
	errNotYetValid = errors.New("token not yet valid")
	errIssuer      = errors.New("issuer not trusted")
	errAudience    = errors.New("audience mismatch")
)

// MintUserToken returns a delegated access token for the flowbricks API as Entra would
// issue it to a client app (the custom connector) for the named user.
func (s *Server) MintUserToken(user string, o MintOptions) (string, error) {
	u, ok := s.userByName(user)
	if !ok {
		return "", fmt.Errorf("fakeentra: unknown user %q", user)
	}
	version, aud, err := s.mintVersionAudience(o)
	if err != nil {
		return "", err
	}
	scopes := o.Scopes
	if scopes == nil {
		scopes = []string{s.api.Scope}
	}
	client := o.ClientAppID
	if client == "" {
		client = DefaultClientAppID
	}
	iat, exp := s.lifetime(o.TTL, o.NotBefore)
	c := s.userClaims(u, version, aud, client, "0", scopes, o.Roles, iat, exp)
	return s.sign(applyExtra(c, o.Extra), version)
}

// MintAppToken returns an app-only access token for the flowbricks API (roles,
// idtyp=app, no scp) for a configured app, managed identity or the API client itself.
func (s *Server) MintAppToken(clientID string, o MintOptions) (string, error) {
	if len(o.Scopes) > 0 {
		return "", errors.New("fakeentra: app-only tokens carry no scopes (scp); use Roles")
	}
	var roles []string
	switch {
	case strings.EqualFold(clientID, s.api.ClientID):
		clientID = s.api.ClientID
	default:
		if app, ok := s.apps[strings.ToLower(clientID)]; ok {
			clientID, roles = app.ClientID, app.Roles
		} else if mi, ok := s.managedIdentityByClientID(clientID); ok {
			clientID, roles = mi.ClientID, mi.Roles
		} else {
			return "", fmt.Errorf("fakeentra: unknown client application %q (not the API, an app or a managed identity)", clientID)
		}
	}
	if o.Roles != nil {
		roles = o.Roles
	}
	version, aud, err := s.mintVersionAudience(o)
	if err != nil {
		return "", err
	}
	iat, exp := s.lifetime(o.TTL, o.NotBefore)
	c := s.appClaims(clientID, "1", version, aud, roles, iat, exp)
	return s.sign(applyExtra(c, o.Extra), version)
}

func (s *Server) mintVersionAudience(o MintOptions) (int, string, error) {
	version := o.Version
	if version == 0 {
		version = s.api.AccessTokenVersion
	}
	if version != 1 && version != 2 {
		return 0, "", fmt.Errorf("fakeentra: token version must be 1 or 2, got %d", version)
	}
	aud := o.Audience
	if aud == "" {
		aud = s.api.ClientID
		if version == 1 {
			aud = s.api.AppIDURI
		}
	}
	return version, aud, nil
}

// lifetime returns iat (= nbf) and exp for a token. ttl 0 means the server's lifetime
// (fixed, or drawn at random as Entra does).
func (s *Server) lifetime(ttl time.Duration, notBefore time.Time) (time.Time, time.Time) {
	if ttl == 0 {
		ttl = s.tokenLifetime()
	}
	now := s.now()
	exp := now.Add(ttl)
	iat := now
	if !notBefore.IsZero() {
		iat = notBefore
	}
	if !iat.Before(exp) { // an already-expired token was still issued before it expired
		iat = exp.Add(-DefaultTokenTTLMin)
	}
	return iat, exp
}

// userClaims are the claims of a delegated access token (access-token-claims-reference).
func (s *Server) userClaims(u User, version int, aud, clientApp, clientAuth string, scopes, roles []string, iat, exp time.Time) jwt.MapClaims {
	c := jwt.MapClaims{
		"aud":  aud,
		"iat":  iat.Unix(),
		"nbf":  iat.Unix(),
		"exp":  exp.Unix(),
		"aio":  opaque(40),
		"name": u.DisplayName,
		"oid":  u.OID,
		"rh":   "0." + opaque(32),
		"sub":  pairwiseSubject(u.OID, aud),
		"tid":  s.tenant,
		"uti":  opaque(16),
	}
	if len(scopes) > 0 {
		c["scp"] = strings.Join(scopes, " ")
	}
	if len(roles) > 0 {
		c["roles"] = slices.Clone(roles)
	}
	if version == 1 {
		c["iss"] = s.Issuer(1)
		c["ver"] = "1.0"
		c["acr"] = "1"
		c["amr"] = []string{"pwd"}
		c["appid"] = clientApp
		c["appidacr"] = clientAuth
		c["ipaddr"] = "127.0.0.1"
		c["unique_name"] = u.UPN
		c["upn"] = u.UPN
	} else {
		c["iss"] = s.Issuer(2)
		c["ver"] = "2.0"
		c["azp"] = clientApp
		c["azpacr"] = clientAuth
		c["preferred_username"] = u.UPN
	}
	return c
}

// appClaims are the claims of an app-only access token (client credentials / managed
// identity). clientAuth is appidacr/azpacr: "1" client secret, "2" certificate or assertion.
func (s *Server) appClaims(clientID, clientAuth string, version int, aud string, roles []string, iat, exp time.Time) jwt.MapClaims {
	oid := s.ServicePrincipalObjectID(clientID)
	c := jwt.MapClaims{
		"aud": aud,
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
		"exp": exp.Unix(),
		"aio": opaque(40),
		"oid": oid,
		"rh":  "0." + opaque(32),
		"sub": oid,
		"tid": s.tenant,
		"uti": opaque(16),
	}
	// idtyp is an optional claim the resource app must ask for; without it an API can
	// only tell an app token by roles without scp (optional-claims-reference.md: idtyp,
	// "Special: only in app-only access tokens"). Only the flowbricks API's request is
	// modelled; what Databricks and AzureADTokenExchange ask for is not documented.
	if s.idtyp && s.isAPI(aud) {
		c["idtyp"] = "app"
	}
	if len(roles) > 0 {
		c["roles"] = slices.Clone(roles)
	}
	if version == 1 {
		c["iss"] = s.Issuer(1)
		c["ver"] = "1.0"
		c["appid"] = clientID
		c["appidacr"] = clientAuth
		c["idp"] = s.Issuer(1)
	} else {
		c["iss"] = s.Issuer(2)
		c["ver"] = "2.0"
		c["azp"] = clientID
		c["azpacr"] = clientAuth
	}
	return c
}

func applyExtra(c jwt.MapClaims, extra map[string]any) jwt.MapClaims {
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign signs claims with the current key: header typ JWT, alg RS256, kid, and for v1
// tokens also x5t (as Entra does).
func (s *Server) sign(c jwt.MapClaims, version int) (string, error) {
	k := s.currentKey()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header = map[string]any{"typ": "JWT", "alg": "RS256", "kid": k.kid}
	if version == 1 {
		t.Header["x5t"] = k.kid
	}
	tok, err := t.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("fakeentra: sign token: %w", err)
	}
	return tok, nil
}

// Verify checks a token issued by this fake: RS256 signature by the current or the
// previous signing key, issuer (v1 or v2 of this tenant, matching `ver`), `tid`,
// audience (exact match with audience, which is required), exp (required) and nbf,
// without clock-skew leeway. Errors wrap ErrInvalidToken (and ErrTokenExpired when
// expired) and never contain the token.
func (s *Server) Verify(token string, audience string) (Claims, error) {
	if audience == "" {
		return Claims{}, fmt.Errorf("fakeentra: %w: no audience to verify against", ErrInvalidToken)
	}
	m, err := s.verifyToken(token)
	if err != nil {
		return Claims{}, fmt.Errorf("fakeentra: %w", err)
	}
	if !hasAudience(m, audience) {
		return Claims{}, fmt.Errorf("fakeentra: %w: %w: want %q", ErrInvalidToken, errAudience, audience)
	}
	return claimsFrom(m), nil
}

// verifyToken checks signature, lifetime, issuer and tenant (not the audience).
func (s *Server) verifyToken(token string) (jwt.MapClaims, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	m := jwt.MapClaims{}
	_, err := p.ParseWithClaims(token, m, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k := s.keyByKID(kid)
		if k == nil {
			return nil, fmt.Errorf("%w: signing key %q not found", errSignature, kid)
		}
		return &k.priv.PublicKey, nil
	})
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, fmt.Errorf("%w: malformed", ErrInvalidToken)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, errSignature):
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, errSignature)
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrTokenExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, errNotYetValid)
	default:
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	iss, _ := m["iss"].(string)
	ver, _ := m["ver"].(string)
	tid, _ := m["tid"].(string)
	if !(iss == s.Issuer(1) && ver == "1.0") && !(iss == s.Issuer(2) && ver == "2.0") {
		return nil, fmt.Errorf("%w: %w: issuer %q with ver %q", ErrInvalidToken, errIssuer, iss, ver)
	}
	if !strings.EqualFold(tid, s.tenant) {
		return nil, fmt.Errorf("%w: %w: tid %q", ErrInvalidToken, errIssuer, tid)
	}
	return m, nil
}

func hasAudience(m jwt.MapClaims, want ...string) bool {
	auds, err := m.GetAudience()
	if err != nil {
		return false
	}
	for _, a := range auds {
		for _, w := range want {
			if a == w {
				return true
			}
		}
	}
	return false
}

func claimsFrom(m jwt.MapClaims) Claims {
	str := func(k string) string { v, _ := m[k].(string); return v }
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := str(k); v != "" {
				return v
			}
		}
		return ""
	}
	c := Claims{
		OID:      str("oid"),
		UPN:      first("upn", "preferred_username", "unique_name"),
		Name:     str("name"),
		TenantID: str("tid"),
		AppID:    first("appid", "azp"),
		Issuer:   str("iss"),
		Subject:  str("sub"),
		Scopes:   strings.Fields(str("scp")),
		Raw:      maps.Clone(map[string]any(m)),
	}
	if auds, err := m.GetAudience(); err == nil && len(auds) > 0 {
		c.Audience = auds[0]
	}
	switch str("ver") {
	case "1.0":
		c.Version = 1
	case "2.0":
		c.Version = 2
	}
	if roles, ok := m["roles"].([]any); ok {
		for _, r := range roles {
			if s, ok := r.(string); ok {
				c.Roles = append(c.Roles, s)
			}
		}
	}
	c.IsApp = str("idtyp") == "app" || len(c.Scopes) == 0
	if exp, err := m.GetExpirationTime(); err == nil && exp != nil {
		c.ExpiresAt = exp.Time
	}
	return c
}

// AssertionKey is the key of Stats.OBOByAssertion for a token: the first 12 hex
// characters of its SHA-256.
func AssertionKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:12]
}

// pairwiseSubject is a stable, per-audience subject, like Entra's pairwise `sub`.
func pairwiseSubject(oid, aud string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(oid) + "|" + strings.ToLower(aud)))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:43]
}

// opaque returns n random bytes, base64url encoded (aio, uti, rh are opaque to clients).
func opaque(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func timeUnix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
