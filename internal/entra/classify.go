package entra

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/flowbricks/flowbricks/internal/redact"
	"github.com/flowbricks/flowbricks/internal/retryafter"
)

const (
	// defaultRetryAfter is suggested for Unavailable when Entra gave no Retry-After.
	defaultRetryAfter = 5 * time.Second
	maxRetryAfter     = 5 * time.Minute
	maxDescription    = 400
)

// AADSTS codes by meaning (Entra reference-error-codes.md). Classification uses error_codes,
// error and suberror — never the description text.
var (
	codesConsent     = []int{65001}
	codesInteraction = []int{50076, 50079, 50072, 50074, 50158, 50125, 50097}
	codesAssertion   = []int{50013, 500133}
	codesTransient   = []int{90024, 50033}
	// suberrors Entra sends with interaction_required / invalid_grant that need the user.
	subInteraction = []string{"basic_action", "additional_action", "message_only", "user_password_expired", "bad_token"}
)

// entraErrorBody is Entra's OAuth error response.
type entraErrorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	Suberror      string `json:"suberror"`
	Claims        string `json:"claims"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
}

// classify turns whatever azidentity returned into an *ExchangeError. ctx is the exchange's own
// context, tr its trace; secrets are redacted from any text that makes it into the error.
func classify(ctx context.Context, err error, tr *callTrace, secrets ...string) *ExchangeError {
	netErr, seen, assertFail := tr.snapshot()
	secrets = append(secrets, seen...)
	red := func(s string) string { return sanitize(s, secrets) }

	if ctxErr := ctx.Err(); ctxErr != nil {
		return &ExchangeError{Kind: Unavailable, Description: "Entra did not answer in time", RetryAfter: defaultRetryAfter, cause: ctxErr}
	}
	if assertFail != nil {
		e := &ExchangeError{Kind: Misconfigured, Description: "getting the managed identity token for the federated credential failed"}
		var afe *azidentity.AuthenticationFailedError
		switch {
		case errors.As(assertFail, &afe) && afe.RawResponse != nil:
			status := afe.RawResponse.StatusCode
			e.Description += " (HTTP " + strconv.Itoa(status) + ")"
			if status >= 500 || status == http.StatusTooManyRequests {
				e.Kind, e.RetryAfter = Unavailable, retryAfter(afe.RawResponse.Header)
			}
		case netErr != "":
			e.Kind, e.RetryAfter = Unavailable, defaultRetryAfter
			e.Description += ": " + red(netErr)
		}
		return e
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		body, _ := runtime.Payload(afe.RawResponse) // buffered by MSAL/azcore; Payload keeps it re-readable
		e := classifyResponse(afe.RawResponse.StatusCode, afe.RawResponse.Header, body)
		e.Description = red(e.Description)
		e.Claims = red(e.Claims)
		return e
	}
	if netErr != "" {
		return &ExchangeError{Kind: Unavailable, Description: "network error calling Entra: " + red(netErr), RetryAfter: defaultRetryAfter}
	}
	// A local failure inside MSAL/azidentity (e.g. an unusable token response, declined scopes).
	msg := err.Error()
	if i := strings.Index(msg, "To troubleshoot"); i > 0 {
		msg = msg[:i]
	}
	return &ExchangeError{Kind: Misconfigured, Description: red(strings.Join(strings.Fields(msg), " "))}
}

// classifyResponse classifies an Entra error response by status, error, suberror and error_codes.
func classifyResponse(status int, header http.Header, body []byte) *ExchangeError {
	var b entraErrorBody
	_ = json.Unmarshal(body, &b) // a non-JSON body (proxy page) leaves b empty
	e := &ExchangeError{
		Description:   firstLine(b.Description),
		Claims:        b.Claims,
		TraceID:       b.TraceID,
		CorrelationID: b.CorrelationID,
	}
	if len(b.Codes) > 0 {
		e.AADSTS = "AADSTS" + strconv.Itoa(b.Codes[0])
	} else if m := aadstsRE.FindString(b.Description); m != "" {
		e.AADSTS = m
	}
	if e.Description == "" {
		e.Description = "Entra answered HTTP " + strconv.Itoa(status)
		if b.Error != "" {
			e.Description += " " + b.Error
		}
	}
	has := func(codes []int) bool {
		for _, c := range b.Codes {
			if slices.Contains(codes, c) {
				return true
			}
		}
		return false
	}
	switch {
	case status >= 500 || status == http.StatusTooManyRequests || b.Error == "temporarily_unavailable" || has(codesTransient):
		e.Kind, e.RetryAfter = Unavailable, retryAfter(header)
	// specific error codes first, then the generic signals
	case has(codesConsent):
		e.Kind = ConsentRequired
	case has(codesInteraction):
		e.Kind = InteractionRequired
	case has(codesAssertion):
		e.Kind = InvalidAssertion
	case b.Suberror == "consent_required":
		e.Kind = ConsentRequired
	case b.Error == "interaction_required" || b.Claims != "" || slices.Contains(subInteraction, b.Suberror):
		e.Kind = InteractionRequired
	default:
		e.Kind = Misconfigured
	}
	return e
}

var aadstsRE = regexp.MustCompile(`AADSTS\d+`)

// retryAfter is Entra's Retry-After, at least a second and at most maxRetryAfter;
// defaultRetryAfter when it sent none or one that cannot be read.
func retryAfter(h http.Header) time.Duration {
	if d, ok := retryafter.Parse(h.Get("Retry-After"), time.Now(), time.Second, maxRetryAfter); ok {
		return d
	}
	return defaultRetryAfter
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// sanitize makes upstream text safe for an error message: known secrets and anything shaped like
// a token are redacted (internal/redact, the one policy), control characters dropped, length
// bounded.
func sanitize(s string, secrets []string) string {
	s = redact.Secrets(s, secrets...)
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxDescription {
		s = strings.ToValidUTF8(s[:maxDescription], "") + "…"
	}
	return s
}
