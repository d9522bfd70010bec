package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/entra"
	"github.com/flowbricks/flowbricks/internal/redact"
)

// Workflow headers Logic Apps and Power Automate send with every action request. Which of them
// stay the same when the platform retries an action is in docs/connector.md, "Loops and retries".
const (
	headerWorkflowRunID     = "x-ms-workflow-run-id"
	headerWorkflowOperation = "x-ms-workflow-operation-name"
	headerActionTrackingID  = "x-ms-action-tracking-id"
	headerIdempotencyKey    = "Idempotency-Key"
)

// repetitionHeaders name the loop iteration (For each, Until) an action request belongs to, the
// request-side form of the repeatItemScopeName / repeatItemIndex a loop's action carries in
// Logic Apps' tracking schema. Absent outside loops; harmless to hash when absent.
var repetitionHeaders = []string{
	"x-ms-workflow-repeatitem-scope-name",
	"x-ms-workflow-repeatitem-index",
	"x-ms-workflow-repeatitem-batch-index",
}

// idempotency is the token run-now sends to Databricks for one request, and what the caller sees.
type idempotency struct {
	// upstream is run-now's idempotency_token: always derived from the caller and the job, so that
	// two callers (app callers all act as flowbricks' one Databricks principal) or two jobs never
	// share a run through Databricks' token, whose scope Databricks does not document.
	upstream string
	// shown is the answer's idempotency_token: the caller's own key — as its redact label if it is
	// JWT-shaped, since no token goes into an answer, not even one the caller sent — else upstream.
	shown string
	// key is the caller's key, "" when flowbricks chose the token. It is logged only as a label.
	key string
	// fresh: the token is random, so no earlier run can answer to it.
	fresh bool
}

// idempotencyFor chooses the run-now token so that a retried request never starts a second run
// (docs/connector.md, "How polling and retries work with flowbricks"). The basis is the body's
// idempotency_token, else the Idempotency-Key header, else the workflow headers, else a random
// value (which still makes the Databricks SDK's own retries of this one request safe). Every
// token is a hash of its basis, the caller, the job and — for keys and workflow headers — the
// request as Databricks receives it: a key reused for other parameters is another run, never an
// answer with a run that ignored them (docs/connector.md, "Idempotency keys").
func idempotencyFor(r *http.Request, caller entra.Principal, jobID int64, req runNowRequest) (idempotency, error) {
	scope := []string{callerScope(caller), strconv.FormatInt(jobID, 10)}
	canonical, _ := json.Marshal(req.upstream(jobID, "")) // struct fields in order, map keys sorted: deterministic
	key := req.IdempotencyToken
	var workflow []string
	if key == "" {
		var err error
		if key, workflow, err = retryBasis(r); err != nil {
			return idempotency{}, err
		}
	}
	if key != "" {
		t := deriveToken("ik", append(scope, key, string(canonical))...)
		return idempotency{upstream: t, shown: redact.Value(key), key: key}, nil
	}
	if workflow != nil {
		t := deriveToken("wf", append(append(scope, workflow...), string(canonical))...)
		return idempotency{upstream: t, shown: t}, nil
	}
	var random [16]byte
	_, _ = rand.Read(random[:]) // crypto/rand.Read never fails on Linux
	t := deriveToken("rq", append(scope, hex.EncodeToString(random[:]))...)
	return idempotency{upstream: t, shown: t, fresh: true}, nil
}

// retryBasis is what the requests of one action and its retries share: the caller's
// Idempotency-Key header, else the workflow headers (run, action, tracking id and loop iteration;
// docs/connector.md, "Loops and retries"), else neither (a request of its own).
func retryBasis(r *http.Request) (key string, workflow []string, err error) {
	key = strings.TrimSpace(r.Header.Get(headerIdempotencyKey))
	if len(key) > databricks.MaxIdempotencyToken {
		return "", nil, invalidRequest("Header Idempotency-Key is longer than %d characters.", databricks.MaxIdempotencyToken)
	}
	if key != "" {
		return key, nil, nil
	}
	run, op := r.Header.Get(headerWorkflowRunID), r.Header.Get(headerWorkflowOperation)
	if run == "" || op == "" {
		return "", nil, nil
	}
	workflow = []string{run, op, r.Header.Get(headerActionTrackingID)}
	for _, h := range repetitionHeaders {
		workflow = append(workflow, r.Header.Get(h))
	}
	return "", workflow, nil
}

// retryKey is a request's key in a retry memory (retrymemory.go; "" = none) and the label the
// audit line shows for the caller's Idempotency-Key.
type retryKey struct {
	token string
	label string
}

// retryKeyFor derives the retry-memory key of a request that Databricks has no idempotency token
// for (a statement, a repair) from the caller, what the request asks of Databricks (parts), and
// what ties one action's retries together: the Idempotency-Key header, else the workflow headers
// (retryBasis). A request with neither has no key: nothing tells its retries from new requests.
func retryKeyFor(r *http.Request, kind string, parts ...string) (retryKey, error) {
	key, workflow, err := retryBasis(r)
	if err != nil || (key == "" && workflow == nil) {
		return retryKey{}, err
	}
	parts = append([]string{callerScope(principalFrom(r.Context()))}, parts...)
	if key != "" {
		return retryKey{token: deriveToken(kind, append(parts, "ik", key)...), label: redact.Label(key)}, nil
	}
	return retryKey{token: deriveToken(kind, append(append(parts, "wf"), workflow...)...)}, nil
}

// callerScope names the caller for token derivation: a user by tenant and object id, an app by
// tenant and application id — not by the Databricks principal, which every app caller shares
// (docs/connector.md, "Idempotency keys").
func callerScope(p entra.Principal) string {
	if p.Kind == entra.App {
		return "app:" + p.TenantID + "/" + p.AppID
	}
	return "user:" + p.TenantID + "/" + p.ObjectID
}

// deriveToken hashes parts, each length-prefixed so that no two lists of parts hash alike, into
// "fb-<kind>-" and 48 hex digits: 54 characters, within Databricks' 64.
func deriveToken(kind string, parts ...string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write([]byte(p))
	}
	return "fb-" + kind + "-" + hex.EncodeToString(h.Sum(nil))[:48]
}
