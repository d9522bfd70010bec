package databricks

import (
	"context"
	"fmt"
	"time"

	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// ListRunsRequest selects runs for ListRuns (Jobs API 2.2 jobs/runs/list). The start-time bounds
// filter by when a run STARTED, which is the only time runs/list filters on.
type ListRunsRequest struct {
	JobID         int64     // 0 = every job the caller can see
	CompletedOnly bool      // only runs that are over
	StartFrom     time.Time // start_time_from (at or after, ms); zero = none
	StartTo       time.Time // start_time_to (at or before, ms); zero = none
	ExpandTasks   bool      // include each run's tasks (Databricks lists at most 100 per run)
	// Max stops the listing after this many runs; <= 0 means DefaultListRunsMax.
	Max int
}

// DefaultListRunsMax is ListRuns' Max when the request has none.
const DefaultListRunsMax = 100

const (
	pathRunsList = "/api/2.2/jobs/runs/list"
	// runsListPageSize is the largest page runs/list answers (limit 1 to 25).
	runsListPageSize = 25
	// maxRunsListPages bounds the page loop against a server that keeps answering has_more,
	// whatever Max is: 200 pages of 25 runs.
	maxRunsListPages = 200
)

// wireRunsPage is one runs/list answer, decoded like runs/get (wire.go) rather than through the
// SDK's ListRunsResponse, for the same cost reason: a page of 25 runs with their tasks is 25
// runs/get answers.
type wireRunsPage struct {
	Runs          []wireRun `json:"runs"`
	HasMore       bool      `json:"has_more"`
	NextPageToken string    `json:"next_page_token"`
}

// ListRuns returns up to r.Max runs the caller can see, in the API's order (newest start first),
// following next_page_token within one deadline. The runs carry no repair history: runs/list does
// not return it (RepairCount and LatestRepairID are 0; GetRun has them). The result is never nil.
func (c *Client) ListRuns(ctx context.Context, r ListRunsRequest) ([]Run, error) {
	switch {
	case r.JobID < 0:
		return nil, invalid(OpListRuns, fmt.Sprintf("job_id must be a positive integer, got %d", r.JobID))
	case !r.StartFrom.IsZero() && !r.StartTo.IsZero() && r.StartTo.Before(r.StartFrom):
		return nil, invalid(OpListRuns, "start_time_to is before start_time_from")
	}
	if r.Max <= 0 {
		r.Max = DefaultListRunsMax
	}
	req := jobs.ListRunsRequest{
		JobId:         r.JobID,
		CompletedOnly: r.CompletedOnly,
		ExpandTasks:   r.ExpandTasks,
		Limit:         min(r.Max, runsListPageSize),
		StartTimeFrom: epochMs(r.StartFrom),
		StartTimeTo:   epochMs(r.StartTo),
	}
	var out []Run
	err := c.run(ctx, OpListRuns, func(ctx context.Context) error {
		// A retry with a fresh token starts the listing again.
		out = make([]Run, 0, min(r.Max, runsListPageSize))
		req.PageToken = ""
		for pages := 0; ; pages++ {
			if pages == maxRunsListPages {
				return &Error{Kind: ErrUpstream, Op: OpListRuns,
					Detail: fmt.Sprintf("runs/list still had more runs after %d pages", maxRunsListPages)}
			}
			var page wireRunsPage
			if err := c.getJSON(ctx, pathRunsList, req, &page); err != nil {
				return err
			}
			for i := range page.Runs {
				out = append(out, mapRun(&page.Runs[i]))
				if len(out) == r.Max {
					return nil
				}
			}
			if !page.HasMore || page.NextPageToken == "" {
				return nil
			}
			req.PageToken = page.NextPageToken
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// epochMs is t in epoch milliseconds, 0 (not sent) for the zero time.
func epochMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
