package fakeentra

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"
)

// idTokenTTL is the lifetime of ID tokens: "By default, an ID token is valid for one hour"
// (https://learn.microsoft.com/entra/identity-platform/id-tokens#token-lifetime).
const idTokenTTL = time.Hour

// addUserArtifacts adds to a delegated (OBO or refresh) answer what Entra adds to it: the
// granted scope, and — only when asked for — a refresh token (offline_access), an ID token
// (openid) and client_info (client_info=1). MSAL Go and MSAL Node always ask for all three
// (MSAL Go accesstokens.go defaultScopes and FromUserAssertion*; msal-node
// OnBehalfOfClient.createTokenRequestBody: addScopes + addClientInfo).
func (s *Server) addUserArtifacts(body *v2TokenResponse, f url.Values, u User, cl tokenClient, resource string, scopes []string, amr any, now time.Time) *entraError {
	body.Scope = grantedScope(resource, scopes)
	asked := map[string]bool{}
	for _, sc := range strings.Fields(f.Get("scope")) {
		asked[strings.ToLower(sc)] = true
	}
	if asked["offline_access"] {
		rt, err := s.newRefreshToken(u, cl, amr, now)
		if err != nil {
			return errIssueToken()
		}
		body.RefreshToken = rt
	}
	if asked["openid"] {
		idt, e := s.idToken(u, cl, now)
		if e != nil {
			return e
		}
		body.IDToken = idt
	}
	if f.Get("client_info") == "1" {
		body.ClientInfo = clientInfo(u.OID, s.tenant)
	}
	return nil
}

// grantedScope is the `scope` of a delegated answer: the permission granted, plus `.default`
// when the request used it. Entra answers a `<resource>/.default` request with both, e.g.
// "https://management.azure.com/user_impersonation https://management.azure.com/.default"
// (captured answers quoted in public tooling); MSAL Go fails a response whose scope lacks a
// requested scope ("declined scopes", base.go AuthResultFromToken) and MSAL Node caches the
// token under the answered scopes, so both `.default` and the permission must be there.
// OIDC scopes are never listed ("offline_access ... will never be returned":
// microsoft-authentication-library-for-go PR #445).
func grantedScope(resource string, scopes []string) string {
	res := strings.TrimRight(resource, "/")
	granted := []string{res + "/user_impersonation"}
	if slices.Contains(scopes, ".default") {
		granted = append(granted, res+"/.default")
	}
	return strings.Join(granted, " ")
}

// clientInfo is Entra's client_info: base64url (unpadded) JSON {"uid","utid"}, the user's
// object id and home tenant (MSAL Go ClientInfo, msal-common buildClientInfo).
func clientInfo(oid, tid string) string {
	b, _ := json.Marshal(struct {
		UID  string `json:"uid"`
		UTID string `json:"utid"`
	}{oid, tid})
	return base64.RawURLEncoding.EncodeToString(b)
}

// idToken is a v2 ID token for the user, issued to the middle tier (aud = its client id),
// with the claims of id-token-claims-reference.md; clients parse but do not verify it.
func (s *Server) idToken(u User, cl tokenClient, now time.Time) (string, *entraError) {
	c := map[string]any{
		"aud":                cl.id,
		"iss":                s.Issuer(2),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(idTokenTTL).Unix(),
		"name":               u.DisplayName,
		"oid":                u.OID,
		"preferred_username": u.UPN,
		"rh":                 "0." + opaque(32),
		"sub":                pairwiseSubject(u.OID, cl.id),
		"tid":                s.tenant,
		"uti":                opaque(16),
		"ver":                "2.0",
	}
	tok, err := s.sign(c, 2)
	if err != nil {
		return "", errIssueToken()
	}
	return tok, nil
}

// refreshGrant is what a refresh token of this fake stands for. Entra's refresh tokens are
// opaque to clients; the fake keeps its state in the token (signed with a key only the
// server knows) so that the many users of a load run cost no memory.
type refreshGrant struct {
	Tenant   string `json:"tid"`
	ClientID string `json:"cid"`
	OID      string `json:"oid"`
	UPN      string `json:"upn,omitempty"`
	Name     string `json:"name,omitempty"`
	AMR      any    `json:"amr,omitempty"`
	Issued   int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

const refreshTokenPrefix = "0.A"

func (s *Server) newRefreshToken(u User, cl tokenClient, amr any, now time.Time) (string, error) {
	payload, err := json.Marshal(refreshGrant{
		Tenant: s.tenant, ClientID: cl.id, OID: u.OID, UPN: u.UPN, Name: u.DisplayName, AMR: amr,
		Issued: now.Unix(), Expires: now.Add(RefreshTokenTTL).Unix(),
	})
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return refreshTokenPrefix + p + "." + base64.RawURLEncoding.EncodeToString(s.refreshMAC(p)), nil
}

func (s *Server) refreshMAC(payload string) []byte {
	m := hmac.New(sha256.New, s.rtKey)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// parseRefreshToken returns the grant of a refresh token this server issued, or false.
func (s *Server) parseRefreshToken(rt string) (refreshGrant, bool) {
	p, mac, ok := strings.Cut(strings.TrimPrefix(rt, refreshTokenPrefix), ".")
	if !ok || !strings.HasPrefix(rt, refreshTokenPrefix) {
		return refreshGrant{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, s.refreshMAC(p)) {
		return refreshGrant{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	var g refreshGrant
	if err != nil || json.Unmarshal(raw, &g) != nil {
		return refreshGrant{}, false
	}
	return g, true
}

// redeemRefreshToken serves grant_type=refresh_token for a refresh token of an OBO answer:
// MSAL redeems it instead of repeating OBO once the cached access token is due (MSAL Go
// base.go AcquireTokenSilent → Token.Refresh). Entra binds a refresh token to the client it
// was issued to and to its tenant, and ends it after RefreshTokenTTL
// (reference-error-codes.md: AADSTS70000, AADSTS700082; refresh-tokens.md).
func (s *Server) redeemRefreshToken(f url.Values, cl tokenClient, resource string, scopes []string) (*User, any, *entraError) {
	rt := f.Get("refresh_token")
	if rt == "" {
		return nil, nil, errMissingParameter("refresh_token")
	}
	g, ok := s.parseRefreshToken(rt)
	if !ok || !strings.EqualFold(g.Tenant, s.tenant) {
		return nil, nil, errRefreshTokenMalformed()
	}
	if !strings.EqualFold(g.ClientID, cl.id) {
		return nil, nil, errRefreshTokenOtherClient()
	}
	now := s.now()
	if now.Unix() >= g.Expires {
		return nil, nil, errRefreshTokenExpired(timeUnix(g.Issued), now.Sub(timeUnix(g.Issued)))
	}
	if e := s.checkDelegatedResource(resource, scopes); e != nil {
		return nil, nil, e
	}
	u, known := s.userByOID(g.OID)
	if !known {
		u = User{Name: g.UPN, OID: g.OID, UPN: g.UPN, DisplayName: g.Name}
		if u.Name == "" {
			u.Name = g.OID
		}
	}
	if e := s.userFault(u, cl); e != nil {
		return nil, nil, e
	}
	return &u, g.AMR, nil
}
