package entra

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Error kinds returned by [Validator.Validate]. Classify with errors.Is / errors.As.
var (
	// ErrNoCredentials: the request carried no bearer token (no Authorization header, or a scheme
	// other than Bearer). RFC 6750 §3.1: answer 401 with a WWW-Authenticate challenge that has no
	// error attribute.
	ErrNoCredentials = errors.New("entra: no bearer token in the request")

	// ErrInvalidToken: a bearer token was sent but is unacceptable (malformed, bad signature,
	// expired, wrong audience/issuer/tenant, …). Answer 401 with error="invalid_token". The concrete
	// error is an *InvalidTokenError whose Reason is safe to show to the caller.
	ErrInvalidToken = errors.New("entra: invalid token")

	// ErrUnavailable: Entra's metadata or signing keys could not be fetched, or (via
	// *ExchangeError with Kind Unavailable) the token endpoint is unreachable/failing.
	// Answer 503 with Retry-After.
	ErrUnavailable = errors.New("entra: identity provider unavailable")
)

// InvalidTokenError is the concrete type behind [ErrInvalidToken]. Reason is a short, fixed,
// human-readable explanation ("token expired", "audience not accepted", …); it never contains
// the token or any part of it, so it can go into error_description.
type InvalidTokenError struct {
	Reason string
}

func (e *InvalidTokenError) Error() string { return "entra: invalid token: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidToken) true.
func (e *InvalidTokenError) Unwrap() error { return ErrInvalidToken }

func invalidToken(reason string) error { return &InvalidTokenError{Reason: reason} }

// Forbidden error codes ([ForbiddenError.Code]).
const (
	// CodeAppCallerNotAllowed: an app-only token whose application is not allow-listed, or that
	// lacks the required app role, or app-only tokens are not accepted at all.
	CodeAppCallerNotAllowed = "app_caller_not_allowed"
	// CodeClientAppNotAllowed: a delegated (user) token obtained by a client application that is
	// not on the client-application allow-list (azp / appid missing or not listed).
	CodeClientAppNotAllowed = "client_app_not_allowed"
	// CodeInsufficientScope: a delegated (user) token without the required scope (RFC 6750 §3.1).
	CodeInsufficientScope = "insufficient_scope"
)

// ForbiddenError: the token is genuine and valid, but the caller may not use this API. Answer 403.
// Reason says which check failed and is safe to show to the caller.
type ForbiddenError struct {
	Code   string // CodeAppCallerNotAllowed, CodeClientAppNotAllowed or CodeInsufficientScope
	Reason string
}

func (e *ForbiddenError) Error() string { return "entra: forbidden (" + e.Code + "): " + e.Reason }

// ExchangeErrorKind classifies a failed token exchange.
type ExchangeErrorKind int

// Exchange error kinds.
const (
	// Misconfigured: the handler's own registration/credential is wrong (invalid_client: bad or
	// expired secret/certificate/federated credential, unknown app, app not allowed to do OBO…)
	// or Entra answered something unexpected. Not the caller's fault: 502/500, alert.
	Misconfigured ExchangeErrorKind = iota
	// ConsentRequired: AADSTS65001 — the user or an admin has not consented to the Databricks
	// delegated permission for this app. 403, an admin must grant consent.
	ConsentRequired
	// InteractionRequired: MFA / Conditional Access for the downstream resource (AADSTS50076,
	// 50079, any response with a claims challenge). 401 with the claims challenge.
	InteractionRequired
	// InvalidAssertion: the caller's token was refused for OBO (AADSTS50013, 500133 expired). 401.
	InvalidAssertion
	// Unavailable: network error, timeout, 5xx, 429 or temporarily_unavailable. 503 + Retry-After.
	Unavailable
	// Throttled: the caller (one tenant + object id) made this process exchange more tokens than
	// its per-minute bound allows; no request went to Entra. 429 + Retry-After.
	Throttled
)

// String returns a stable snake_case name usable as a problem code.
func (k ExchangeErrorKind) String() string {
	switch k {
	case Misconfigured:
		return "misconfigured"
	case ConsentRequired:
		return "consent_required"
	case InteractionRequired:
		return "interaction_required"
	case InvalidAssertion:
		return "invalid_assertion"
	case Unavailable:
		return "unavailable"
	case Throttled:
		return "throttled"
	default:
		return "exchange_error_" + strconv.Itoa(int(k))
	}
}

// ExchangeError is returned by [Exchanger.TokenFor]. None of its fields, nor Error(), ever contain
// the incoming token, the client secret, a client assertion or the resulting token.
type ExchangeError struct {
	Kind ExchangeErrorKind
	// AADSTS is Entra's first error code, e.g. "AADSTS65001"; empty when there was no Entra answer.
	AADSTS string
	// Description is the first line of Entra's error_description (AADSTS text, ids kept) or a short
	// description of a local/network failure.
	Description string
	// Claims is the claims challenge JSON Entra returned (interaction_required); pass it to the
	// client in WWW-Authenticate so it can re-authenticate.
	Claims string
	// RetryAfter is a suggested delay for Unavailable (from Retry-After when Entra sent one) and
	// Throttled (when the caller's bound allows the next exchange).
	RetryAfter time.Duration
	// TraceID and CorrelationID from Entra's error body, for support requests.
	TraceID, CorrelationID string
	// Action says what an administrator must change, for Kind Misconfigured (empty otherwise):
	// which credential or registration setting Entra refused and how to fix it. It names
	// settings, never their values, and is written to the log line of the failure.
	Action string

	cause error // only context errors, never anything that could carry a secret
}

func (e *ExchangeError) Error() string {
	s := "entra: token exchange failed (" + e.Kind.String() + ")"
	if e.AADSTS != "" && !strings.Contains(e.Description, e.AADSTS) {
		s += " " + e.AADSTS
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Unwrap exposes a context error (cancellation/deadline) when that was the cause.
func (e *ExchangeError) Unwrap() error { return e.cause }

// Is lets callers treat exchange failures like validation failures where it matters:
// Kind Unavailable matches [ErrUnavailable]; Kind InvalidAssertion matches [ErrInvalidToken].
func (e *ExchangeError) Is(target error) bool {
	switch target {
	case ErrUnavailable:
		return e.Kind == Unavailable
	case ErrInvalidToken:
		return e.Kind == InvalidAssertion
	}
	return false
}
