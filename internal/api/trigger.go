package api

// "When a job run ends": a polling trigger (docs/connector.md, "When a job run ends").
//
// The contract is Microsoft's for polling triggers, the same for a custom connector's trigger
// (x-ms-trigger) and for Logic Apps' built-in HTTP trigger:
//
//   - https://learn.microsoft.com/connectors/custom-connectors/create-polling-trigger ("How
//     polling triggers work"): the first call answers 202 Accepted with a retry interval and a
//     Location that holds the trigger's state; each later call is a GET of the last Location; no
//     new data is 202 with the state unchanged; new data is 200 with the items, a Location with
//     the new state, and Retry-After.
//   - https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#http-trigger
//     ("Requirements for incoming requests"): 200 starts a run, any other status does not;
//     Retry-After is the seconds until the next poll; Location is the URL of the next poll (the
//     original URL when absent).
//   - https://learn.microsoft.com/connectors/custom-connectors/openapi-extensions (x-ms-trigger:
//     "batch" for an array answer; x-ms-trigger-hint).
//
// The platform keeps the state; flowbricks keeps none. The state is the cursor in the Location's
// "after": the end time and run id of the last run delivered. Every run that ended after it
// (ordered by end time, then run id) is delivered once, oldest first. runs/list filters by start
// time only, so a poll lists the completed runs that started up to the look-back before the
// cursor (FLOWBRICKS_TRIGGER_LOOKBACK_HOURS) and filters by end time itself: a run that ran
// longer than the look-back is missed.

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog/hlog"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/redact"
)

const (
	// triggerMaxRuns is what one poll delivers at most; the next poll continues from the cursor
	// (at once: Retry-After triggerMoreRetry).
	triggerMaxRuns = 100
	// triggerScanMax bounds the runs one poll reads from runs/list (40 pages of 25). When a busy
	// workspace has more completed runs than that within the look-back, the look-back of that poll
	// is cut short at the oldest run read, and a warning says so.
	triggerScanMax = 1000
	// triggerMoreRetry is the Retry-After of an answer that left runs for the next poll.
	triggerMoreRetry = time.Second
	// cursorMaxSkew is how far in the future of this instance's clock a cursor may lie: another
	// instance's clock may be ahead a little, never by minutes.
	cursorMaxSkew = 5 * time.Minute
	// maxCursorLength bounds the after parameter before it is decoded.
	maxCursorLength = 128
)

// The result filter of the trigger.
const (
	resultAny      = "any"
	resultSuccess  = "success"
	resultFailed   = "failed"
	resultCanceled = "canceled"
)

// triggerQuery is what a poll of the trigger asks for.
type triggerQuery struct {
	jobID  int64  // 0 = every job (the allowed ones, with FLOWBRICKS_JOBS)
	result string // resultAny, resultSuccess, resultFailed or resultCanceled
	after  string // the cursor, "" on the first poll
}

func parseTriggerQuery(r *http.Request) (triggerQuery, error) {
	q := triggerQuery{result: resultAny}
	v := r.URL.Query()
	if raw := v.Get("job_id"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			return q, invalidRequest("Query parameter job_id must be a positive integer.")
		}
		q.jobID = id
	}
	if raw := v.Get("result"); raw != "" {
		switch strings.ToLower(raw) {
		case resultAny, resultSuccess, resultFailed, resultCanceled:
			q.result = strings.ToLower(raw)
		default:
			return q, invalidRequest("Query parameter result must be any, success, failed or canceled, not %q.", redact.Value(raw))
		}
	}
	q.after = v.Get("after")
	return q, nil
}

// matches says whether a run that ended passes the result filter. failed is every unsuccessful
// end that is not a cancellation (FAILED, TIMEDOUT, SUCCESS_WITH_FAILURES, INTERNAL_ERROR, …), as
// a flow that repairs or reports failures wants it.
func (q triggerQuery) matches(run databricks.Run) bool {
	canceled := run.Result == "CANCELED" || run.Result == "USER_CANCELED"
	switch q.result {
	case resultSuccess:
		return run.Succeeded
	case resultCanceled:
		return canceled
	case resultFailed:
		return !run.Succeeded && !canceled
	}
	return true
}

// runCursor is a position in the order in which runs end: (end time in ms, run id).
type runCursor struct {
	endMs int64
	runID int64
}

// before says whether c comes before the end of run: run ended after the cursor.
func (c runCursor) before(run databricks.Run) bool {
	return run.EndTimeMs > c.endMs || (run.EndTimeMs == c.endMs && run.RunID > c.runID)
}

// The cursor travels as base64url of "1.<end ms>.<run id>.<digest>", digest naming the poll's
// filters and workspace. It is validated, not signed: it only chooses which of the runs the caller
// may list anyway are delivered, and flowbricks has no key that every instance shares. Validation
// keeps a cursor from another trigger's query (the digest), a made-up or edited one (the exact
// form, the bounds) and one from the future from being taken for a position.
func (q triggerQuery) digest(workspace string) string {
	h := sha256.Sum256([]byte(strconv.FormatInt(q.jobID, 10) + "\x00" + q.result + "\x00" + workspace))
	return hex.EncodeToString(h[:6])
}

func (c runCursor) encode(q triggerQuery, workspace string) string {
	plain := "1." + strconv.FormatInt(c.endMs, 10) + "." + strconv.FormatInt(c.runID, 10) + "." + q.digest(workspace)
	return base64.RawURLEncoding.EncodeToString([]byte(plain))
}

func decodeCursor(q triggerQuery, workspace string, now time.Time) (runCursor, error) {
	bad := func(why string) (runCursor, error) {
		p := invalidRequest("Query parameter after is not a cursor flowbricks gave for this trigger (%s); "+
			"the platform sends the Location of the last answer unchanged. Save the flow again to start over.", why)
		return runCursor{}, p
	}
	if len(q.after) > maxCursorLength {
		return bad("too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(q.after)
	if err != nil {
		return bad("not base64url")
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != "1" {
		return bad("unknown form")
	}
	var c runCursor
	for i, v := range []*int64{&c.endMs, &c.runID} {
		n, err := strconv.ParseInt(parts[i+1], 10, 64)
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != parts[i+1] {
			return bad("not a position")
		}
		*v = n
	}
	switch {
	case parts[3] != q.digest(workspace):
		return bad("it belongs to another job, result filter or workspace")
	case c.endMs == 0:
		return bad("not a position")
	case c.endMs > now.Add(cursorMaxSkew).UnixMilli():
		return bad("it lies in the future")
	}
	return c, nil
}

func (s *server) handleRunsEnded() problemHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := parseTriggerQuery(r)
		if err != nil {
			return err
		}
		if q.jobID != 0 {
			if err := s.allowJob(q.jobID); err != nil {
				return err
			}
		}
		jobs, err := s.workspace(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		now := s.Now()
		if q.after == "" {
			// The first poll sets the state to now: runs that ended before are not replayed. One
			// run is listed all the same, so that a caller who cannot list the job's runs (or a
			// job that does not exist) fails when the trigger is saved, not silently later.
			if _, err := jobs.ListRuns(ctx, databricks.ListRunsRequest{JobID: q.jobID, Max: 1}); err != nil {
				return err
			}
			return s.answerPoll(w, r, q, runCursor{endMs: now.UnixMilli()}, nil, false)
		}
		cur, err := decodeCursor(q, workspaceName(r), now)
		if err != nil {
			return err
		}
		runs, err := jobs.ListRuns(ctx, databricks.ListRunsRequest{
			JobID: q.jobID, CompletedOnly: true, ExpandTasks: true, Max: triggerScanMax,
			StartFrom: time.UnixMilli(cur.endMs).Add(-s.Config.TriggerLookback),
		})
		if err != nil {
			return err
		}
		if len(runs) == triggerScanMax {
			hlog.FromRequest(r).Warn().Int("runs_read", len(runs)).Str("oldest_start", runs[len(runs)-1].StartTime).
				Msg("the run trigger read as many runs as one poll may; runs that started before the oldest one read and ended after the cursor are missed: filter the trigger by job")
		}
		ended := make([]runStatus, 0, min(len(runs), triggerMaxRuns))
		for _, run := range runs {
			if run.Terminal && run.EndTimeMs > 0 && cur.before(run) && s.allowJob(run.JobID) == nil && q.matches(run) {
				ended = append(ended, runStatus{Run: run})
			}
		}
		slices.SortFunc(ended, func(a, b runStatus) int {
			return cmp.Or(cmp.Compare(a.EndTimeMs, b.EndTimeMs), cmp.Compare(a.RunID, b.RunID))
		})
		more := len(ended) > triggerMaxRuns
		ended = ended[:min(len(ended), triggerMaxRuns)]
		if len(ended) > 0 {
			last := ended[len(ended)-1]
			cur = runCursor{endMs: last.EndTimeMs, runID: last.RunID}
		}
		return s.answerPoll(w, r, q, cur, ended, more)
	}
}

// answerPoll answers a poll of the trigger: 200 with the runs that ended, or 202 when there are
// none, each with the Location of the next poll (the cursor in after) and Retry-After.
func (s *server) answerPoll(w http.ResponseWriter, r *http.Request, q triggerQuery, cur runCursor, ended []runStatus, more bool) error {
	path, err := s.pathOf("WhenARunEnds", nil)
	if err != nil {
		return fmt.Errorf("the run trigger's Location cannot be built: %w", err)
	}
	next := url.Values{"after": {cur.encode(q, workspaceName(r))}}
	if q.jobID != 0 {
		next.Set("job_id", strconv.FormatInt(q.jobID, 10))
	}
	if q.result != resultAny {
		next.Set("result", q.result)
	}
	if ws := r.URL.Query().Get("workspace"); ws != "" {
		next.Set("workspace", ws)
	}
	retry := s.Config.PollInterval
	if more {
		retry = triggerMoreRetry
	}
	location := path + "?" + next.Encode()
	if len(ended) == 0 {
		s.located(w, r, http.StatusAccepted, location, retry, []runStatus{})
		return nil
	}
	hlog.FromRequest(r).Debug().Int("runs", len(ended)).Bool("more", more).Msg("runs ended since the trigger's cursor")
	s.located(w, r, http.StatusOK, location, retry, ended)
	return nil
}
