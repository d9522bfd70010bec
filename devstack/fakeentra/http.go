package fakeentra

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// maxBodyBytes bounds request bodies (token requests are a few KB).
const maxBodyBytes = 1 << 20

// ServeHTTP serves the whole HTTP surface. Paths are matched case-insensitively (MSAL
// lower-cases the authority); the tenant segment must be the configured tenant id.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.ToLower(r.URL.Path)
	switch path {
	case "/msi/token":
		s.handleMSI(w, r)
		return
	case "/devstack/token":
		s.handleDevToken(w, r)
		return
	case "/devstack/rotate-keys":
		s.handleDevRotate(w, r)
		return
	case "/devstack/stats":
		s.handleDevStats(w, r)
		return
	case "/devstack/user-error":
		s.handleDevUserError(w, r)
		return
	}

	tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var handle func(http.ResponseWriter, *http.Request)
	var kind string
	switch strings.ToLower(rest) {
	case "v2.0/.well-known/openid-configuration":
		handle, kind = func(w http.ResponseWriter, r *http.Request) { s.handleDiscovery(w, r, 2) }, "discovery"
	case ".well-known/openid-configuration":
		handle, kind = func(w http.ResponseWriter, r *http.Request) { s.handleDiscovery(w, r, 1) }, "discovery"
	case "discovery/v2.0/keys":
		handle, kind = func(w http.ResponseWriter, r *http.Request) { s.handleJWKS(w, r, 2) }, "jwks"
	case "discovery/keys":
		handle, kind = func(w http.ResponseWriter, r *http.Request) { s.handleJWKS(w, r, 1) }, "jwks"
	case "oauth2/v2.0/token":
		handle, kind = func(w http.ResponseWriter, r *http.Request) { s.handleToken(w, r, 2) }, "token"
	case "oauth2/token":
		handle, kind = func(w http.ResponseWriter, r *http.Request) { s.handleToken(w, r, 1) }, "token"
	default:
		http.NotFound(w, r)
		return
	}
	switch kind {
	case "discovery":
		s.count(func(st *Stats) { st.DiscoveryRequests++ })
	case "jwks":
		s.count(func(st *Stats) { st.JWKSRequests++ })
	case "token":
		if r.Method == http.MethodPost {
			s.count(func(st *Stats) { st.TokenRequests++ })
		}
	}
	if !strings.EqualFold(tenant, s.tenant) {
		if kind == "token" {
			s.count(func(st *Stats) { st.TokenErrors++ })
		}
		s.writeEntraError(w, r, errTenantNotFound(tenant))
		return
	}
	handle(w, r)
}

func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// handleDiscovery serves the tenant's OpenID Connect metadata, shaped like Entra's.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request, version int) {
	if !allowGet(w, r) {
		return
	}
	t := s.base + "/" + s.tenant
	common := map[string]any{
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"kerberos_endpoint":                     t + "/kerberos",
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
		"rbac_url":                              "https://pas.windows.net",
	}
	if version == 2 {
		common["token_endpoint"] = t + "/oauth2/v2.0/token"
		common["jwks_uri"] = t + "/discovery/v2.0/keys"
		common["issuer"] = s.Issuer(2)
		common["authorization_endpoint"] = t + "/oauth2/v2.0/authorize"
		common["device_authorization_endpoint"] = t + "/oauth2/v2.0/devicecode"
		common["end_session_endpoint"] = t + "/oauth2/v2.0/logout"
		common["userinfo_endpoint"] = "https://graph.microsoft.com/oidc/userinfo"
		common["request_uri_parameter_supported"] = false
		common["response_types_supported"] = []string{"code", "id_token", "code id_token", "id_token token"}
		common["scopes_supported"] = []string{"openid", "profile", "email", "offline_access"}
		common["claims_supported"] = []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"}
	} else {
		common["token_endpoint"] = t + "/oauth2/token"
		common["jwks_uri"] = t + "/discovery/keys"
		common["issuer"] = s.Issuer(1)
		common["authorization_endpoint"] = t + "/oauth2/authorize"
		common["device_authorization_endpoint"] = t + "/oauth2/devicecode"
		common["end_session_endpoint"] = t + "/oauth2/logout"
		common["check_session_iframe"] = t + "/oauth2/checksession"
		common["userinfo_endpoint"] = t + "/openid/userinfo"
		common["microsoft_multi_refresh_token"] = true
		common["response_types_supported"] = []string{"code", "id_token", "code id_token", "token id_token", "token"}
		common["scopes_supported"] = []string{"openid"}
		common["claims_supported"] = []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"}
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writePlainJSON(w, http.StatusOK, common)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request, version int) {
	if !allowGet(w, r) {
		return
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writePlainJSON(w, http.StatusOK, s.jwks(version))
}

func writePlainJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fake-only endpoints (not Entra's)

type devError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func writeDevError(w http.ResponseWriter, status int, format string, args ...any) {
	writePlainJSON(w, status, devError{Error: http.StatusText(status), ErrorDescription: fmt.Sprintf(format, args...)})
}

func allowPost(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", "POST")
	writeDevError(w, http.StatusMethodNotAllowed, "use POST")
	return false
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeDevError(w, http.StatusBadRequest, "invalid JSON body: %v", err)
		return false
	}
	return true
}

// DevTokenRequest is the body of POST /devstack/token: exactly one of User and App.
type DevTokenRequest struct {
	User        string   `json:"user,omitempty"`
	App         string   `json:"app,omitempty"` // client id of an app, managed identity or the API
	TTLSeconds  int64    `json:"ttl_seconds,omitempty"`
	Version     int      `json:"version,omitempty"`
	Audience    string   `json:"audience,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	ClientAppID string   `json:"client_app_id,omitempty"`
}

// DevTokenResponse is the answer of POST /devstack/token.
type DevTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (s *Server) handleDevToken(w http.ResponseWriter, r *http.Request) {
	if !allowPost(w, r) {
		return
	}
	var req DevTokenRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	o := MintOptions{
		TTL:         time.Duration(req.TTLSeconds) * time.Second,
		Version:     req.Version,
		Audience:    req.Audience,
		Scopes:      req.Scopes,
		Roles:       req.Roles,
		ClientAppID: req.ClientAppID,
	}
	var tok string
	var err error
	switch {
	case req.User != "" && req.App == "":
		tok, err = s.MintUserToken(req.User, o)
	case req.App != "" && req.User == "":
		tok, err = s.MintAppToken(req.App, o)
	default:
		writeDevError(w, http.StatusBadRequest, "give exactly one of \"user\" and \"app\"")
		return
	}
	if err != nil {
		writeDevError(w, http.StatusBadRequest, "%v", err)
		return
	}
	// The lifetime may have been drawn at random: report the one in the token.
	expiresIn := int64(0)
	if exp := unverifiedNumericClaim(tok, "exp"); exp != 0 {
		expiresIn = exp - s.now().Unix()
	}
	w.Header().Set("Cache-Control", "no-store")
	writePlainJSON(w, http.StatusOK, DevTokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: expiresIn})
}

func (s *Server) handleDevRotate(w http.ResponseWriter, r *http.Request) {
	if !allowPost(w, r) {
		return
	}
	s.RotateKeys()
	writePlainJSON(w, http.StatusOK, map[string]string{"kid": s.currentKey().kid})
}

// handleDevStats: GET returns the counters, DELETE resets them.
func (s *Server) handleDevStats(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		writePlainJSON(w, http.StatusOK, s.Stats())
	case http.MethodDelete:
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, HEAD, DELETE")
		writeDevError(w, http.StatusMethodNotAllowed, "use GET or DELETE")
	}
}

// DevUserErrorRequest is the body of POST /devstack/user-error.
type DevUserErrorRequest struct {
	User       string `json:"user"`
	EntraError string `json:"entra_error"`
}

func (s *Server) handleDevUserError(w http.ResponseWriter, r *http.Request) {
	if !allowPost(w, r) {
		return
	}
	var req DevUserErrorRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if err := s.SetUserError(req.User, req.EntraError); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errUnknownUser) {
			status = http.StatusNotFound
		}
		writeDevError(w, status, "%v", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
