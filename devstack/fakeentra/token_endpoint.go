package fakeentra

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	grantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantClientCredentials = "client_credentials"
	grantRefreshToken      = "refresh_token"
	clientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// clientAssertionSkew is the clock skew tolerated on client assertions, which are
	// signed with the caller's clock.
	clientAssertionSkew = 5 * time.Minute
)

// oidcScopes are added by MSAL to every request and name no resource.
var oidcScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true, "email": true}

// tokenClient is an authenticated confidential client.
type tokenClient struct {
	id    string
	name  string
	isAPI bool
	roles []string // app roles on the flowbricks API (apps only)
	acr   string   // "1" secret, "2" certificate or assertion (appidacr / azpacr)
	// method is how it authenticated: ClientAuthSecret, ClientAuthCertificate or ClientAuthFederated.
	method string
}

// v2TokenResponse is the v2 endpoint's success body. Client credentials answers carry
// the first four fields only. On-Behalf-Of and refresh answers also carry what the request
// asked for, as Entra sends it (v2-oauth2-on-behalf-of-flow.md, "Middle-tier access token
// response"): scope (always), refresh_token (offline_access requested), id_token (openid
// requested) and client_info (client_info=1). MSAL Go and MSAL Node parse the last two
// (MSAL Go apps/internal/oauth/ops/accesstokens/tokens.go IDToken.UnmarshalJSON and
// ClientInfo.UnmarshalJSON; msal-common AccountEntity.generateHomeAccountId), and MSAL
// Node keys its token cache on the home account id client_info yields.
type v2TokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// v1TokenResponse is the v1 endpoint's success body (numbers as strings, like Entra).
type v1TokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
}

// handleToken serves POST /{tenant}/oauth2/v2.0/token (version 2) and
// /{tenant}/oauth2/token (version 1, `resource` instead of `scope`).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, version int) {
	if r.Method != http.MethodPost {
		s.writeEntraError(w, r, errPostOnly(r.Method))
		return
	}
	fail := func(e *entraError) {
		s.count(func(st *Stats) { st.TokenErrors++ })
		s.writeEntraError(w, r, e)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		fail(errMalformedRequest())
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	switch grant {
	case "":
		fail(errMissingParameter("grant_type"))
		return
	case grantJWTBearer:
		assertion := f.Get("assertion")
		s.count(func(st *Stats) {
			st.OBORequests++
			if assertion != "" {
				st.OBOByAssertion[AssertionKey(assertion)]++
			}
		})
	case grantClientCredentials:
		s.count(func(st *Stats) { st.ClientCredentialsRequests++ })
	case grantRefreshToken:
		s.count(func(st *Stats) { st.RefreshRequests++ })
	default:
		fail(errUnsupportedGrant(grant))
		return
	}

	cl, e := s.authenticateClient(r, f)
	if e != nil {
		fail(e)
		return
	}
	s.count(func(st *Stats) { st.ClientAuthentications[cl.method]++ })
	resource, scopes, e := s.requestedResource(f, version)
	if e != nil {
		fail(e)
		return
	}
	now := s.now()
	exp := now.Add(s.tokenLifetime())
	var tok string
	var u *User // the user of a delegated answer (OBO, refresh)
	var amr any
	switch grant {
	case grantJWTBearer:
		u, amr, e = s.onBehalfOf(f, cl, resource, scopes)
	case grantRefreshToken:
		u, amr, e = s.redeemRefreshToken(f, cl, resource, scopes)
	default:
		tok, e = s.clientCredentials(f, cl, resource, scopes, version, now, exp)
	}
	if e == nil && u != nil {
		tok, e = s.delegatedToken(*u, cl, amr, now, exp)
	}
	if e != nil {
		fail(e)
		return
	}
	ttl := int64(exp.Sub(now) / time.Second)
	if version == 1 {
		writeJSON(w, r, http.StatusOK, v1TokenResponse{
			TokenType:    "Bearer",
			ExpiresIn:    strconv.FormatInt(ttl, 10),
			ExtExpiresIn: strconv.FormatInt(ttl, 10),
			ExpiresOn:    strconv.FormatInt(exp.Unix(), 10),
			NotBefore:    strconv.FormatInt(now.Unix(), 10),
			Resource:     resource,
			AccessToken:  tok,
		})
		return
	}
	body := v2TokenResponse{TokenType: "Bearer", ExpiresIn: ttl, ExtExpiresIn: ttl, AccessToken: tok}
	if u != nil {
		if e := s.addUserArtifacts(&body, f, *u, cl, resource, scopes, amr, now); e != nil {
			fail(e)
			return
		}
	}
	writeJSON(w, r, http.StatusOK, body)
}

// authenticateClient identifies the client (client_id; client_secret_post or
// client_secret_basic, or a client assertion) and checks its credential.
func (s *Server) authenticateClient(r *http.Request, f url.Values) (tokenClient, *entraError) {
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok { // client_secret_basic: form-urlencoded id and secret
		if uid, err := url.QueryUnescape(u); err == nil {
			id = uid
		}
		if ps, err := url.QueryUnescape(p); err == nil {
			secret = ps
		}
	}
	if id == "" {
		return tokenClient{}, errMissingParameter("client_id")
	}
	var cl tokenClient
	var wantSecret string
	if strings.EqualFold(id, s.api.ClientID) {
		cl = tokenClient{id: s.api.ClientID, name: "flowbricks API", isAPI: true}
		wantSecret = s.api.ClientSecret
	} else if app, ok := s.apps[strings.ToLower(id)]; ok {
		cl = tokenClient{id: app.ClientID, name: app.Name, roles: app.Roles}
		wantSecret = app.ClientSecret
	} else {
		return tokenClient{}, errAppNotFound(id, s.tenant)
	}

	assertionType, assertion := f.Get("client_assertion_type"), f.Get("client_assertion")
	switch {
	case secret != "":
		if wantSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(wantSecret)) != 1 {
			return tokenClient{}, errInvalidSecret(cl.id)
		}
		cl.acr, cl.method = "1", ClientAuthSecret
	case assertionType != "" || assertion != "":
		if assertionType != clientAssertionTypeJWT {
			return tokenClient{}, errMalformedRequest()
		}
		if assertion == "" {
			return tokenClient{}, errMissingParameter("client_assertion")
		}
		method, e := s.checkClientAssertion(cl, assertion)
		if e != nil {
			return tokenClient{}, e
		}
		cl.acr, cl.method = "2", method
	default:
		return tokenClient{}, errNoClientCredential()
	}
	return cl, nil
}

// checkClientAssertion accepts a JWT signed with a certificate registered on the client
// (x5t / x5t#S256 header) or a token of this tenant used as a federated identity
// credential (a managed identity's token for api://AzureADTokenExchange).
// It returns which of the two it was (ClientAuthCertificate or ClientAuthFederated).
func (s *Server) checkClientAssertion(cl tokenClient, assertion string) (string, *entraError) {
	tok, _, err := jwt.NewParser().ParseUnverified(assertion, jwt.MapClaims{})
	if err != nil {
		return "", errClientAssertionMalformed()
	}
	_, hasX5t := tok.Header["x5t"]
	_, hasS256 := tok.Header["x5t#S256"]
	if hasX5t || hasS256 {
		return ClientAuthCertificate, s.checkCertificateAssertion(cl, assertion, tok.Header)
	}
	iss, _ := tok.Claims.(jwt.MapClaims)["iss"].(string)
	if iss != s.Issuer(2) {
		return "", errFICIssuer(iss)
	}
	return ClientAuthFederated, s.checkFederatedAssertion(cl, assertion)
}

func (s *Server) checkCertificateAssertion(cl tokenClient, assertion string, hdr map[string]any) *entraError {
	var certs []*x509Cert
	if cl.isAPI {
		certs = s.apiCerts
	}
	var match *x509Cert
	var presented []byte
	if v, ok := hdr["x5t#S256"].(string); ok {
		presented, _ = decodeThumbprint(v)
		for _, c := range certs {
			if subtle.ConstantTimeCompare(presented, c.s256) == 1 {
				match = c
			}
		}
	} else if v, ok := hdr["x5t"].(string); ok {
		presented, _ = decodeThumbprint(v)
		for _, c := range certs {
			if subtle.ConstantTimeCompare(presented, c.sha1) == 1 {
				match = c
			}
		}
	}
	if match == nil {
		return errClientAssertionKeyNotFound(hexThumbprint(presented), cl.id)
	}
	m := jwt.MapClaims{}
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "PS256", "RS384", "PS384", "RS512", "PS512"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(clientAssertionSkew),
		jwt.WithTimeFunc(s.now),
	).ParseWithClaims(assertion, m, func(*jwt.Token) (any, error) { return match.cert.PublicKey, nil })
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errClientAssertionTime(s, numericClaim(m, "nbf"), numericClaim(m, "exp"))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return errClientAssertionSignature()
	default:
		return errClientAssertionMalformed()
	}
	iss, _ := m["iss"].(string)
	sub, _ := m["sub"].(string)
	if !strings.EqualFold(iss, cl.id) || !strings.EqualFold(sub, cl.id) {
		return errClientAssertionAppID()
	}
	auds, _ := m.GetAudience()
	for _, a := range auds {
		a = strings.TrimRight(a, "/")
		for _, ok := range []string{s.TokenEndpoint(2), s.TokenEndpoint(1), s.Issuer(2), s.Issuer(1)} {
			if strings.EqualFold(a, strings.TrimRight(ok, "/")) {
				return nil
			}
		}
	}
	return errClientAssertionAudience()
}

func (s *Server) checkFederatedAssertion(cl tokenClient, assertion string) *entraError {
	m, err := s.verifyToken(assertion)
	if err != nil {
		switch {
		case errors.Is(err, ErrTokenExpired), errors.Is(err, errNotYetValid):
			return errClientAssertionTime(s, unverifiedNumericClaim(assertion, "nbf"), unverifiedNumericClaim(assertion, "exp"))
		case errors.Is(err, errSignature):
			return errClientAssertionSignature()
		default:
			return errClientAssertionMalformed()
		}
	}
	c := claimsFrom(m)
	if !cl.isAPI || !s.fedSubs[c.Subject] {
		return errFICSubject(c.Subject)
	}
	if !hasAudience(m, TokenExchangeAudience) {
		return errFICAudience(c.Audience)
	}
	if !c.IsApp {
		return errFICTokenType()
	}
	return nil
}

// requestedResource returns the single resource a token request is for and the scope
// names requested on it (v2 `scope`), or the v1 `resource` with scope ".default".
func (s *Server) requestedResource(f url.Values, version int) (string, []string, *entraError) {
	if version == 1 && f.Get("scope") == "" {
		res := f.Get("resource")
		if res == "" {
			return "", nil, errMissingParameter("resource")
		}
		return res, []string{".default"}, nil
	}
	raw := f.Get("scope")
	if raw == "" {
		return "", nil, errMissingParameter("scope")
	}
	var resource string
	var names []string
	for _, sc := range strings.Fields(raw) {
		if oidcScopes[strings.ToLower(sc)] {
			continue
		}
		i := strings.LastIndex(sc, "/")
		if i <= 0 || i == len(sc)-1 {
			return "", nil, errInvalidScope(sc)
		}
		res, name := sc[:i], sc[i+1:]
		if resource != "" && !strings.EqualFold(strings.TrimRight(resource, "/"), strings.TrimRight(res, "/")) {
			return "", nil, errMultipleResources()
		}
		resource = res
		names = append(names, name)
	}
	if resource == "" {
		return "", nil, errInvalidScope(raw)
	}
	return resource, names, nil
}

func (s *Server) isDatabricks(resource string) bool {
	return strings.EqualFold(strings.TrimRight(resource, "/"), DatabricksResourceID)
}

func (s *Server) isAPI(resource string) bool {
	r := strings.TrimRight(resource, "/")
	return strings.EqualFold(r, s.api.ClientID) || r == strings.TrimRight(s.api.AppIDURI, "/")
}

// onBehalfOf redeems a user assertion for a Databricks token (the jwt-bearer grant with
// requested_token_use=on_behalf_of).
// It returns the user and the amr claim of the assertion.
func (s *Server) onBehalfOf(f url.Values, cl tokenClient, resource string, scopes []string) (*User, any, *entraError) {
	switch use := f.Get("requested_token_use"); use {
	case "on_behalf_of":
	case "":
		return nil, nil, errMissingParameter("requested_token_use")
	default:
		return nil, nil, errMalformedRequest()
	}
	assertion := f.Get("assertion")
	if assertion == "" {
		return nil, nil, errMissingParameter("assertion")
	}
	if e := s.checkDelegatedResource(resource, scopes); e != nil {
		return nil, nil, e
	}

	m, err := s.verifyToken(assertion)
	switch {
	case err == nil:
	case errors.Is(err, ErrTokenExpired):
		return nil, nil, errAssertionExpired(s, unverifiedNumericClaim(assertion, "exp"))
	case errors.Is(err, errSignature):
		return nil, nil, errUserAssertionInvalid()
	case errors.Is(err, errNotYetValid):
		return nil, nil, errAssertionInvalid("is not yet valid.")
	case errors.Is(err, errIssuer):
		return nil, nil, errAssertionInvalid("issuer is not trusted by this tenant.")
	default:
		return nil, nil, errAssertionInvalid("is malformed.")
	}
	ownIDs := []string{cl.id, "api://" + cl.id}
	if cl.isAPI {
		ownIDs = append(ownIDs, s.api.AppIDURI, strings.TrimRight(s.api.AppIDURI, "/")+"/")
	}
	c := claimsFrom(m)
	if !hasAudience(m, ownIDs...) {
		return nil, nil, errAssertionAudience(c.Audience, cl.id)
	}
	if c.IsApp {
		return nil, nil, errAppOnlyOBO(cl.id)
	}

	u, known := s.userByOID(c.OID)
	if !known { // a valid token for a user not in the fixture (e.g. minted with Extra)
		u = User{Name: c.UPN, OID: c.OID, UPN: c.UPN, DisplayName: c.Name}
		if u.Name == "" {
			u.Name = c.OID
		}
	}
	s.count(func(st *Stats) { st.OBOByUser[u.Name]++ })
	if e := s.userFault(u, cl); e != nil {
		return nil, nil, e
	}
	return &u, m["amr"], nil // the authentication methods of the original sign-in carry over
}

// userFault is the user's injected failure (User.Error) for a token request of cl, or nil.
// Entra evaluates Conditional Access and consent again when a refresh token is redeemed, so
// it applies to OBO and refresh alike.
func (s *Server) userFault(u User, cl tokenClient) *entraError {
	switch u.Error {
	case ErrorConsentRequired:
		return errConsentRequired(cl.id, cl.name)
	case ErrorMFARequired:
		return errMFARequired(DatabricksResourceID, derivedID("ca-policy", s.tenant))
	case ErrorMFAInteractionRequired:
		return errMFAInteractionRequired(DatabricksResourceID, derivedID("ca-policy", s.tenant))
	case ErrorInvalidGrant:
		return errUserAssertionInvalid()
	case ErrorUnavailable:
		return errTemporarilyUnavailable()
	case ErrorThrottled:
		return errThrottled(s.throttle)
	}
	return nil
}

// delegatedToken is the Databricks access token of an OBO or refresh answer: a v1 token
// (the resource accepts v1), issued to the middle tier cl for user u.
func (s *Server) delegatedToken(u User, cl tokenClient, amr any, now, exp time.Time) (string, *entraError) {
	claims := s.userClaims(u, 1, DatabricksResourceID, cl.id, cl.acr, []string{"user_impersonation"}, nil, now, exp)
	if amr != nil {
		claims["amr"] = amr
	}
	tok, err := s.sign(claims, 1)
	if err != nil {
		return "", errIssueToken()
	}
	return tok, nil
}

// checkDelegatedResource accepts the only delegated permission the middle tier has:
// Databricks user_impersonation, asked for by name or through .default.
func (s *Server) checkDelegatedResource(resource string, scopes []string) *entraError {
	if !s.isDatabricks(resource) {
		return errResourceNotFound(resource, s.tenant)
	}
	for _, sc := range scopes {
		if sc != ".default" && !strings.EqualFold(sc, "user_impersonation") {
			return errInvalidScope(resource + "/" + sc)
		}
	}
	return nil
}

// clientCredentials issues an app-only token for the Databricks resource or the
// flowbricks API (scope <resource>/.default).
func (s *Server) clientCredentials(f url.Values, cl tokenClient, resource string, scopes []string, version int, now, exp time.Time) (string, *entraError) {
	if version == 2 && !slices.Equal(scopes, []string{".default"}) {
		return "", errClientCredentialsScope(f.Get("scope"))
	}
	var claims jwt.MapClaims
	tokVersion := 1
	switch {
	case s.isDatabricks(resource):
		claims = s.appClaims(cl.id, cl.acr, 1, DatabricksResourceID, nil, now, exp)
	case s.isAPI(resource):
		tokVersion = s.api.AccessTokenVersion
		aud := s.api.ClientID // v2 tokens: always the client id
		if tokVersion == 1 {
			aud = resource // v1 tokens: the identifier the client asked for
		}
		claims = s.appClaims(cl.id, cl.acr, tokVersion, aud, cl.roles, now, exp)
	default:
		return "", errResourceNotFound(resource, s.tenant)
	}
	tok, err := s.sign(claims, tokVersion)
	if err != nil {
		return "", errIssueToken()
	}
	return tok, nil
}

func numericClaim(m jwt.MapClaims, name string) int64 {
	switch v := m[name].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	}
	return 0
}

func unverifiedNumericClaim(token, name string) int64 {
	m := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, m); err != nil {
		return 0
	}
	return numericClaim(m, name)
}
