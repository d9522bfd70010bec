package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// Workflow headers Logic Apps and Power Automate send with every action request. The run id and
// the action (operation) name stay the same when the platform retries an action; the client
// request id changes per attempt, so it is deliberately not used.
const (
	headerWorkflowRunID     = "x-ms-workflow-run-id"
	headerWorkflowOperation = "x-ms-workflow-operation-name"
	headerActionTrackingID  = "x-ms-action-tracking-id"
	headerIdempotencyKey    = "Idempotency-Key"
)

// idempotencyToken chooses the token sent with run-now so that a retried request never starts a
// second run (design §3): the body's token, else the Idempotency-Key header, else one derived
// from the workflow headers, the caller and the request, else a random one (which still makes the
// Databricks SDK's own retries of this one request safe). Databricks allows at most 64 chars.
func idempotencyToken(r *http.Request, caller string, req runNowRequest) (string, error) {
	if req.IdempotencyToken != "" {
		return req.IdempotencyToken, nil
	}
	if key := strings.TrimSpace(r.Header.Get(headerIdempotencyKey)); key != "" {
		if len(key) > maxIdempotencyToken {
			return "", invalidRequest("Header Idempotency-Key is longer than %d characters.", maxIdempotencyToken)
		}
		return key, nil
	}
	runID := r.Header.Get(headerWorkflowRunID)
	operation := r.Header.Get(headerWorkflowOperation)
	if runID != "" && operation != "" {
		canonical, _ := json.Marshal(req) // struct fields in order, map keys sorted: deterministic
		h := sha256.New()
		for _, part := range []string{runID, operation, r.Header.Get(headerActionTrackingID), caller, string(canonical)} {
			h.Write([]byte(part))
			h.Write([]byte{0}) // separator: ("ab","c") and ("a","bc") must differ
		}
		return "fb-wf-" + hex.EncodeToString(h.Sum(nil))[:48], nil
	}
	var random [16]byte
	_, _ = rand.Read(random[:]) // crypto/rand.Read never fails on Linux
	return "fb-rq-" + hex.EncodeToString(random[:]), nil
}
