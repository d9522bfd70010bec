package databricks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const jettyForbidden = `<html>
<head>
<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
<title>Error 403 User not authorized.</title>
</head>
<body><h2>HTTP ERROR 403</h2>
<p>Problem accessing /api/2.2/jobs/runs/get. Reason:
<pre>    User not authorized.</pre></p>
</body>
</html>`

// jettyPage is the page Azure Databricks' Jetty front end answers with; reason is what it puts in
// the title and in <pre> (see the captured pages cited on tokenRejectedRe).
func jettyPage(status int, reason string) string {
	return fmt.Sprintf(`<html>
<head>
<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
<title>Error %d %s</title>
</head>
<body><h2>HTTP ERROR %d</h2>
<p>Problem accessing /api/2.2/jobs/runs/get. Reason:
<pre>    %s</pre></p>
</body>
</html>`, status, reason, status, reason)
}

const gatewayHTML = `<html><body><h1>Bad Gateway</h1></body></html>`

var allKinds = []error{ErrJobNotFound, ErrRunNotFound, ErrStatementNotFound, ErrWarehouseNotFound, ErrPermissionDenied,
	ErrRepairConflict, ErrNotInWorkspace, ErrTokenRejected, ErrThrottled, ErrUnavailable, ErrUpstream, ErrInvalidRequest, ErrNoToken}

// callOp runs one operation against run/job id 42.
func callOp(ctx context.Context, c *Client, op string) error {
	switch op {
	case OpRunNow:
		_, err := c.RunNow(ctx, RunNowRequest{JobID: 42, IdempotencyToken: "fb-1"})
		return err
	case OpGetRun:
		_, err := c.GetRun(ctx, 42)
		return err
	case OpGetOutput:
		_, err := c.TaskOutput(ctx, 42)
		return err
	case OpCancelRun:
		return c.CancelRun(ctx, 42)
	case OpListJobs:
		_, err := c.ListJobs(ctx, "x", 10)
		return err
	case OpListRuns:
		_, err := c.ListRuns(ctx, ListRunsRequest{JobID: 42, CompletedOnly: true})
		return err
	case OpRepairRun:
		_, err := c.RepairRun(ctx, RepairRequest{RunID: 42, RerunAllFailedTasks: true, LatestRepairID: 7})
		return err
	case OpExecuteStatement:
		_, err := c.ExecuteStatement(ctx, StatementRequest{WarehouseID: "5f3c0a1b2c3d4e5f", Statement: "SELECT 42"})
		return err
	case OpGetStatement:
		_, err := c.GetStatement(ctx, "01f0c2a4-42")
		return err
	case OpStatementChunk:
		_, err := c.StatementChunk(ctx, "01f0c2a4-42", 4)
		return err
	case OpCancelStatement:
		return c.CancelStatement(ctx, "01f0c2a4-42")
	case OpListWarehouses:
		_, err := c.ListWarehouses(ctx)
		return err
	}
	panic("unknown op " + op)
}

// TestErrorMapping is the reference for how Databricks' answers become
// flowbricks errors (docs/architecture.md, databricks-sdk-go).
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	const token = "user-token-abc123"
	type resp struct {
		status  int
		header  map[string]string
		body    string
		isHTML  bool
		isPlain bool
	}
	tests := []struct {
		name         string
		op           string
		resp         resp
		deadline     time.Duration // caller deadline, for answers the SDK retries
		wantKind     error
		wantDetail   string
		wantReqID    string
		wantRetry    time.Duration
		wantAttempts int // 0 = don't check
	}{
		{
			name: "run-now: 400 job does not exist (the SDK does not map it)", op: OpRunNow,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Job 42 does not exist."}`},
			wantKind: ErrJobNotFound, wantDetail: "Job 42 does not exist.", wantAttempts: 1,
		},
		{
			name: "get-run: 400 run does not exist (the SDK maps it to not found)", op: OpGetRun,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Run 42 does not exist."}`},
			wantKind: ErrRunNotFound, wantDetail: "Run 42 does not exist.",
		},
		{
			name: "get-output: 400 run does not exist", op: OpGetOutput,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Run 42 does not exist."}`},
			wantKind: ErrRunNotFound, wantDetail: "Run 42 does not exist.",
		},
		{
			name: "get-run: the other 'doesn't exist' wording", op: OpGetRun,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Run: 42 in job: 7 doesn't exist"}`},
			wantKind: ErrRunNotFound, wantDetail: "Run: 42 in job: 7 doesn't exist",
		},
		{
			name: "cancel-run (POST, no SDK override): 400 run does not exist", op: OpCancelRun,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Run 42 does not exist."}`},
			wantKind: ErrRunNotFound, wantDetail: "Run 42 does not exist.",
		},
		{
			name: "get-run: 404 RESOURCE_DOES_NOT_EXIST", op: OpGetRun,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"No such run"}`},
			wantKind: ErrRunNotFound, wantDetail: "No such run",
		},
		{
			name: "run-now: 404 RESOURCE_DOES_NOT_EXIST", op: OpRunNow,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"No such job"}`},
			wantKind: ErrJobNotFound, wantDetail: "No such job",
		},
		{
			name: "404 ENDPOINT_NOT_FOUND is a wrong host or path, not a missing run", op: OpGetRun,
			resp:     resp{status: 404, body: `{"error_code":"ENDPOINT_NOT_FOUND","message":"No API found for 'GET /jobs/runs/get'"}`},
			wantKind: ErrUpstream, wantDetail: "No API found for 'GET /jobs/runs/get'",
		},
		{
			name: "403 PERMISSION_DENIED: Databricks' text in Detail, request id from RequestInfo", op: OpRunNow,
			resp: resp{status: 403, body: `{"error_code":"PERMISSION_DENIED","message":"User alice@contoso.com does not have Manage Run or Owner or Admin permissions on job 42",
				"details":[{"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"req-123","serving_data":""}]}`},
			wantKind: ErrPermissionDenied, wantDetail: "User alice@contoso.com does not have Manage Run or Owner or Admin permissions on job 42", wantReqID: "req-123",
		},
		{
			name: "403 Jetty HTML 'User not authorized': the principal is not in the workspace", op: OpGetRun,
			resp:     resp{status: 403, body: jettyForbidden, isHTML: true},
			wantKind: ErrNotInWorkspace, wantDetail: "User not authorized",
		},
		{
			name: "401: token rejected; request id from X-Request-Id", op: OpGetRun,
			resp:     resp{status: 401, header: map[string]string{"X-Request-Id": "hdr-9"}, body: `{"error_code":"UNAUTHENTICATED","message":"Invalid access token."}`},
			wantKind: ErrTokenRejected, wantDetail: "Invalid access token.", wantReqID: "hdr-9",
		},
		// The answers with which Azure Databricks has refused tokens (the captured answers are
		// cited on tokenRejectedRe).
		{
			name: "403 JSON with a numeric error_code 'JWT has expired': token rejected, not 'not in workspace'", op: OpGetRun,
			resp:     resp{status: 403, header: map[string]string{"X-Databricks-Reason-Phrase": "JWT has expired"}, body: `{"error_code":403,"message":"JWT has expired"}`},
			wantKind: ErrTokenRejected, wantDetail: "JWT has expired", wantAttempts: 1,
		},
		{
			name: "403 Jetty 'Token is expiring within 30 seconds. (token expired)': token rejected", op: OpRunNow,
			resp:     resp{status: 403, body: jettyPage(403, "Token is expiring within 30 seconds. (token expired)"), isHTML: true},
			wantKind: ErrTokenRejected, wantDetail: "Token is expiring within 30 seconds. (token expired)", wantAttempts: 1,
		},
		{
			name: "403 Jetty 'Invalid access token.': token rejected", op: OpListJobs,
			resp:     resp{status: 403, body: jettyPage(403, "Invalid access token."), isHTML: true},
			wantKind: ErrTokenRejected, wantDetail: "Invalid access token",
		},
		{
			name: "400 ExpiredJwtException: token rejected, not an invalid request", op: OpCancelRun,
			resp:     resp{status: 400, body: `{"error_code":"400","message":"Error while parsing token: io.jsonwebtoken.ExpiredJwtException: JWT expired at 2023-03-02T21:43:10Z. Current time: 2023-07-27T15:45:29Z, a difference of 12679339053 milliseconds.  Allowed clock skew: 0 milliseconds"}`},
			wantKind: ErrTokenRejected,
		},
		{
			name: "400 Jetty IncorrectClaimException (a token for another audience): token rejected", op: OpGetRun,
			resp:     resp{status: 400, body: jettyPage(400, "io.jsonwebtoken.IncorrectClaimException: Expected aud claim to be: 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d, but was: https://management.core.windows.net/."), isHTML: true},
			wantKind: ErrTokenRejected,
		},
		{
			name: "401 with a numeric error_code 'Token is expired'", op: OpGetOutput,
			resp:     resp{status: 401, body: `{"error_code":401,"message":"Token is expired"}`},
			wantKind: ErrTokenRejected, wantDetail: "Token is expired", wantAttempts: 1,
		},
		{
			name: "403 PERMISSION_DENIED that mentions a token is still a permission problem", op: OpRunNow,
			resp:     resp{status: 403, body: `{"error_code":"PERMISSION_DENIED","message":"User alice@contoso.com does not have permission to create a token"}`},
			wantKind: ErrPermissionDenied,
		},
		{
			name: "400 that is not about the token stays an invalid request", op: OpRunNow,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"idempotency_token must be at most 64 characters"}`},
			wantKind: ErrInvalidRequest,
		},
		{
			name: "401 echoing the token: the token is scrubbed from Detail", op: OpGetRun,
			resp:     resp{status: 401, body: `{"error_code":"UNAUTHENTICATED","message":"Invalid access token: ` + token + `"}`},
			wantKind: ErrTokenRejected, wantDetail: "Invalid access token: [REDACTED]",
		},
		{
			name: "429 until the deadline: throttled, Retry-After passed on", op: OpRunNow, deadline: 300 * time.Millisecond,
			resp:     resp{status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"Too many requests"}`},
			wantKind: ErrThrottled, wantDetail: "Too many requests", wantRetry: 7 * time.Second,
		},
		{
			name: "429 with RetryInfo detail", op: OpGetRun, deadline: 300 * time.Millisecond,
			resp: resp{status: 429, body: `{"error_code":"RESOURCE_EXHAUSTED","message":"slow down",
				"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retry_delay":"3s"}]}`},
			wantKind: ErrThrottled, wantDetail: "slow down", wantRetry: 3 * time.Second,
		},
		{
			name: "429 without a hint: DefaultRetryAfter", op: OpListJobs, deadline: 300 * time.Millisecond,
			resp:     resp{status: 429, body: `{"error_code":"TOO_MANY_REQUESTS","message":"Too many requests"}`},
			wantKind: ErrThrottled, wantDetail: "Too many requests", wantRetry: DefaultRetryAfter,
		},
		{
			name: "503 gateway page until the deadline: unavailable", op: OpGetRun, deadline: 300 * time.Millisecond,
			resp:     resp{status: 503, header: map[string]string{"Retry-After": "5"}, body: "No webapps are available to handle your request. Please try again later.", isPlain: true},
			wantKind: ErrUnavailable, wantRetry: 5 * time.Second,
		},
		{
			name: "500 INTERNAL_ERROR: upstream, not retried", op: OpGetRun,
			resp:     resp{status: 500, body: `{"error_code":"INTERNAL_ERROR","message":"Something broke"}`},
			wantKind: ErrUpstream, wantDetail: "Something broke", wantAttempts: 1,
		},
		{
			name: "502 HTML (parses as UNKNOWN): upstream by status code", op: OpRunNow,
			resp:     resp{status: 502, body: gatewayHTML, isHTML: true},
			wantKind: ErrUpstream, wantAttempts: 1,
		},
		{
			name: "504 plain text: upstream by status code", op: OpGetOutput,
			resp:     resp{status: 504, body: "upstream request timeout", isPlain: true},
			wantKind: ErrUpstream, wantDetail: "upstream request timeout", wantAttempts: 1,
		},
		{
			name: "other 400: invalid request with Databricks' reason", op: OpGetOutput,
			resp:       resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead."}`},
			wantKind:   ErrInvalidRequest,
			wantDetail: "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.",
		},
		{
			name: "400 INVALID_STATE: invalid request", op: OpCancelRun,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_STATE","message":"Run 42 is already terminated"}`},
			wantKind: ErrInvalidRequest, wantDetail: "Run 42 is already terminated",
		},
		// The Statement Execution API (docs/architecture.md, Databricks SQL Statement Execution API).
		{
			name: "get-statement: 404 for a statement removed 12 hours after it ended", op: OpGetStatement,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Statement 01f0c2a4-42 not found"}`},
			wantKind: ErrStatementNotFound, wantDetail: "Statement 01f0c2a4-42 not found", wantAttempts: 1,
		},
		{
			name: "get-statement: 404 NOT_FOUND", op: OpGetStatement,
			resp:     resp{status: 404, body: `{"error_code":"NOT_FOUND","message":"The statement was not found"}`},
			wantKind: ErrStatementNotFound,
		},
		{
			name: "get-statement: 400 whose message says the statement does not exist", op: OpGetStatement,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Statement 01f0c2a4-42 does not exist"}`},
			wantKind: ErrStatementNotFound,
		},
		{
			name: "get-statement: 400 about something else is an invalid request", op: OpGetStatement,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Invalid statement id"}`},
			wantKind: ErrInvalidRequest,
		},
		{
			name: "get-statement: another user's statement, 403 PERMISSION_DENIED", op: OpGetStatement,
			resp:     resp{status: 403, body: `{"error_code":"PERMISSION_DENIED","message":"User is not the owner of statement 01f0c2a4-42"}`},
			wantKind: ErrPermissionDenied, wantDetail: "User is not the owner of statement 01f0c2a4-42",
		},
		{
			name: "get-statement: another user's statement, 404", op: OpGetStatement,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Statement 01f0c2a4-42 does not exist"}`},
			wantKind: ErrStatementNotFound,
		},
		{
			name: "get-statement: a 404 without an error code is a wrong host or path", op: OpGetStatement,
			resp:     resp{status: 404, body: gatewayHTML, isHTML: true},
			wantKind: ErrUpstream,
		},
		{
			name: "get-statement: 404 ENDPOINT_NOT_FOUND is a wrong host or path", op: OpGetStatement,
			resp:     resp{status: 404, body: `{"error_code":"ENDPOINT_NOT_FOUND","message":"No API found for 'GET /sql/statements/x'"}`},
			wantKind: ErrUpstream,
		},
		{
			name: "cancel-statement: 404 for an unknown statement", op: OpCancelStatement,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Statement 01f0c2a4-42 does not exist"}`},
			wantKind: ErrStatementNotFound,
		},
		{
			name: "cancel-statement: 400 for a finished statement (if it ever comes) is an invalid request", op: OpCancelStatement,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_STATE","message":"The statement has already finished"}`},
			wantKind: ErrInvalidRequest,
		},
		{
			name: "get-statement-chunk: a chunk index out of range is an invalid request", op: OpStatementChunk,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Chunk index 4 is out of range: the result has 3 chunks"}`},
			wantKind: ErrInvalidRequest,
		},
		{
			name: "get-statement-chunk: also when it comes as a 404", op: OpStatementChunk,
			resp:     resp{status: 404, body: `{"error_code":"NOT_FOUND","message":"Result chunk 4 not found"}`},
			wantKind: ErrInvalidRequest,
		},
		{
			name: "get-statement-chunk: 404 for a statement that is gone", op: OpStatementChunk,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Statement 01f0c2a4-42 not found"}`},
			wantKind: ErrStatementNotFound,
		},
		{
			name: "execute-statement: 404 for an unknown warehouse", op: OpExecuteStatement,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"The warehouse 5f3c0a1b2c3d4e5f was not found."}`},
			wantKind: ErrWarehouseNotFound, wantDetail: "The warehouse 5f3c0a1b2c3d4e5f was not found.", wantAttempts: 1,
		},
		{
			name: "execute-statement: 400 'is not a valid endpoint id'", op: OpExecuteStatement,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"5f3c0a1b2c3d4e5f is not a valid endpoint id."}`},
			wantKind: ErrWarehouseNotFound,
		},
		{
			name: "execute-statement: a missing catalog is not a missing warehouse", op: OpExecuteStatement,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Catalog 'nope' does not exist."}`},
			wantKind: ErrInvalidRequest,
		},
		{
			name: "execute-statement: no CAN_USE on the warehouse, 403 PERMISSION_DENIED", op: OpExecuteStatement,
			resp:     resp{status: 403, body: `{"error_code":"PERMISSION_DENIED","message":"You do not have permission to use the SQL warehouse 5f3c0a1b2c3d4e5f."}`},
			wantKind: ErrPermissionDenied,
		},
		{
			name: "execute-statement: the caller is not in the workspace (Jetty 403)", op: OpExecuteStatement,
			resp:     resp{status: 403, body: jettyForbidden, isHTML: true},
			wantKind: ErrNotInWorkspace, wantAttempts: 1,
		},
		{
			name: "execute-statement: another 400 is an invalid request with Databricks' reason", op: OpExecuteStatement,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"wait_timeout must be 0 or between 5 and 50 seconds"}`},
			wantKind: ErrInvalidRequest, wantDetail: "wait_timeout must be 0 or between 5 and 50 seconds",
		},
		{
			name: "execute-statement: 401 echoing the token, scrubbed", op: OpExecuteStatement,
			resp:     resp{status: 401, body: `{"error_code":"UNAUTHENTICATED","message":"Invalid access token: ` + token + `"}`},
			wantKind: ErrTokenRejected, wantDetail: "Invalid access token: [REDACTED]",
		},
		{
			name: "execute-statement: 429 is not retried by the SDK (not idempotent)", op: OpExecuteStatement,
			resp:     resp{status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"Too many requests"}`},
			wantKind: ErrThrottled, wantRetry: 7 * time.Second, wantAttempts: 1,
		},
		{
			name: "execute-statement: 500 upstream", op: OpExecuteStatement,
			resp:     resp{status: 500, body: `{"error_code":"INTERNAL_ERROR","message":"Something broke"}`},
			wantKind: ErrUpstream, wantAttempts: 1,
		},
		{
			name: "list-warehouses: 404 is a wrong host or path, nothing can be missing", op: OpListWarehouses,
			resp:     resp{status: 404, body: `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"gone"}`},
			wantKind: ErrUpstream,
		},
		{
			name: "list-warehouses: 403 PERMISSION_DENIED", op: OpListWarehouses,
			resp:     resp{status: 403, body: `{"error_code":"PERMISSION_DENIED","message":"no"}`},
			wantKind: ErrPermissionDenied,
		},
		// runs/list and runs/repair (docs/architecture.md, Azure Databricks Jobs API 2.2).
		{
			name: "list-runs: 400 job does not exist", op: OpListRuns,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Job 42 does not exist."}`},
			wantKind: ErrJobNotFound, wantDetail: "Job 42 does not exist.",
		},
		{
			name: "repair-run: 400 latest repair id missing: the run was repaired meanwhile", op: OpRepairRun,
			resp:       resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"The latest repair ID needs to be provided in order to create a new repair"}`},
			wantKind:   ErrRepairConflict,
			wantDetail: "The latest repair ID needs to be provided in order to create a new repair", wantAttempts: 1,
		},
		{
			name: "repair-run: 409 latest_repair_id not the latest: the run was repaired meanwhile", op: OpRepairRun,
			resp:     resp{status: 409, body: `{"error_code":"RESOURCE_CONFLICT","message":"latest_repair_id 7 is not the latest repair of run 42"}`},
			wantKind: ErrRepairConflict, wantAttempts: 1,
		},
		{
			name: "repair-run: 400 run still active: invalid request", op: OpRepairRun,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_STATE","message":"Run 42 is still active and cannot be repaired"}`},
			wantKind: ErrInvalidRequest,
		},
		{
			name: "repair-run: 400 run does not exist", op: OpRepairRun,
			resp:     resp{status: 400, body: `{"error_code":"INVALID_PARAMETER_VALUE","message":"Run 42 does not exist."}`},
			wantKind: ErrRunNotFound,
		},
		{
			name: "repair-run: 403 PERMISSION_DENIED (CAN_VIEW only)", op: OpRepairRun,
			resp:     resp{status: 403, body: `{"error_code":"PERMISSION_DENIED","message":"User bob does not have Manage Run or Owner or Admin permissions on job 42"}`},
			wantKind: ErrPermissionDenied,
		},
		{
			name: "200 with a body that is not JSON: upstream", op: OpGetRun,
			resp:     resp{status: 200, body: "<html>login</html>", isHTML: true},
			wantKind: ErrUpstream,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.resp.header {
					w.Header().Set(k, v)
				}
				switch {
				case tt.resp.isHTML:
					w.Header().Set("Content-Type", "text/html")
				case tt.resp.isPlain:
					w.Header().Set("Content-Type", "text/plain")
				default:
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tt.resp.status)
				_, _ = w.Write([]byte(tt.resp.body))
			})
			c := newTestClient(t, u.srv.URL)
			ctx := WithToken(t.Context(), token)
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}

			err := callOp(ctx, c, tt.op)

			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, want *Error", err, err)
			}
			for _, k := range allKinds {
				if got, want := errors.Is(err, k), k == tt.wantKind; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v (err: %v)", k, got, want, err)
				}
			}
			if e.Op != tt.op {
				t.Errorf("Op = %q, want %q", e.Op, tt.op)
			}
			wantStatus := tt.resp.status
			if wantStatus < 400 {
				wantStatus = 0 // not an error answer: no status to report
			}
			if e.StatusCode != wantStatus {
				t.Errorf("StatusCode = %d, want %d", e.StatusCode, wantStatus)
			}
			if tt.wantDetail != "" && e.Detail != tt.wantDetail {
				t.Errorf("Detail = %q, want %q", e.Detail, tt.wantDetail)
			}
			if e.RequestID != tt.wantReqID {
				t.Errorf("RequestID = %q, want %q", e.RequestID, tt.wantReqID)
			}
			if e.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			if tt.wantAttempts > 0 && u.count() != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", u.count(), tt.wantAttempts)
			}
			mustContainNoToken(t, "Error()", err.Error(), token)
			mustContainNoToken(t, "Detail", e.Detail, token)
		})
	}
}

// Failures without an HTTP answer are ErrUnavailable: the caller may retry.
func TestErrorMappingWithoutAnswer(t *testing.T) {
	t.Parallel()
	// An address nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := "http://" + l.Addr().String()
	l.Close()

	// An upstream that accepts the request and never answers.
	release := make(chan struct{})
	hung := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before hung.srv.Close

	canceled, cancel := context.WithCancel(WithToken(t.Context(), "tok"))
	cancel()

	tests := []struct {
		name           string
		host           string
		requestTimeout time.Duration
		ctx            func(t *testing.T) (context.Context, context.CancelFunc)
		wantDetail     string
	}{
		{
			name: "connection refused until the deadline", host: deadAddr, requestTimeout: 10 * time.Second,
			ctx: func(t *testing.T) (context.Context, context.CancelFunc) {
				return context.WithTimeout(WithToken(t.Context(), "tok"), 300*time.Millisecond)
			},
			wantDetail: "connection refused",
		},
		{
			name: "hung upstream: the caller's deadline passes", host: hung.srv.URL, requestTimeout: 10 * time.Second,
			ctx: func(t *testing.T) (context.Context, context.CancelFunc) {
				return context.WithTimeout(WithToken(t.Context(), "tok"), 200*time.Millisecond)
			},
			wantDetail: "deadline",
		},
		{
			name: "hung upstream: Options.RequestTimeout is the deadline when the caller has none", host: hung.srv.URL, requestTimeout: 200 * time.Millisecond,
			ctx: func(t *testing.T) (context.Context, context.CancelFunc) {
				return WithToken(t.Context(), "tok"), func() {}
			},
			wantDetail: "deadline",
		},
		{
			name: "caller already gone", host: hung.srv.URL, requestTimeout: 10 * time.Second,
			ctx: func(t *testing.T) (context.Context, context.CancelFunc) {
				return canceled, func() {}
			},
			wantDetail: "canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.host, func(o *Options) { o.RequestTimeout = tt.requestTimeout })
			ctx, cancel := tt.ctx(t)
			defer cancel()
			_, err := c.GetRun(ctx, 42)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if e.StatusCode != 0 || e.RetryAfter != DefaultRetryAfter {
				t.Errorf("StatusCode = %d, RetryAfter = %v; want 0 and %v", e.StatusCode, e.RetryAfter, DefaultRetryAfter)
			}
			if !strings.Contains(e.Detail, tt.wantDetail) {
				t.Errorf("Detail = %q, want it to mention %q", e.Detail, tt.wantDetail)
			}
		})
	}
}

func TestErrorStringAndUnwrap(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Kind: ErrRunNotFound, Op: OpGetRun, Detail: "Run 42 does not exist.", StatusCode: 400},
			"databricks get-run: run not found: Run 42 does not exist. (HTTP 400)"},
		{&Error{Kind: ErrPermissionDenied, Op: OpRunNow, Detail: "nope", StatusCode: 403, RequestID: "r1"},
			"databricks run-now: permission denied by Databricks: nope (HTTP 403, request id r1)"},
		{&Error{Kind: ErrNoToken, Op: OpListJobs},
			"databricks list-jobs: no Databricks token for the request"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if errors.Unwrap(tt.err) != tt.err.Kind {
			t.Errorf("Unwrap() != Kind for %v", tt.err)
		}
	}
}
