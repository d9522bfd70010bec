package databricks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/databricks/databricks-sdk-go/service/jobs"
	"golang.org/x/sync/errgroup"
)

// RunNowRequest is what run-now sends (Jobs API 2.2 jobs/run-now). Empty maps
// and slices are not sent (so the job's own defaults apply); Queue nil means
// the job's queue setting applies.
type RunNowRequest struct {
	JobID            int64
	IdempotencyToken string // ≤ 64 chars; the SDK retries POST run-now on 429/503, so always set it

	JobParameters     map[string]string
	NotebookParams    map[string]string
	PythonNamedParams map[string]string
	SQLParams         map[string]string

	PythonParams []string
	JarParams    []string
	Only         []string // task keys to run

	Queue *bool
}

// Job is one entry of ListJobs.
type Job struct {
	JobID int64  `json:"job_id"`
	Name  string `json:"name"`
}

// DefaultListJobsMax is ListJobs' max when the caller passes max <= 0.
const DefaultListJobsMax = 100

// listPageSize is the Jobs API's maximum page size for jobs/list.
const listPageSize = 100

// RunNow triggers a run of r.JobID and returns its run id. It does not wait:
// JobsAPI.RunNow makes the one POST and returns a waiter whose Get (the
// polling) is never called. (The generated impl-level RunNow is unexported
// inside the SDK, so the waiter-returning wrapper is the way to reach it.)
func (c *Client) RunNow(ctx context.Context, r RunNowRequest) (int64, error) {
	if r.JobID <= 0 {
		return 0, invalid(OpRunNow, fmt.Sprintf("job_id must be a positive integer, got %d", r.JobID))
	}
	if len(r.IdempotencyToken) > MaxIdempotencyToken {
		return 0, invalid(OpRunNow, fmt.Sprintf("idempotency_token must have at most %d characters, got %d", MaxIdempotencyToken, len(r.IdempotencyToken)))
	}
	req := jobs.RunNow{
		JobId:             r.JobID,
		IdempotencyToken:  r.IdempotencyToken,
		JobParameters:     nonEmptyMap(r.JobParameters),
		NotebookParams:    nonEmptyMap(r.NotebookParams),
		PythonNamedParams: nonEmptyMap(r.PythonNamedParams),
		SqlParams:         nonEmptyMap(r.SQLParams),
		PythonParams:      nonEmptySlice(r.PythonParams),
		JarParams:         nonEmptySlice(r.JarParams),
		Only:              nonEmptySlice(r.Only),
	}
	if r.Queue != nil {
		req.Queue = &jobs.QueueSettings{Enabled: *r.Queue}
	}
	var runID int64
	err := c.run(ctx, OpRunNow, func(ctx context.Context) error {
		w, err := c.jobs.RunNow(ctx, req)
		if err != nil {
			return err
		}
		if w == nil || w.Response == nil || w.Response.RunId == 0 {
			return &Error{Kind: ErrUpstream, Op: OpRunNow, Detail: "run-now answered without a run_id"}
		}
		runID = w.Response.RunId
		return nil
	})
	return runID, err
}

// GetRun returns the run's status. Runs with more than 100 tasks come in
// pages (next_page_token); all are fetched within one deadline. See wire.go
// for why this call decodes into its own types.
func (c *Client) GetRun(ctx context.Context, runID int64) (Run, error) {
	if runID <= 0 {
		return Run{}, invalid(OpGetRun, fmt.Sprintf("run_id must be a positive integer, got %d", runID))
	}
	var r *wireRun
	err := c.run(ctx, OpGetRun, func(ctx context.Context) (err error) {
		r, err = c.fetchRun(ctx, runID)
		return err
	})
	if err != nil {
		return Run{}, err
	}
	return mapRun(r), nil
}

// TaskOutput returns the output of one task run. taskRunID must be a task's
// run id (Run.Tasks[i].RunID): for a multi-task job run id Databricks answers
// 400 (ErrInvalidRequest). TaskKey is left empty (get-output does not return
// it); RunOutputs fills it in.
//
// An answer larger than flowbricks reads (maxOutputResponseBytes) is not an
// error: the task's output is returned empty with Truncated set.
func (c *Client) TaskOutput(ctx context.Context, taskRunID int64) (TaskOutput, error) {
	if taskRunID <= 0 {
		return TaskOutput{}, invalid(OpGetOutput, fmt.Sprintf("run_id must be a positive integer, got %d", taskRunID))
	}
	var o wireOutput
	tooLarge := false
	err := c.run(ctx, OpGetOutput, func(ctx context.Context) error {
		o = wireOutput{}
		err := c.getJSON(ctx, pathGetOutput, jobs.GetRunOutputRequest{RunId: taskRunID}, &o)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge = true
			return nil
		}
		return err
	})
	if err != nil {
		return TaskOutput{}, err
	}
	if tooLarge {
		return TaskOutput{RunID: taskRunID, Truncated: true}, nil
	}
	return mapOutput("", taskRunID, &o), nil
}

// MaxRunOutputBytes bounds the output texts (Result, Error, ErrorTrace) of all
// tasks of one run together, as RunOutputs returns them: one run of 100 tasks
// could otherwise return 100 × 5 MB of notebook results, and the API answer
// holds them more than once while it is encoded. It leaves room for one
// complete 5 MB notebook result.
const MaxRunOutputBytes = 8 << 20

// RunOutputs calls get-output once per task run id of run, at most
// outputConcurrency (4) at a time, and returns the outputs in the order of
// run.Tasks. Each call has its own RequestTimeout; ctx bounds them all.
//
//   - A task with RunID 0 (never started) gets an entry with only its
//     TaskKey; no call is made for it.
//   - A run with no tasks at all (legacy single-task shape) is asked for its
//     own run id's output once, with TaskKey "".
//   - The first failing call cancels the others and its error is returned;
//     there are no partial results.
//   - Outputs share a budget of MaxRunOutputBytes, spent in task order: a
//     task's Result that does not fit is cut to what is left (on a UTF-8
//     boundary, empty once nothing is left) and the task gets Truncated.
//     Which tasks are cut depends only on the outputs, not on which call
//     answered first, and no more than outputConcurrency outputs are held
//     beyond the budget at any time.
func (c *Client) RunOutputs(ctx context.Context, run Run) ([]TaskOutput, error) {
	if _, ok := sourceFrom(ctx); !ok {
		return nil, classify(ctx, OpGetOutput, "", ErrNoToken)
	}
	targets := run.Tasks
	if len(targets) == 0 {
		if run.RunID <= 0 {
			return []TaskOutput{}, nil
		}
		targets = []TaskRun{{RunID: run.RunID}}
	}
	outs := make([]TaskOutput, len(targets))
	// budget is spent in task order (the chain below); the lock only matters once a task failed:
	// it closes its link early, and the tasks around it may then commit at the same time.
	var mu sync.Mutex
	budget := MaxRunOutputBytes
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(outputConcurrency)
	// Each task commits its output (spends the budget) after the task before
	// it did: prev is closed when the previous task has committed. A task that
	// has its output but waits for its turn keeps its errgroup slot, so at
	// most outputConcurrency outputs wait uncommitted.
	prev := make(chan struct{})
	close(prev)
	for i, t := range targets {
		before, mine := prev, make(chan struct{})
		prev = mine
		if t.RunID <= 0 {
			outs[i] = TaskOutput{TaskKey: t.TaskKey}
			g.Go(func() error { // keeps the commit chain unbroken
				defer close(mine)
				<-before
				return nil
			})
			continue
		}
		g.Go(func() error {
			defer close(mine)
			o, err := c.TaskOutput(gctx, t.RunID)
			if err != nil {
				return err
			}
			select {
			case <-before:
			case <-gctx.Done():
				return gctx.Err()
			}
			o.TaskKey = t.TaskKey
			mu.Lock()
			budget = spendOutputBudget(&o, budget)
			mu.Unlock()
			outs[i] = o
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return outs, nil
}

// spendOutputBudget charges o's texts against budget, cutting Result (the
// only text that is not already bounded per task) when it does not fit, and
// returns what is left.
func spendOutputBudget(o *TaskOutput, budget int) int {
	budget -= min(budget, len(o.Error)+len(o.ErrorTrace))
	if len(o.Result) > budget {
		// Cloned so the cut result does not keep the whole original alive.
		o.Result = strings.Clone(utf8Prefix(o.Result, budget))
		o.Truncated = true
	}
	return budget - len(o.Result)
}

// CancelRun asks Databricks to cancel a run (or task run). Cancellation is
// asynchronous: the run may still be running when this returns; poll GetRun.
func (c *Client) CancelRun(ctx context.Context, runID int64) error {
	if runID <= 0 {
		return invalid(OpCancelRun, fmt.Sprintf("run_id must be a positive integer, got %d", runID))
	}
	return c.run(ctx, OpCancelRun, func(ctx context.Context) error {
		return c.jobs.CancelRunByRunId(ctx, runID)
	})
}

// ListJobs returns up to max jobs the caller can see, in the API's order.
// A non-empty name is passed to the API's filter (exact, case-insensitive
// match — "Daily" also returns "daily"; the caller decides what a duplicate
// means). Pages of up to 100 are fetched until max jobs are collected or
// there are no more pages; max <= 0 means DefaultListJobsMax. The result is
// never nil.
func (c *Client) ListJobs(ctx context.Context, name string, max int) ([]Job, error) {
	if max <= 0 {
		max = DefaultListJobsMax
	}
	var out []Job
	err := c.run(ctx, OpListJobs, func(ctx context.Context) error {
		// A retry with a fresh token starts the listing again.
		out = make([]Job, 0, min(max, listPageSize))
		it := c.jobs.List(ctx, jobs.ListJobsRequest{Name: name, Limit: min(max, listPageSize)})
		for len(out) < max && it.HasNext(ctx) {
			j, err := it.Next(ctx)
			if err != nil {
				return err
			}
			job := Job{JobID: j.JobId}
			if j.Settings != nil {
				job.Name = j.Settings.Name
			}
			out = append(out, job)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func nonEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func nonEmptySlice(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
