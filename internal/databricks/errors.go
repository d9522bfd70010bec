package databricks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/databricks/databricks-sdk-go/apierr"

	"github.com/flowbricks/flowbricks/internal/redact"
	"github.com/flowbricks/flowbricks/internal/retryafter"
	"github.com/flowbricks/flowbricks/internal/secret"
)

// Error kinds. Every error returned by a [Client] operation is an [*Error]
// whose Unwrap returns exactly one of these, so errors.Is(err, ErrRunNotFound)
// and friends work without knowing any SDK type.
var (
	// ErrJobNotFound: the job id does not exist (or the caller cannot see it
	// and Databricks answers "does not exist").
	ErrJobNotFound = errors.New("job not found")
	// ErrRunNotFound: the run id does not exist (or was removed after 60 days).
	ErrRunNotFound = errors.New("run not found")
	// ErrStatementNotFound: the statement id does not exist, or the statement
	// was removed (at least 12 hours after it ended).
	ErrStatementNotFound = errors.New("statement not found")
	// ErrWarehouseNotFound: ExecuteStatement named a SQL warehouse id that
	// does not exist (or that the caller cannot see).
	ErrWarehouseNotFound = errors.New("warehouse not found")
	// ErrPermissionDenied: Databricks answered 403 PERMISSION_DENIED; Detail
	// carries its message (e.g. "User x does not have ... permissions on job N").
	ErrPermissionDenied = errors.New("permission denied by Databricks")
	// ErrNotInWorkspace: a 403 that is neither PERMISSION_DENIED nor a
	// rejected token, in practice the Jetty "User not authorized" page for a
	// principal the workspace does not know.
	ErrNotInWorkspace = errors.New("the caller is not a user of the Databricks workspace")
	// ErrTokenRejected: Databricks refused the bearer token itself — any 401,
	// and the 400/403 answers whose message says the token is expired, about
	// to expire or invalid (see tokenRejectedRe). An operation that gets it
	// has already asked its TokenSource for a fresh token and tried once more.
	ErrTokenRejected = errors.New("token rejected by Databricks")
	// ErrThrottled: 429 after the SDK's retries ran out; RetryAfter is set.
	ErrThrottled = errors.New("throttled by Databricks")
	// ErrUnavailable: 503, transport errors, timeouts and context deadlines;
	// RetryAfter is set.
	ErrUnavailable = errors.New("workspace unavailable")
	// ErrUpstream: any other server-side failure (500, 502, 504, unparseable
	// answers, an endpoint that does not exist at the configured host).
	ErrUpstream = errors.New("unexpected answer from Databricks")
	// ErrRepairConflict: runs/repair refused the latest_repair_id sent (or its
	// absence): the run was repaired since its history was read. Detail
	// carries Databricks' message.
	ErrRepairConflict = errors.New("the run was repaired meanwhile")
	// ErrInvalidRequest: any other 4xx, or a request rejected before sending;
	// Detail says why.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrNoToken: the context carries no token source, or its token is not
	// usable (see [WithTokenSource]); no request was sent.
	ErrNoToken = errors.New("no Databricks token for the request")
)

// DefaultRetryAfter is the RetryAfter of ErrThrottled and ErrUnavailable
// errors when Databricks did not say how long to wait (it usually does not:
// docs/architecture.md, Azure Databricks Jobs API 2.2). It matches the SDK's
// own maximum backoff step.
const DefaultRetryAfter = 10 * time.Second

// maxRetryAfter caps a server-sent Retry-After so a bogus value cannot park a
// flow for hours.
const maxRetryAfter = 10 * time.Minute

// Operation names used in [Error.Op].
const (
	OpRunNow    = "run-now"
	OpGetRun    = "get-run"
	OpGetOutput = "get-output"
	OpCancelRun = "cancel-run"
	OpListJobs  = "list-jobs"
	OpListRuns  = "list-runs"
	OpRepairRun = "repair-run"

	OpExecuteStatement = "execute-statement"
	OpGetStatement     = "get-statement"
	OpStatementChunk   = "get-statement-chunk"
	OpCancelStatement  = "cancel-statement"
	OpListWarehouses   = "list-warehouses"
)

// Error is the only error type operations return.
//
// It never holds the SDK error itself: the SDK's APIError keeps the HTTP
// request, and with it the Authorization header. Only plain strings and
// numbers are copied out, and every upstream text passes redact.Secrets with
// the caller's token.
//
// Detail is meant for the caller; Error() adds what only the operator should
// see (e.g. the address a connection to the workspace failed on), so log
// Error() and answer with Detail.
type Error struct {
	Kind       error  // one of the Err* sentinels of this package
	Op         string // one of the Op* constants
	Detail     string // Databricks' message (e.g. the PERMISSION_DENIED text) or what went wrong locally — never a token
	RequestID  string // Databricks request id when it sent one (RequestInfo detail or X-Request-Id header)
	StatusCode int    // HTTP status from Databricks; 0 when no answer was received
	// RetryAfter is set for ErrThrottled and ErrUnavailable: Databricks'
	// Retry-After header or RetryInfo detail if present, else DefaultRetryAfter.
	RetryAfter time.Duration

	// internal is the full text of a local failure ("dial tcp 10.1.2.3:443:
	// connect: connection refused"): in Error(), never in Detail.
	internal string
}

// Error returns e.g. `databricks get-run: run not found: Run 42 does not exist. (HTTP 400)`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("databricks")
	if e.Op != "" {
		b.WriteString(" ")
		b.WriteString(e.Op)
	}
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("error")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.StatusCode != 0 || e.RequestID != "" {
		b.WriteString(" (")
		if e.StatusCode != 0 {
			b.WriteString("HTTP ")
			b.WriteString(strconv.Itoa(e.StatusCode))
		}
		if e.RequestID != "" {
			if e.StatusCode != 0 {
				b.WriteString(", ")
			}
			b.WriteString("request id ")
			b.WriteString(e.RequestID)
		}
		b.WriteString(")")
	}
	if e.internal != "" {
		b.WriteString(" [")
		b.WriteString(e.internal)
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

// The SDK's own "does not exist" patterns (apierr/error_overrides.go). The SDK
// applies them only to GET jobs/get and runs/get*; run-now and runs/cancel are
// POSTs, so we match the message ourselves for every operation.
var (
	jobNotExistRe = regexp.MustCompile(`Job .* does not exist`)
	runNotExistRe = regexp.MustCompile(`Run .* does not exist|Run: .* in job: .* doesn't exist`)
)

// latestRepairRe matches runs/repair's refusals of latest_repair_id: "The latest repair ID needs
// to be provided in order to create a new repair"
// (https://github.com/databricks/databricks-sdk-py/issues/157), and, loosely, one that is not the
// latest (its wording is not documented).
var latestRepairRe = regexp.MustCompile(`(?i)latest[ _]repair[ _]id`)

// tokenRejectedRe matches the messages with which Azure Databricks has refused
// a bearer token, whatever the status it came with (captured answers):
//
//   - 403 {"error_code":403,"message":"JWT has expired"}, with
//     X-Databricks-Reason-Phrase: JWT has expired
//     (https://github.com/databricks/databricks-sdk-go/issues/1061);
//   - 403 Jetty page "Token is expiring within 30 seconds. (token expired)"
//     (https://github.com/databricks/databricks-vscode/issues/583; the SDK's
//     own comment: "Azure Databricks rejects tokens that expire in 30 seconds
//     or less", config/oauth_visitors.go);
//   - 403 Jetty page "Invalid access token."
//     (https://github.com/databricks/terraform-provider-databricks/issues/66,
//     https://github.com/Azure/MachineLearningNotebooks/issues/840);
//   - "... io.jsonwebtoken.ExpiredJwtException: JWT expired at ..."
//     (https://github.com/databricks/terraform-provider-databricks/issues/2522),
//     first as a 400, later as 401 "Token is expired"
//     (https://github.com/databrickslabs/splunk-integration/issues/55);
//   - 400 "io.jsonwebtoken.IncorrectClaimException: Expected aud claim ..."
//     (https://github.com/MicrosoftDocs/azure-docs/issues/85703): a token for
//     another audience; a fresh one will not help, but it is the token that
//     is wrong, not the request, and the caller must hear that.
//
// The Jetty "User not authorized" page (a valid token of a principal the
// workspace does not know) does not match: a fresh token would not help.
var tokenRejectedRe = regexp.MustCompile(`(?i)JWT has expired|JWT expired|token is expired|token is expiring|token expired|invalid access token|io\.jsonwebtoken\.`)

// classify turns whatever the SDK returned into an *Error. token is the
// caller's token, scrubbed from any text we copy. ctx is the call's context
// (to tell a deadline from other transport failures).
//
// Mapping (docs/architecture.md, databricks-sdk-go; rows are tested in TestErrorMapping):
//
//	no/invalid token in ctx (our credentials provider)   → ErrNoToken
//	401                                                  → ErrTokenRejected
//	400/403 whose message rejects the token (tokenRejectedRe) → ErrTokenRejected
//	403 error_code PERMISSION_DENIED                     → ErrPermissionDenied (Detail = message)
//	403 PRIVATE_LINK_VALIDATION_ERROR (SDK-synthesized)  → ErrUpstream (the deployment's network, not the caller)
//	403 anything else (Jetty HTML "User not authorized") → ErrNotInWorkspace
//	429 / RESOURCE_EXHAUSTED / REQUEST_LIMIT_EXCEEDED    → ErrThrottled (after the SDK's retries ran out)
//	503                                                  → ErrUnavailable
//	other 5xx (500/502/504 — HTML bodies parse as UNKNOWN, so by StatusCode) → ErrUpstream
//	4xx on a Statement Execution operation               → see sqlKind:
//	    404 / RESOURCE_DOES_NOT_EXIST / NOT_FOUND, or "statement … not found/does not exist"
//	                                                     → ErrStatementNotFound (get, chunk, cancel)
//	    the same on execute, or "warehouse … not found/does not exist", "not a valid endpoint id"
//	                                                     → ErrWarehouseNotFound (unless it names a catalog/schema/table)
//	    a chunk call's message about the chunk (index out of range) → ErrInvalidRequest
//	    404 on list-warehouses                           → ErrUpstream
//	4xx on repair-run about the latest repair id         → ErrRepairConflict (latestRepairRe)
//	4xx "Job … does not exist"                           → ErrJobNotFound (run-now: the SDK maps it to bad request only)
//	4xx "Run … does not exist" / "Run: … in job: … doesn't exist" → ErrRunNotFound
//	404 ENDPOINT_NOT_FOUND or unparseable body           → ErrUpstream (wrong host or API path)
//	404 / RESOURCE_DOES_NOT_EXIST otherwise              → ErrJobNotFound or ErrRunNotFound by operation
//	other 4xx                                            → ErrInvalidRequest (Detail = message)
//	transport errors, timeouts, ctx deadline/cancel      → ErrUnavailable (Detail without addresses)
//	an answer larger than its bound (boundedTransport)   → ErrUpstream
//	anything else (e.g. an undecodable 200 body)         → ErrUpstream
func classify(ctx context.Context, op string, token secret.Token, err error) *Error {
	if err == nil {
		return nil
	}
	var own *Error
	if errors.As(err, &own) {
		return own
	}
	e := &Error{Op: op}
	if errors.Is(err, ErrNoToken) {
		e.Kind = ErrNoToken
		e.Detail = "the request context carries no usable Databricks token"
		return e
	}

	var apiErr *apierr.APIError
	if errors.As(err, &apiErr) {
		classifyAPIError(e, op, apiErr)
		e.Detail = redact.Secrets(e.Detail, token.Reveal())
		return e
	}

	ctxErr := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		e.Kind = ErrUpstream
		e.Detail = fmt.Sprintf("Databricks' answer is larger than the %d MiB flowbricks reads", tooLarge.Limit>>20)
	case isTransportError(err) && !ctxErr:
		// e.g. connection refused, reset, TLS failure, the SDK's inactivity
		// timeout — possibly after the deadline ended the SDK's retries.
		e.Kind = ErrUnavailable
		e.Detail = transportDetail(err)
		e.internal = redact.Secrets(err.Error(), token.Reveal())
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.Kind = ErrUnavailable
		e.Detail = "no answer from Databricks before the deadline"
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		e.Kind = ErrUnavailable
		e.Detail = "the call to Databricks was canceled"
	default:
		e.Kind = ErrUpstream
		e.Detail = redact.Secrets(err.Error(), token.Reveal())
	}
	if e.Kind == ErrUnavailable {
		e.RetryAfter = DefaultRetryAfter
	}
	return e
}

func classifyAPIError(e *Error, op string, apiErr *apierr.APIError) {
	status, code, msg := apiErr.StatusCode, apiErr.ErrorCode, apiErr.Message
	e.StatusCode = status
	e.Detail = plainMessage(status, msg)
	e.RequestID = requestID(apiErr)

	switch {
	case status == http.StatusUnauthorized:
		e.Kind = ErrTokenRejected
	case (status == http.StatusForbidden || status == http.StatusBadRequest) && tokenRejectedRe.MatchString(msg):
		e.Kind = ErrTokenRejected
	case status == http.StatusForbidden && code == "PERMISSION_DENIED":
		e.Kind = ErrPermissionDenied
	case status == http.StatusForbidden && code == "PRIVATE_LINK_VALIDATION_ERROR":
		e.Kind = ErrUpstream
	case status == http.StatusForbidden:
		e.Kind = ErrNotInWorkspace
	case status == http.StatusTooManyRequests || errors.Is(apiErr, apierr.ErrTooManyRequests):
		e.Kind = ErrThrottled
		e.RetryAfter = retryAfter(apiErr)
	case status == http.StatusServiceUnavailable:
		e.Kind = ErrUnavailable
		e.RetryAfter = retryAfter(apiErr)
	case status >= 500:
		e.Kind = ErrUpstream
	case status >= 400 && isSQLOp(op):
		e.Kind = sqlKind(op, status, code, msg)
	case status >= 400 && status < 500 && op == OpRepairRun && latestRepairRe.MatchString(msg):
		e.Kind = ErrRepairConflict
	case status >= 400 && jobNotExistRe.MatchString(msg):
		e.Kind = ErrJobNotFound
	case status >= 400 && runNotExistRe.MatchString(msg):
		e.Kind = ErrRunNotFound
	case status == http.StatusNotFound && (code == "ENDPOINT_NOT_FOUND" || code == "UNKNOWN" || code == ""):
		e.Kind = ErrUpstream
	case status == http.StatusNotFound || errors.Is(apiErr, apierr.ErrNotFound):
		e.Kind = notFoundFor(op)
	case status >= 400:
		e.Kind = ErrInvalidRequest
	default:
		e.Kind = ErrUpstream
	}
}

// What Databricks answers on the Statement Execution endpoints when something named in the
// request is missing (docs/architecture.md, Databricks SQL Statement Execution API). The messages
// are matched loosely because they are not documented; the operation decides what "not found"
// means.
var (
	statementNotExistRe = regexp.MustCompile(`(?i)statement\b.*\b(does not exist|doesn't exist|not found|no longer exists)`)
	warehouseNotExistRe = regexp.MustCompile(`(?i)(warehouse|endpoint)\b.*\b(does not exist|doesn't exist|not found)|not a valid endpoint id`)
	// otherObjectRe: a missing catalog, schema or table on execute is not a missing warehouse.
	otherObjectRe = regexp.MustCompile(`(?i)\b(catalog|schema|table|view|function|parameter)\b`)
	chunkRe       = regexp.MustCompile(`(?i)\bchunk`)
)

func isSQLOp(op string) bool {
	switch op {
	case OpExecuteStatement, OpGetStatement, OpStatementChunk, OpCancelStatement, OpListWarehouses:
		return true
	}
	return false
}

// sqlKind classifies a 4xx (other than the token, permission and throttling answers, which
// classifyAPIError decides first) of a Statement Execution operation.
func sqlKind(op string, status int, code, msg string) error {
	notFoundCode := code == "RESOURCE_DOES_NOT_EXIST" || code == "NOT_FOUND"
	if status == http.StatusNotFound && !notFoundCode && (code == "ENDPOINT_NOT_FOUND" || code == "UNKNOWN" || code == "") {
		return ErrUpstream // a wrong host or API path, as for the jobs calls
	}
	notFound := status == http.StatusNotFound || notFoundCode
	switch op {
	case OpExecuteStatement:
		switch {
		case warehouseNotExistRe.MatchString(msg):
			return ErrWarehouseNotFound
		case notFound && !otherObjectRe.MatchString(msg):
			return ErrWarehouseNotFound
		}
	case OpStatementChunk, OpGetStatement, OpCancelStatement:
		switch {
		case op == OpStatementChunk && chunkRe.MatchString(msg):
			return ErrInvalidRequest
		case notFound, statementNotExistRe.MatchString(msg):
			return ErrStatementNotFound
		}
	case OpListWarehouses:
		if notFound {
			return ErrUpstream // listing has nothing that can be missing
		}
	}
	return ErrInvalidRequest
}

func notFoundFor(op string) error {
	switch op {
	case OpRunNow, OpListJobs, OpListRuns:
		return ErrJobNotFound
	default:
		return ErrRunNotFound
	}
}

var (
	htmlTitleRe = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	htmlH1Re    = regexp.MustCompile(`(?is)<h1[^>]*>(.*?)</h1>`)
	htmlTagRe   = regexp.MustCompile(`(?s)<[^>]*>`)
)

// plainMessage turns the error page a gateway or load balancer in front of the workspace answers
// with (the SDK passes a page without <pre> through as the message) into one line of text: its
// title and heading. Databricks' own messages are returned unchanged.
func plainMessage(status int, msg string) string {
	trimmed := strings.TrimSpace(msg)
	lower := strings.ToLower(trimmed)
	if !strings.HasPrefix(trimmed, "<") && !strings.Contains(lower, "<html") && !strings.Contains(lower, "<body") {
		return msg
	}
	text := func(re *regexp.Regexp) string {
		m := re.FindStringSubmatch(trimmed)
		if m == nil {
			return ""
		}
		return strings.Join(strings.Fields(htmlTagRe.ReplaceAllString(m[1], " ")), " ")
	}
	parts := []string{}
	for _, p := range []string{text(htmlTitleRe), text(htmlH1Re)} {
		if p != "" && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, strconv.Itoa(status)+" "+http.StatusText(status))
	}
	return "the workspace's gateway answered with an error page: " + strings.Join(parts, ": ")
}

// requestID prefers the RequestInfo error detail Databricks puts in JSON error
// bodies, then the X-Request-Id response header.
func requestID(apiErr *apierr.APIError) string {
	if ri := apiErr.ErrorDetails().RequestInfo; ri != nil && ri.RequestID != "" {
		return ri.RequestID
	}
	if h := responseHeader(apiErr); h != nil {
		return h.Get("X-Request-Id")
	}
	return ""
}

// retryAfter reads Retry-After (seconds or HTTP date), then the RetryInfo
// detail, else DefaultRetryAfter. The SDK ignores both while retrying
// (docs/architecture.md, databricks-sdk-go); we only pass them on to the caller.
func retryAfter(apiErr *apierr.APIError) time.Duration {
	if h := responseHeader(apiErr); h != nil {
		if d, ok := retryafter.Parse(h.Get("Retry-After"), time.Now(), time.Second, maxRetryAfter); ok {
			return d
		}
	}
	if ri := apiErr.ErrorDetails().RetryInfo; ri != nil && ri.RetryDelay > 0 {
		return min(max(ri.RetryDelay, time.Second), maxRetryAfter)
	}
	return DefaultRetryAfter
}

// responseHeader reads the headers of the failed response. ResponseWrapper is
// marked experimental by the SDK, hence the nil checks; only the response
// headers are read, never the request (which holds Authorization).
func responseHeader(apiErr *apierr.APIError) http.Header {
	rw := apiErr.ResponseWrapper
	if rw == nil || rw.Response == nil {
		return nil
	}
	return rw.Response.Header
}

func isTransportError(err error) bool {
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &urlErr) || errors.As(err, &netErr)
}

// transportDetail says what went wrong on the way to the workspace in terms
// the caller can act on, without the addresses the underlying error names
// ("dial tcp 10.1.2.3:443: …" reveals the deployment's network); the full
// text goes to Error.internal, which is logged.
func transportDetail(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	why := "network error"
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		why = "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		why = "connection reset"
	case errors.As(err, &dnsErr):
		why = "the workspace host name could not be resolved"
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr):
		why = "the workspace's TLS certificate is not trusted"
	case errors.As(err, &recordErr):
		why = "TLS handshake failed"
	case errors.As(err, &netErr) && netErr.Timeout(), strings.Contains(err.Error(), "timed out"):
		// The last case is the SDK's own inactivity timeout ("request timed
		// out after 30s of inactivity"), a plain error inside the *url.Error.
		why = "timed out"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		why = "no route to the workspace"
	}
	return "cannot reach Databricks: " + why
}
