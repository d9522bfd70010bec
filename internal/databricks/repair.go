package databricks

import (
	"context"
	"fmt"

	"github.com/databricks/databricks-sdk-go/service/jobs"
)

// RepairRequest is what runs/repair sends (Jobs API 2.2 jobs/runs/repair). Empty maps and slices
// are not sent.
type RepairRequest struct {
	RunID int64
	// RerunTasks are the task keys to run again; RerunAllFailedTasks instead reruns every failed
	// task. Exactly one of them must be given (Databricks accepts only one).
	RerunTasks          []string
	RerunAllFailedTasks bool
	// RerunDependentTasks also reruns the tasks that depend on the rerun ones, even if they
	// succeeded.
	RerunDependentTasks bool
	// LatestRepairID is the id of the run's latest repair (Run.LatestRepairID), 0 for a run never
	// repaired. Databricks refuses a repair whose latest_repair_id is missing or not the latest
	// ([ErrRepairConflict]), so two repairs computed from the same history cannot both start.
	LatestRepairID int64
	JobParameters  map[string]string
}

// RepairRun asks Databricks to rerun tasks of a run that is over and returns the repair's id. It
// does not wait: the run's state follows the repair (GetRun). The request is safe to repeat (the
// SDK repeats it after 429/503, the client after a rejected token): a repeat carries the same
// latest_repair_id, which the first repair made stale, so Databricks refuses it with
// ErrRepairConflict instead of repairing twice.
func (c *Client) RepairRun(ctx context.Context, r RepairRequest) (int64, error) {
	switch {
	case r.RunID <= 0:
		return 0, invalid(OpRepairRun, fmt.Sprintf("run_id must be a positive integer, got %d", r.RunID))
	case r.LatestRepairID < 0:
		return 0, invalid(OpRepairRun, fmt.Sprintf("latest_repair_id must not be negative, got %d", r.LatestRepairID))
	case r.RerunAllFailedTasks == (len(r.RerunTasks) > 0):
		return 0, invalid(OpRepairRun, "name the tasks to rerun or rerun all failed tasks, one of the two")
	}
	req := jobs.RepairRun{
		RunId:               r.RunID,
		RerunTasks:          nonEmptySlice(r.RerunTasks),
		RerunAllFailedTasks: r.RerunAllFailedTasks,
		RerunDependentTasks: r.RerunDependentTasks,
		LatestRepairId:      r.LatestRepairID,
		JobParameters:       nonEmptyMap(r.JobParameters),
	}
	var repairID int64
	err := c.run(ctx, OpRepairRun, func(ctx context.Context) error {
		// JobsAPI.RepairRun makes the one POST and returns a waiter whose Get is never called
		// (see RunNow).
		w, err := c.jobs.RepairRun(ctx, req)
		if err != nil {
			return err
		}
		if w == nil || w.Response == nil || w.Response.RepairId == 0 {
			return &Error{Kind: ErrUpstream, Op: OpRepairRun, Detail: "runs/repair answered without a repair_id"}
		}
		repairID = w.Response.RepairId
		return nil
	})
	return repairID, err
}
