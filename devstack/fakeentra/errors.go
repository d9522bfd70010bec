package fakeentra

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// entraError is an error of the security token service, rendered as Entra's JSON error
// body (reference-error-codes.md): error, error_description ("AADSTSnnnn: text\r\nTrace
// ID: …\r\nCorrelation ID: …\r\nTimestamp: …"), error_codes, timestamp, trace_id,
// correlation_id, error_uri, and suberror / claims where Entra sends them.
type entraError struct {
	status     int
	err        string // OAuth error code, e.g. invalid_grant
	code       int    // AADSTS number
	text       string // description without the AADSTS prefix
	suberror   string
	claims     string
	retryAfter int // seconds; 0 = no Retry-After header
	// plain answers with text as a text/plain body instead of Entra's JSON error (the
	// throttling front end does not speak OAuth).
	plain bool
}

func newEntraError(status int, oauthErr string, code int, format string, args ...any) *entraError {
	return &entraError{status: status, err: oauthErr, code: code, text: fmt.Sprintf(format, args...)}
}

// Constructors for the errors the fake produces. Texts follow Entra's messages; they
// name client ids, tenants, thumbprints and subjects, never secrets or tokens.

func errMissingParameter(name string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_request", 900144,
		"The request body must contain the following parameter: '%s'.", name)
}

func errMalformedRequest() *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_request", 9002313,
		"Invalid request. Request is malformed or invalid.")
}

func errPostOnly(method string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_request", 900561,
		"The endpoint only accepts POST, OPTIONS requests. Received a %s request.", method)
}

func errTenantNotFound(tenant string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_tenant", 90002,
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "+
			"Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant)
}

func errUnsupportedGrant(grant string) *entraError {
	return newEntraError(http.StatusBadRequest, "unsupported_grant_type", 70003,
		"The app requested an unsupported grant type '%s'.", grant)
}

func errAppNotFound(clientID, tenant string) *entraError {
	return newEntraError(http.StatusBadRequest, "unauthorized_client", 700016,
		"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been "+
			"installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your "+
			"authentication request to the wrong tenant.", clientID, tenant)
}

func errNoClientCredential() *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 7000218,
		"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}

func errInvalidSecret(clientID string) *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 7000215,
		"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client "+
			"secret ID, for a secret added to app '%s'.", clientID)
}

func errClientAssertionMalformed() *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 50027,
		"JWT token is invalid or malformed.")
}

func errClientAssertionKeyNotFound(thumb, clientID string) *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700027,
		"Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '%s', "+
			"Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]",
		thumb, clientID)
}

func errClientAssertionSignature() *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700027,
		"Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]")
}

func errClientAssertionAppID() *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700021,
		"Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at "+
			"https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
}

func errClientAssertionAudience() *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700023,
		"Client assertion audience claim does not match Realm issuer. Review the documentation at "+
			"https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
}

func errClientAssertionTime(s *Server, nbf, exp int64) *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700024,
		"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. "+
			"Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
		s.now().UTC().Format(isoSeconds), unixISO(nbf), unixISO(exp))
}

func errFICIssuer(iss string) *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700211,
		"No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity "+
			"credential Subject, Audience and Issuer against the presented assertion. "+
			"https://learn.microsoft.com/entra/workload-id/workload-identity-federation", iss)
}

func errFICAudience(aud string) *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700212,
		"No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity "+
			"credential Subject, Audience and Issuer against the presented assertion. "+
			"https://learn.microsoft.com/entra/workload-id/workload-identity-federation", aud)
}

func errFICSubject(sub string) *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700213,
		"No matching federated identity record found for presented assertion subject '%s'. Please check your federated identity "+
			"credential Subject, Audience and Issuer against the presented assertion. "+
			"https://learn.microsoft.com/entra/workload-id/workload-identity-federation", sub)
}

func errFICTokenType() *entraError {
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700229,
		"ForbiddenTokenType - Only app-only tokens can be used as Federated Identity Credentials for Microsoft Entra issuer.")
}

func errInvalidScope(scope string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_scope", 70011,
		"The provided value for the input parameter 'scope' isn't valid. The scope %s isn't valid.", scope)
}

func errMultipleResources() *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_scope", 28000,
		"Provided value for the input parameter scope is not valid because it contains more than one resource.")
}

func errClientCredentialsScope(scope string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_scope", 1002012,
		"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed "+
			"to the resource identifier (application ID URI).", scope)
}

func errResourceNotFound(resource, tenant string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_resource", 500011,
		"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been "+
			"installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your "+
			"authentication request to the wrong tenant.", resource, tenant)
}

func errAssertionInvalid(reason string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_grant", 50013, "Assertion %s", reason)
}

func errAssertionExpired(s *Server, exp int64) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_grant", 500133,
		"Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user "+
			"assertion, or request a new token. Current time: %s, expiry time of assertion %s.",
		s.now().UTC().Format(isoSeconds), unixISO(exp))
}

func errAssertionAudience(aud, clientID string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_grant", 50013,
		"Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and "+
			"the expected audience is '%s' or one of the Application Uris of this application with App ID '%s'.",
		aud, clientID, clientID)
}

func errAppOnlyOBO(clientID string) *entraError {
	return newEntraError(http.StatusBadRequest, "unauthorized_client", 7000114,
		"Application '%s' is not allowed to make application on-behalf-of calls.", clientID)
}

func errConsentRequired(clientID, appName string) *entraError {
	e := newEntraError(http.StatusBadRequest, "invalid_grant", 65001,
		"The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive "+
			"authorization request for this user and resource.", clientID, appName)
	e.suberror = "consent_required"
	return e
}

func errMFARequired(resource, policyID string) *entraError {
	e := newEntraError(http.StatusBadRequest, "invalid_grant", 50076,
		"Due to a configuration change made by your administrator, or because you moved to a new location, you must use "+
			"multi-factor authentication to access '%s'.", resource)
	e.suberror = "basic_action"
	e.claims = `{"access_token":{"capolids":{"essential":true,"values":["` + policyID + `"]}}}`
	return e
}

// errMFAInteractionRequired is AADSTS50076 in the form the OBO documentation shows for a
// Conditional Access failure: error interaction_required, a claims challenge and no suberror
// (v2-oauth2-on-behalf-of-flow.md, "Error response example"; the same shape reported in
// AzureAD/microsoft-authentication-library-for-objc#57 and
// AzureAD/azure-activedirectory-library-for-python#85). errMFARequired is the other form.
func errMFAInteractionRequired(resource, policyID string) *entraError {
	e := newEntraError(http.StatusBadRequest, "interaction_required", 50076,
		"Due to a configuration change made by your administrator, or because you moved to a new location, you must use "+
			"multi-factor authentication to access '%s'.", resource)
	e.claims = `{"access_token":{"capolids":{"essential":true,"values":["` + policyID + `"]}}}`
	return e
}

// errThrottled is Entra's throttling answer: HTTP 429 with Retry-After and a plain
// "Too Many Requests" body, not an OAuth error (client-and-server-throttling, MSAL.NET;
// the captured answer in AzureAD/microsoft-authentication-library-for-dotnet#2855:
// "StatusCode: 429 ResponseBody: Too Many Requests Headers: Retry-After: 60").
func errThrottled(retryAfter time.Duration) *entraError {
	return &entraError{status: http.StatusTooManyRequests, text: "Too Many Requests", plain: true,
		retryAfter: max(1, int(retryAfter/time.Second))}
}

func errIssueToken() *entraError {
	return newEntraError(http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token.")
}

func errRefreshTokenMalformed() *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
}

func errRefreshTokenOtherClient() *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_grant", 70000,
		"Provided grant is invalid or malformed. The refresh token was issued to a different client.")
}

func errRefreshTokenExpired(issued time.Time, inactive time.Duration) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_grant", 700082,
		"The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.",
		issued.Format(isoSeconds), inactive.Truncate(time.Second))
}

func errUserAssertionInvalid() *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_grant", 50013,
		"Assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]")
}

func errTemporarilyUnavailable() *entraError {
	e := newEntraError(http.StatusServiceUnavailable, "temporarily_unavailable", 90033,
		"A transient error has occurred. Please try again.")
	e.retryAfter = 1
	return e
}

const (
	isoSeconds   = "2006-01-02T15:04:05Z" // "Current time" in AADSTS texts
	entraStamped = "2006-01-02 15:04:05Z" // timestamp field and Timestamp line
)

func unixISO(sec int64) string {
	if sec == 0 {
		return "(none)"
	}
	return timeUnix(sec).Format(isoSeconds)
}

type entraErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
	Suberror         string `json:"suberror,omitempty"`
	Claims           string `json:"claims,omitempty"`
}

// writeEntraError writes e the way Entra does. The correlation id is the request's
// client-request-id when it is a GUID (MSAL sends one), else a new GUID.
func (s *Server) writeEntraError(w http.ResponseWriter, r *http.Request, e *entraError) {
	if e.plain {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(e.status)
		_, _ = w.Write([]byte(e.text))
		return
	}
	traceID := uuid.NewString()
	corr := correlationID(r)
	ts := s.now().UTC().Format(entraStamped)
	body := entraErrorBody{
		Error: e.err,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.code, e.text, traceID, corr, ts),
		ErrorCodes:    []int{e.code},
		Timestamp:     ts,
		TraceID:       traceID,
		CorrelationID: corr,
		ErrorURI:      s.base + "/error?code=" + strconv.Itoa(e.code),
		Suberror:      e.suberror,
		Claims:        e.claims,
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	w.Header().Set("x-ms-request-id", traceID)
	writeJSON(w, r, e.status, body)
}

func correlationID(r *http.Request) string {
	if id, err := uuid.Parse(r.Header.Get("client-request-id")); err == nil {
		return id.String()
	}
	return uuid.NewString()
}

// writeJSON writes v with the headers of Entra's token responses.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	if id := r.Header.Get("client-request-id"); id != "" {
		if _, err := uuid.Parse(id); err == nil {
			h.Set("client-request-id", id)
		}
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
