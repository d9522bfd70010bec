package api

// What the OpenAPI document says about each operation of the route table (routes.go): titles,
// descriptions, parameters and answers, in the words a flow maker reads in the designer. The
// fields of bodies and answers are described on their Go types (doc, summary and visibility
// tags; see package swagger).

import (
	"net/http"
	"reflect"

	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/swagger"
)

// The asynchronous pattern, in the words the descriptions of RunNow and GetRun share.
const asyncPattern = "With wait=true flowbricks follows the asynchronous pattern of Logic Apps and custom connectors: " +
	"it answers 202 Accepted with an absolute Location URL and Retry-After (seconds), and the platform polls that " +
	"URL until the answer is no longer 202. The final answer is 200 with the run status when the run succeeded, " +
	"or 424 Failed Dependency with the same run status and code run_failed when it did not, so the step fails and " +
	"\"Configure run after\" can handle it (fail_on_run_failure=false turns that into 200). Each poll is " +
	"authenticated like any call."

func runNowDoc() *opDoc {
	return &opDoc{
		Summary: "Run a job",
		Description: "Triggers a run of an Azure Databricks job as the signed-in user (the job itself executes as its " +
			"\"Run as\" principal). Name the job by job_id (pick it from the list) or by job_name. Without wait the " +
			"answer is the new run's status at once. " + asyncPattern + " include_output=true adds the notebook " +
			"exit values to the final answer. Retries of the same flow action start no second run: flowbricks sends " +
			"Databricks an idempotency token derived from the caller, the job, the request and the body's " +
			"idempotency_token, else the Idempotency-Key header, else the workflow run, action and loop iteration. " +
			"The run status returns the caller's own key (or the derived token).",
		Visibility: swagger.Important,
		Query:      []string{"wait", "include_output", "fail_on_run_failure", "workspace"},
		Headers:    []string{"Idempotency-Key"},
		Body:       reflect.TypeFor[runNowRequest](),
		Responses: append([]respDoc{
			{Status: 200, Description: "The run was triggered (without wait), or it succeeded (the final answer with wait).", Schema: reflect.TypeFor[runStatus]()},
			{Status: 202, Description: "The run was triggered and wait=true: poll Location (the platform does) after Retry-After seconds.", Schema: reflect.TypeFor[runStatus](), Headers: []string{"Location", "Retry-After"}},
			{Status: 424, Description: "With wait=true, the final answer when the run ended without success (code run_failed).", Schema: reflect.TypeFor[failedRun]()},
		}, problems(400, 401, 403, 404, 409, 413, 415, 429, 502, 503)...),
	}
}

func getRunDoc() *opDoc {
	return &opDoc{
		Summary: "Get the status of a run",
		Description: "Reads a run's status: state, result, whether it is over and succeeded, its tasks and timing. " +
			"This is the URL the asynchronous pattern polls. " + asyncPattern + " include_output=true adds the " +
			"outputs of a run that is over.",
		Visibility: swagger.Important,
		Query:      []string{"wait", "include_output", "fail_on_run_failure", "workspace"},
		Responses: append([]respDoc{
			{Status: 200, Description: "The run's status (with wait=true: the run is over and succeeded, or fail_on_run_failure=false).", Schema: reflect.TypeFor[runStatus]()},
			{Status: 202, Description: "wait=true and the run is not over yet: poll Location again after Retry-After seconds.", Schema: reflect.TypeFor[runStatus](), Headers: []string{"Location", "Retry-After"}},
			{Status: 424, Description: "wait=true and the run ended without success (code run_failed).", Schema: reflect.TypeFor[failedRun]()},
		}, problems(400, 401, 403, 404, 429, 502, 503)...),
	}
}

func getRunOutputDoc() *opDoc {
	return &opDoc{
		Summary: "Get the outputs of a run",
		Description: "Reads what each task of a run produced: the notebook exit value (dbutils.notebook.exit), whether " +
			"Databricks truncated it, and the error and its trace. A single-task run's exit value is also at the top " +
			"level (result). Exit values that are JSON objects or arrays are also given parsed (result_json).",
		Visibility: swagger.Advanced,
		Query:      []string{"workspace"},
		Responses: append([]respDoc{
			{Status: 200, Description: "The outputs of the run's tasks.", Schema: reflect.TypeFor[runOutput]()},
		}, problems(400, 401, 403, 404, 429, 502, 503)...),
	}
}

func cancelRunDoc() *opDoc {
	return &opDoc{
		Summary: "Cancel a run",
		Description: "Asks Databricks to cancel a run (the caller needs CAN_MANAGE_RUN on the job) and answers with the " +
			"run's status after the request. Cancellation is asynchronous: the state becomes TERMINATING, then TERMINATED.",
		Visibility: swagger.Advanced,
		Query:      []string{"workspace"},
		Responses: append([]respDoc{
			{Status: 200, Description: "The run's status after the cancel request.", Schema: reflect.TypeFor[runStatus]()},
		}, problems(400, 401, 403, 404, 429, 502, 503)...),
	}
}

func listJobsDoc() *opDoc {
	return &opDoc{
		Summary: "List jobs",
		Description: "Lists the jobs the signed-in user can see (job_id and name). The job picker of \"Run a job\" uses " +
			"it. name filters by exact name (ignoring case).",
		Visibility: swagger.Advanced,
		Query:      []string{"name", "limit", "workspace"},
		Responses: append([]respDoc{
			{Status: 200, Description: "The jobs, as a JSON array.", Schema: reflect.TypeFor[jobSummary](), Array: true},
		}, problems(400, 401, 403, 429, 502, 503)...),
	}
}

// problems documents error answers: each is a Problem, with the headers it may carry.
func problems(statuses ...int) []respDoc {
	out := make([]respDoc, 0, len(statuses))
	for _, st := range statuses {
		r := respDoc{Status: st, Schema: reflect.TypeFor[problem]()}
		switch st {
		case 400:
			r.Description = "The request is invalid (code invalid_request); detail names the field and what is wrong."
		case 401:
			r.Description = "No valid token (unauthenticated), or Entra ID wants the user to sign in again (interaction_required). Fix the connection."
			r.Headers = []string{"WWW-Authenticate"}
		case 403:
			r.Description = "Not allowed: forbidden (Databricks permission), not_in_workspace, consent_required, client_app_not_allowed, app_caller_not_allowed or job_not_allowed; detail says who must grant what."
		case 404:
			r.Description = "No such job (job_not_found) or run (run_not_found) for this caller."
		case 409:
			r.Description = "job_name matches several jobs (ambiguous_job_name; detail lists their ids), or the idempotency key already belongs to a run of another job (idempotency_conflict)."
		case 413:
			r.Description = "The body is too large (payload_too_large)."
		case 415:
			r.Description = "The body is not JSON (unsupported_media_type)."
		case 429:
			r.Description = "Databricks is rate-limiting (throttled); retry after Retry-After seconds."
			r.Headers = []string{"Retry-After"}
		case 502:
			r.Description = "Databricks failed or refused flowbricks' token (upstream_error)."
		case 503:
			r.Description = "Databricks or Entra ID is not answering (upstream_unavailable); retry after Retry-After seconds."
			r.Headers = []string{"Retry-After"}
		default:
			r.Description = http.StatusText(st)
		}
		out = append(out, r)
	}
	return out
}

// Parameters, by name. Each is a Swagger 2.0 parameter object without "in" and "name".
func queryParameters() map[string]obj {
	return map[string]obj{
		"wait": {"type": "boolean", "default": false, "x-ms-summary": "Wait for completion", "x-ms-visibility": swagger.Important,
			"description": "Wait until the run is over: 202 + Location while it runs (the platform polls), then 200, or 424 if it failed."},
		"include_output": {"type": "boolean", "default": false, "x-ms-summary": "Include outputs", "x-ms-visibility": swagger.Important,
			"description": "Add the tasks' outputs (notebook exit values, errors) to the answer once the run is over."},
		"fail_on_run_failure": {"type": "boolean", "default": true, "x-ms-summary": "Fail when the run fails", "x-ms-visibility": swagger.Advanced,
			"description": "With wait=true: answer 424 when the run ended without success (the step fails). false answers 200 and leaves the check to the flow (see succeeded)."},
		"workspace": {"type": "string", "x-ms-summary": "Workspace", "x-ms-visibility": swagger.Advanced,
			"description": "Name of a configured Databricks workspace (FLOWBRICKS_WORKSPACES); empty means the default workspace."},
		"name": {"type": "string", "x-ms-summary": "Job name", "x-ms-visibility": swagger.Advanced,
			"description": "Only jobs with exactly this name (ignoring case)."},
		"limit": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000, "x-ms-summary": "Limit", "x-ms-visibility": swagger.Advanced,
			"description": "At most this many jobs (1 to 1000); without it, every job the caller can see, up to 1000."},
	}
}

func headerParameters() map[string]obj {
	return map[string]obj{
		"Idempotency-Key": {"type": "string", "maxLength": databricks.MaxIdempotencyToken, "x-ms-summary": "Idempotency key", "x-ms-visibility": swagger.Advanced,
			"description": "Requests with the same key start one run only (at most 64 characters). Without it flowbricks derives one from the workflow run and action, so platform retries are safe anyway."},
	}
}

func pathParameters() map[string]obj {
	return map[string]obj{
		"run_id": {"type": "integer", "format": "int64", "x-ms-summary": "Run ID", "x-ms-visibility": swagger.Important,
			"description": "The run's id (run_id in the answer of \"Run a job\")."},
	}
}

func responseHeaders() map[string]obj {
	return map[string]obj{
		"Location":         {"type": "string", "description": "Absolute URL to poll (GET) for the run's status; the platform follows it while the answer is 202."},
		"Retry-After":      {"type": "integer", "description": "Seconds to wait before the next poll or retry."},
		"WWW-Authenticate": {"type": "string", "description": "The Bearer challenge: error, error_description and, for interaction_required, the claims to request."},
	}
}

// definitions are the named schemas of the document and the Go types they reflect. The designer
// shows a definition's description for nested objects.
func definitions() []swagger.Definition {
	return []swagger.Definition{
		{Name: "RunStatus", Type: reflect.TypeFor[runStatus](), Description: "A run's status: flat and never null (empty string, 0 or [] when Databricks has nothing)."},
		{Name: "FailedRun", Type: reflect.TypeFor[failedRun](), Description: "The run status of a run that ended without success, with the problem fields (code run_failed)."},
		{Name: "TaskRun", Type: reflect.TypeFor[databricks.TaskRun](), Description: "One task of a run."},
		{Name: "RunOutput", Type: reflect.TypeFor[runOutput](), Description: "What the tasks of a run produced; present with include_output=true once the run is over."},
		{Name: "TaskOutput", Type: reflect.TypeFor[taskOutput](), Description: "What one task run produced."},
		{Name: "Job", Type: reflect.TypeFor[jobSummary](), Description: "A job the caller can see."},
		{Name: "Problem", Type: reflect.TypeFor[problem](), Description: "An error (RFC 9457 problem details, sent as application/problem+json)."},
	}
}

// propertyKeywords are keywords of schema properties that belong to this document rather than
// to a Go type: the job picker, which calls the ListJobs operation, and RunStatus's place for
// idempotency_token among the advanced fields (databricks.Run itself knows no designer).
func propertyKeywords() map[reflect.Type]map[string]obj {
	return map[reflect.Type]map[string]obj{
		reflect.TypeFor[runNowRequest](): {
			"job_id": {
				// ListJobs answers a top-level array, so there is no value-collection: "If
				// value-collection isn't specified, the response is evaluated as an array" (custom
				// connector docs, openapi-extensions, "Use dynamic values"). The workspace the
				// action names lists that workspace's jobs.
				"x-ms-dynamic-values": obj{
					"operationId": "ListJobs", "value-path": "job_id", "value-title": "name",
					"parameters": obj{"workspace": obj{"parameter": "workspace"}},
				},
				"x-ms-dynamic-list": obj{
					"operationId": "ListJobs", "itemValuePath": "job_id", "itemTitlePath": "name",
					"parameters": obj{"workspace": obj{"parameterReference": "workspace"}},
				},
			},
		},
		reflect.TypeFor[runStatus](): {
			"idempotency_token": {"x-ms-visibility": swagger.Advanced},
		},
	}
}
