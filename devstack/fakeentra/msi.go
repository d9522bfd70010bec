package fakeentra

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// appServiceAPIVersion is the App Service managed identity protocol version MSAL Go
// (and so azidentity's ManagedIdentityCredential) speaks when IDENTITY_ENDPOINT and
// IDENTITY_HEADER are set: GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…
// [&client_id=…|&object_id=…|&mi_res_id=…] with header X-IDENTITY-HEADER.
const appServiceAPIVersion = "2019-08-01"

// msiTokenResponse is the App Service managed identity endpoint's success body.
type msiTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"` // unix seconds, as a string
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

// msiError is the App Service managed identity endpoint's error body.
type msiError struct {
	StatusCode    int    `json:"statusCode"`
	Message       string `json:"message"`
	CorrelationID string `json:"correlationId"`
}

func writeMSIError(w http.ResponseWriter, status int, msg string) {
	writePlainJSON(w, status, msiError{StatusCode: status, Message: msg, CorrelationID: uuid.NewString()})
}

// handleMSI serves GET /msi/token, the App Service managed identity endpoint.
func (s *Server) handleMSI(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.MSIRequests++ })
	if !allowGet(w, r) {
		return
	}
	hdr := r.Header.Get("X-IDENTITY-HEADER")
	if len(s.mis) == 0 || subtle.ConstantTimeCompare([]byte(hdr), []byte(s.idHeader)) != 1 {
		writeMSIError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or invalid.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != appServiceAPIVersion {
		writeMSIError(w, http.StatusBadRequest, "Unsupported api-version '"+v+"'. Supported: "+appServiceAPIVersion+".")
		return
	}
	resource := strings.TrimSuffix(q.Get("resource"), "/.default")
	if resource == "" {
		writeMSIError(w, http.StatusBadRequest, "The 'resource' query parameter is required.")
		return
	}
	var mi ManagedIdentity
	var found bool
	for _, cand := range s.mis {
		switch {
		case q.Get("client_id") != "":
			found = strings.EqualFold(cand.ClientID, q.Get("client_id"))
		case q.Get("object_id") != "":
			found = strings.EqualFold(cand.ObjectID, q.Get("object_id"))
		case q.Get("principal_id") != "":
			found = strings.EqualFold(cand.ObjectID, q.Get("principal_id"))
		case q.Get("mi_res_id") != "":
			found = cand.ResourceID != "" && strings.EqualFold(cand.ResourceID, q.Get("mi_res_id"))
		default:
			writeMSIError(w, http.StatusBadRequest, "No system-assigned managed identity is enabled for this app; select a user-assigned identity with client_id, object_id or mi_res_id.")
			return
		}
		if found {
			mi = cand
			break
		}
	}
	if !found {
		writeMSIError(w, http.StatusBadRequest, "Unable to load the proper Managed Identity.")
		return
	}

	now := s.now()
	exp := now.Add(s.tokenLifetime())
	var claims jwt.MapClaims
	version := 1
	switch {
	case strings.EqualFold(strings.TrimRight(resource, "/"), TokenExchangeAudience):
		// the token used as a federated identity credential: v2 issuer, sub = oid = the
		// identity's object id
		version = 2
		claims = s.appClaims(mi.ClientID, "2", 2, TokenExchangeAudience, nil, now, exp)
	case s.isDatabricks(resource):
		claims = s.appClaims(mi.ClientID, "2", 1, DatabricksResourceID, nil, now, exp)
	case s.isAPI(resource):
		version = s.api.AccessTokenVersion
		aud := s.api.ClientID
		if version == 1 {
			aud = resource
		}
		claims = s.appClaims(mi.ClientID, "2", version, aud, mi.Roles, now, exp)
	default:
		e := errResourceNotFound(resource, s.tenant)
		writeMSIError(w, http.StatusBadRequest, "AADSTS"+strconv.Itoa(e.code)+": "+e.text)
		return
	}
	tok, err := s.sign(claims, version)
	if err != nil {
		writeMSIError(w, http.StatusInternalServerError, "Failed to issue a token.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writePlainJSON(w, http.StatusOK, msiTokenResponse{
		AccessToken: tok,
		ExpiresOn:   strconv.FormatInt(exp.Unix(), 10),
		Resource:    q.Get("resource"),
		TokenType:   "Bearer",
		ClientID:    mi.ClientID,
	})
}
