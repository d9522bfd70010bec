package api

import (
	"encoding/json"
	"unicode"

	"github.com/flowbricks/flowbricks/internal/databricks"
)

// Limits Databricks enforces on run-now, checked here so a bad request never costs an
// upstream call (Jobs API 2.2 run-now reference).
const (
	maxParamJSONBytes = 10_000
	maxJobNameLength  = 4096
)

// runNowRequest is the body of POST /api/jobs/run-now.
type runNowRequest struct {
	JobID             *int64            `json:"job_id,omitempty" summary:"Job" visibility:"important" doc:"The job to run. Send job_id or job_name."`
	JobName           string            `json:"job_name,omitempty" summary:"Job name" visibility:"advanced" doc:"The job to run, by its exact name (ignoring case); fails if no job or several jobs have it."`
	JobParameters     map[string]string `json:"job_parameters,omitempty" summary:"Job parameters" visibility:"important" doc:"Job-level parameters (name → value). Cannot be combined with the task-level parameters below."`
	NotebookParams    map[string]string `json:"notebook_params,omitempty" summary:"Notebook parameters" visibility:"advanced" doc:"Parameters for notebook tasks (name → value), read with dbutils.widgets.get."`
	PythonParams      []string          `json:"python_params,omitempty" summary:"Python parameters" visibility:"advanced" doc:"Command-line arguments for Python tasks (ASCII only)."`
	PythonNamedParams map[string]string `json:"python_named_params,omitempty" summary:"Python named parameters" visibility:"advanced" doc:"Named parameters for Python wheel tasks (name → value)."`
	JarParams         []string          `json:"jar_params,omitempty" summary:"JAR parameters" visibility:"advanced" doc:"Command-line arguments for JAR tasks."`
	SQLParams         map[string]string `json:"sql_params,omitempty" summary:"SQL parameters" visibility:"advanced" doc:"Parameters for SQL tasks (name → value)."`
	Only              []string          `json:"only,omitempty" summary:"Only these tasks" visibility:"advanced" doc:"Run only these tasks (task keys)."`
	Queue             *bool             `json:"queue,omitempty" summary:"Queue" visibility:"advanced" doc:"Queue the run when the job is at its concurrency limit (true) or skip it (false); the job's setting applies when absent."`
	IdempotencyToken  string            `json:"idempotency_token,omitempty" summary:"Idempotency token" visibility:"advanced" doc:"Requests with the same token start one run only (at most 64 characters); takes precedence over the Idempotency-Key header."`
}

func (q runNowRequest) validate() error {
	switch {
	case q.JobID == nil && q.JobName == "":
		return invalidRequest("Field job_id (or job_name) is required.")
	case q.JobID != nil && q.JobName != "":
		return invalidRequest("Send job_id or job_name, not both.")
	case q.JobID != nil && *q.JobID <= 0:
		return invalidRequest("Field job_id must be a positive integer.")
	case len(q.JobName) > maxJobNameLength:
		return invalidRequest("Field job_name is longer than %d characters.", maxJobNameLength)
	case len(q.IdempotencyToken) > databricks.MaxIdempotencyToken:
		return invalidRequest("Field idempotency_token is longer than %d characters.", databricks.MaxIdempotencyToken)
	}
	params := []struct {
		name  string
		value any
		set   bool
	}{
		{"job_parameters", q.JobParameters, q.JobParameters != nil},
		{"notebook_params", q.NotebookParams, q.NotebookParams != nil},
		{"python_params", q.PythonParams, q.PythonParams != nil},
		{"python_named_params", q.PythonNamedParams, q.PythonNamedParams != nil},
		{"jar_params", q.JarParams, q.JarParams != nil},
		{"sql_params", q.SQLParams, q.SQLParams != nil},
	}
	var taskLevel []string
	for _, p := range params {
		if !p.set {
			continue
		}
		b, _ := json.Marshal(p.value) // maps of strings and string slices always marshal
		if len(b) > maxParamJSONBytes {
			return invalidRequest("Field %s is %d bytes as JSON; Databricks allows at most %d.", p.name, len(b), maxParamJSONBytes)
		}
		if p.name != "job_parameters" {
			taskLevel = append(taskLevel, p.name)
		}
	}
	if q.JobParameters != nil && len(taskLevel) > 0 {
		return invalidRequest("Field job_parameters cannot be combined with %s: jobs with job parameters take only job_parameters.", taskLevel[0])
	}
	if q.NotebookParams != nil && q.JarParams != nil {
		return invalidRequest("Field notebook_params cannot be combined with jar_params.")
	}
	for _, s := range q.PythonParams {
		if !isASCII(s) {
			return invalidRequest("Field python_params must be ASCII only (Databricks refuses other characters).")
		}
	}
	for i, key := range q.Only {
		if key == "" {
			return invalidRequest("Field only[%d] is empty; list task keys.", i)
		}
	}
	for name, m := range map[string]map[string]string{
		"job_parameters": q.JobParameters, "notebook_params": q.NotebookParams,
		"python_named_params": q.PythonNamedParams, "sql_params": q.SQLParams,
	} {
		if _, empty := m[""]; empty {
			return invalidRequest("Field %s has an empty parameter name.", name)
		}
	}
	return nil
}

// upstream builds the Databricks request once the job id is known.
func (q runNowRequest) upstream(jobID int64, token string) databricks.RunNowRequest {
	return databricks.RunNowRequest{
		JobID:             jobID,
		IdempotencyToken:  token,
		JobParameters:     q.JobParameters,
		NotebookParams:    q.NotebookParams,
		PythonParams:      q.PythonParams,
		PythonNamedParams: q.PythonNamedParams,
		JarParams:         q.JarParams,
		SQLParams:         q.SQLParams,
		Only:              q.Only,
		Queue:             q.Queue,
	}
}

func isASCII(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
	}
	return true
}
