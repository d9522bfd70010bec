package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
	"github.com/flowbricks/flowbricks/internal/redact"
)

// problem is an RFC 9457 problem document with flowbricks' stable code. Detail is written for
// the person fixing the flow; it may carry Databricks' or Entra's own explanation, never a token.
type problem struct {
	Type      string `json:"type" doc:"A URL documenting the problem."`
	Title     string `json:"title" doc:"The HTTP status text."`
	Status    int    `json:"status" doc:"The HTTP status code."`
	Detail    string `json:"detail" doc:"What went wrong and what to do, for the person fixing the flow."`
	Code      string `json:"code" doc:"flowbricks' stable error code (for example invalid_request, forbidden, run_failed)."`
	RequestID string `json:"request_id" doc:"Identifies the request in flowbricks' logs."`

	retryAfter      time.Duration
	wwwAuthenticate string
	cause           error // logged, never sent
}

func (p *problem) Error() string { return p.Code + ": " + p.Detail }

// failure is the problem part of a 424 answer in wait mode (failedRun, failedStatement): the
// fields of a problem document beside the status, which a flow's "Configure run after" branch can
// test.
type failure struct {
	Code      string `json:"code" doc:"flowbricks' stable error code: run_failed for a run, statement_failed for a statement."`
	Title     string `json:"title" doc:"The HTTP status text."`
	Status    int    `json:"status" doc:"The HTTP status code."`
	Detail    string `json:"detail" doc:"What went wrong, with Databricks' message."`
	RequestID string `json:"request_id" doc:"Identifies the request in flowbricks' logs."`
}

// failedDependency is the failure of a 424 answer with code and detail.
func failedDependency(r *http.Request, code, detail string) failure {
	return failure{Code: code, Title: http.StatusText(http.StatusFailedDependency), Status: http.StatusFailedDependency,
		Detail: detail, RequestID: requestID(r)}
}

func newProblem(status int, code, detail string) *problem {
	return &problem{Status: status, Code: code, Title: http.StatusText(status), Detail: detail}
}

func invalidRequest(format string, args ...any) *problem {
	return newProblem(http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...))
}

// problemFor turns any error into the problem the caller sees. It is the one place where
// errors from Entra ID, Databricks and request decoding are classified.
func problemFor(err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	p = classify(err)
	p.cause = err
	return p
}

func classify(err error) *problem {
	var invalid *entra.InvalidTokenError
	var forbidden *entra.ForbiddenError
	var exchange *entra.ExchangeError
	var dbx *databricks.Error
	switch {
	case errors.As(err, &exchange): // first: an exchange error also matches ErrInvalidToken/ErrUnavailable
		return exchangeProblem(exchange)
	case errors.Is(err, entra.ErrNoCredentials):
		p := newProblem(http.StatusUnauthorized, "unauthenticated",
			"Send an Entra ID access token for the flowbricks API in the Authorization header (Bearer).")
		p.wwwAuthenticate = `Bearer`
		return p
	case errors.As(err, &invalid):
		p := newProblem(http.StatusUnauthorized, "unauthenticated", "The access token was rejected: "+invalid.Reason+".")
		p.wwwAuthenticate = `Bearer error="invalid_token", error_description="` + quoteSafe(invalid.Reason) + `"`
		return p
	case errors.As(err, &forbidden) && forbidden.Code == entra.CodeInsufficientScope:
		// 401 rather than RFC 6750's 403: the caller must get a token with the scope, i.e.
		// authenticate again, and flows treat 401 as "fix the connection".
		p := newProblem(http.StatusUnauthorized, "unauthenticated", "The access token was rejected: "+forbidden.Reason+".")
		p.wwwAuthenticate = `Bearer error="insufficient_scope", error_description="` + quoteSafe(forbidden.Reason) + `"`
		return p
	case errors.As(err, &forbidden):
		return newProblem(http.StatusForbidden, forbidden.Code, forbidden.Reason)
	case errors.Is(err, entra.ErrUnavailable):
		p := newProblem(http.StatusServiceUnavailable, "upstream_unavailable",
			"Microsoft Entra ID could not be reached to check the token; try again shortly.")
		p.retryAfter = 10 * time.Second
		return p
	case errors.As(err, &dbx):
		return databricksProblem(dbx)
	}
	return newProblem(http.StatusInternalServerError, "internal_error", "flowbricks failed unexpectedly; the request id identifies the log entry.")
}

func exchangeProblem(e *entra.ExchangeError) *problem {
	detail := e.Description
	switch e.Kind {
	case entra.ConsentRequired:
		return newProblem(http.StatusForbidden, "consent_required",
			"The flowbricks API has no consent to call Azure Databricks for this user (delegated permission "+
				"AzureDatabricks user_impersonation). A tenant administrator must grant admin consent to the flowbricks API "+
				"app registration. Entra ID said: "+detail)
	case entra.InteractionRequired:
		p := newProblem(http.StatusUnauthorized, "interaction_required",
			"Entra ID requires the user to sign in again (for example multi-factor authentication or a Conditional Access "+
				"policy for Azure Databricks). Re-authenticate the connection with the claims challenge in WWW-Authenticate. "+
				"Entra ID said: "+detail)
		p.wwwAuthenticate = `Bearer error="insufficient_claims", error_description="interaction required"`
		if e.Claims != "" {
			p.wwwAuthenticate += `, claims="` + base64.StdEncoding.EncodeToString([]byte(e.Claims)) + `"`
		}
		return p
	case entra.InvalidAssertion:
		p := newProblem(http.StatusUnauthorized, "unauthenticated",
			"Entra ID refused to exchange the access token (expired or revoked); get a new token. Entra ID said: "+detail)
		p.wwwAuthenticate = `Bearer error="invalid_token", error_description="token exchange refused"`
		return p
	case entra.Unavailable:
		p := newProblem(http.StatusServiceUnavailable, "upstream_unavailable",
			"Microsoft Entra ID is not answering; try again shortly. "+detail)
		p.retryAfter = max(e.RetryAfter, 5*time.Second)
		return p
	case entra.Throttled:
		// The same code as Databricks' rate limit: for a flow both mean "retry after Retry-After".
		p := newProblem(http.StatusTooManyRequests, "throttled",
			"Too many different access tokens from this caller in a short time: flowbricks exchanges at most a few a "+
				"minute per user or application. Retry after Retry-After; reuse one token per connection. "+detail)
		p.retryAfter = max(e.RetryAfter, time.Second)
		return p
	default: // Misconfigured and anything unexpected: the operator must act, not the caller.
		return newProblem(http.StatusInternalServerError, "misconfigured",
			"flowbricks' own credential towards Entra ID was refused; an administrator must check the app registration "+
				"and its credential (see the troubleshooting guide). Entra ID said: "+detail)
	}
}

func databricksProblem(e *databricks.Error) *problem {
	switch {
	case errors.Is(e, databricks.ErrJobNotFound):
		return newProblem(http.StatusNotFound, "job_not_found", orDefault(e.Detail, "The job does not exist in the workspace."))
	case errors.Is(e, databricks.ErrRunNotFound):
		return newProblem(http.StatusNotFound, "run_not_found", orDefault(e.Detail, "The run does not exist in the workspace."))
	case errors.Is(e, databricks.ErrStatementNotFound):
		return newProblem(http.StatusNotFound, "statement_not_found", orDefault(e.Detail, "The statement does not exist in the workspace (or its result has expired)."))
	case errors.Is(e, databricks.ErrWarehouseNotFound):
		return newProblem(http.StatusNotFound, "warehouse_not_found", orDefault(e.Detail, "The SQL warehouse does not exist in the workspace."))
	case errors.Is(e, databricks.ErrRepairConflict):
		return newProblem(http.StatusConflict, "repair_conflict",
			"The run was repaired by another request since flowbricks read it (Databricks said: "+orDefault(e.Detail, "not the latest repair")+
				"). Read the run's status; repair again if it still has failed tasks.")
	case errors.Is(e, databricks.ErrPermissionDenied) && isSQLOp(e.Op):
		return newProblem(http.StatusForbidden, "forbidden",
			"Databricks refused the request for this user: "+e.Detail+
				" (a warehouse owner or workspace admin grants CAN_USE on the SQL warehouse; table access is Unity Catalog's grants).")
	case errors.Is(e, databricks.ErrPermissionDenied):
		return newProblem(http.StatusForbidden, "forbidden",
			"Databricks refused the request for this user: "+e.Detail+
				" (a job owner or workspace admin grants CAN_VIEW to read runs and CAN_MANAGE_RUN to trigger, cancel or repair them).")
	case errors.Is(e, databricks.ErrNotInWorkspace):
		return newProblem(http.StatusForbidden, "not_in_workspace",
			"The signed-in user is not a member of the Databricks workspace (Databricks answered: "+
				orDefault(e.Detail, "User not authorized")+"). A workspace admin must add the user, or a group the user is in.")
	case errors.Is(e, databricks.ErrThrottled):
		p := newProblem(http.StatusTooManyRequests, "throttled", "Databricks is rate-limiting requests; retry later. "+e.Detail)
		p.retryAfter = max(e.RetryAfter, 5*time.Second)
		return p
	case errors.Is(e, databricks.ErrUnavailable):
		p := newProblem(http.StatusServiceUnavailable, "upstream_unavailable", "Databricks did not answer in time; retry later. "+e.Detail)
		p.retryAfter = max(e.RetryAfter, 5*time.Second)
		return p
	case errors.Is(e, databricks.ErrInvalidRequest):
		return newProblem(http.StatusBadRequest, "invalid_request", "Databricks rejected the request: "+e.Detail)
	case errors.Is(e, databricks.ErrTokenRejected):
		// 502, not 401: the caller's own token was valid and flowbricks already exchanged it again
		// once; signing in again would not change what Databricks refuses.
		return newProblem(http.StatusBadGateway, "databricks_token_rejected",
			"Databricks rejected the token flowbricks obtained for this caller, also a newly obtained one (Databricks said: "+
				orDefault(e.Detail, "Unauthorized")+"). Check that the workspace is in the flowbricks API's tenant, that the API "+
				"has the AzureDatabricks user_impersonation permission, and the clocks.")
	default:
		return newProblem(http.StatusBadGateway, "upstream_error", "Databricks failed: "+orDefault(e.Detail, "no detail"))
	}
}

// isSQLOp reports whether op is a call of the Statement Execution or SQL warehouses API.
func isSQLOp(op string) bool {
	switch op {
	case databricks.OpExecuteStatement, databricks.OpGetStatement, databricks.OpStatementChunk,
		databricks.OpCancelStatement, databricks.OpListWarehouses:
		return true
	}
	return false
}

// writeProblem sends p and logs it with its hidden cause. 5xx are logged as errors, the rest as
// warnings; both carry the request id the caller sees.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	p.RequestID = requestID(r)
	if p.RequestID == "" {
		// Outside the request-id middleware (the panic handler wraps it), the id is only in the
		// answer's X-Request-Id header, which the middleware set on the way in.
		p.RequestID = w.Header().Get("X-Request-Id")
	}
	// Details quote the request where that helps (a field name, a path, a workspace name); a
	// token pasted into one of those must not come back in the answer or go into the log. The
	// quoted parts went through redact.Value already; this pass also covers upstream texts.
	p.Detail = boundDetail(redact.Text(p.Detail))
	if p.Type == "" {
		p.Type = "https://github.com/flowbricks/flowbricks/blob/main/docs/troubleshooting.md#" + p.Code
	}
	level := zerolog.WarnLevel
	if p.Status >= 500 {
		level = zerolog.ErrorLevel
	}
	ev := hlog.FromRequest(r).WithLevel(level).Str("code", p.Code).Int("status", p.Status)
	if p.cause != nil {
		ev = ev.AnErr("cause", p.cause)
	}
	ev.Msg(p.Detail)

	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(p.retryAfter.Round(time.Second)/time.Second)))
	}
	if p.wwwAuthenticate != "" {
		w.Header().Set("WWW-Authenticate", p.wwwAuthenticate)
	}
	encode(w, r, p.Status, "application/problem+json", p)
}

// maxDetail bounds a problem's detail: our own text plus Entra's or Databricks' message fits with
// room to spare; a detail quoting a huge request part does not.
const maxDetail = 2000

// boundDetail makes s valid UTF-8 before measuring it: the JSON encoder would otherwise turn each
// invalid byte of a quoted path into a three-byte U+FFFD and lift the detail past the bound.
func boundDetail(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxDetail {
		return s
	}
	return strings.ToValidUTF8(s[:maxDetail], "") + "…"
}

func quoteSafe(s string) string {
	return strings.NewReplacer(`"`, "'", `\`, "/", "\r", " ", "\n", " ").Replace(s)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
