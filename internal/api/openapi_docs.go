package api

// What the OpenAPI document says about each operation of the route table (routes.go): titles,
// descriptions, parameters and answers, in the words a flow maker reads in the designer. The
// fields of bodies and answers are described on their Go types (doc, summary and visibility
// tags; see package swagger).

import (
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/flowbricks/flowbricks/internal/config"
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
			{Status: 202, Description: "With wait=true, the run is not over yet: poll Location again after Retry-After seconds.", Schema: reflect.TypeFor[runStatus](), Headers: []string{"Location", "Retry-After"}},
			{Status: 424, Description: "With wait=true, the run ended without success (code run_failed).", Schema: reflect.TypeFor[failedRun]()},
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

func whenARunEndsDoc() *opDoc {
	return &opDoc{
		Summary: "When a job run ends",
		Description: "Starts the flow when Azure Databricks job runs end: runs of the chosen job (or of every job the " +
			"signed-in user can see) whose result matches, each delivered once, oldest first, with the same status as " +
			"\"Get the status of a run\". Runs that ended before the trigger was saved are not delivered. A poll that finds " +
			"none answers 202; one that finds some answers 200 with them (at most 100; the next poll continues). Runs that " +
			"ran longer than the look-back (FLOWBRICKS_TRIGGER_LOOKBACK_HOURS, 48 hours by default) are missed. A repaired " +
			"run is delivered again when its repair ends.",
		Visibility: swagger.Important,
		Query:      []string{"job_id", "result", "workspace", "after"},
		Params: map[string]obj{
			"job_id": mergeObj(obj{"type": "integer", "format": "int64", "x-ms-summary": "Job", "x-ms-visibility": swagger.Important,
				"description": "Only runs of this job; empty means every job the signed-in user can see."}, jobPicker()),
			"result": {"type": "string", "enum": []string{resultAny, resultSuccess, resultFailed, resultCanceled}, "default": resultAny,
				"x-ms-summary": "Result", "x-ms-visibility": swagger.Important,
				"description": "Only runs that ended this way: success, failed (any other unsuccessful end, for example FAILED, TIMEDOUT or " +
					"SUCCESS_WITH_FAILURES), canceled, or any."},
			"after": {"type": "string", "x-ms-summary": "Trigger State", "x-ms-visibility": swagger.Internal,
				"description": "The trigger's state, which flowbricks puts in the Location of each answer; leave it empty."},
		},
		Responses: append([]respDoc{
			{Status: 200, Description: "Runs ended since the last poll, oldest first: the flow runs (once per run with Split on).", Schema: reflect.TypeFor[runStatus](), Array: true, Headers: []string{"Location", "Retry-After"}},
			{Status: 202, Description: "No run ended since the last poll (or the first poll, which sets the state): the flow does not run.", Headers: []string{"Location", "Retry-After"}},
		}, problems(400, 401, 403, 404, 429, 502, 503)...),
		Extensions: obj{
			"x-ms-trigger":      "batch",
			"x-ms-trigger-hint": "To see it work now, run a job in the Azure Databricks workspace and wait for the run to end.",
		},
	}
}

func repairRunDoc() *opDoc {
	return &opDoc{
		Summary: "Repair a failed run",
		Description: "Reruns the failed tasks of a job run that is over (or the tasks named in rerun_tasks) as the signed-in " +
			"user, who needs CAN_MANAGE_RUN on the job; the run keeps its id and its successful tasks. Without wait the answer " +
			"is the run's status at once. " + asyncPattern + " The final answer is the repaired run's. Retries of the same flow " +
			"action repair once: flowbricks remembers the repair (15 minutes) and sends Databricks the run's latest repair id, " +
			"so a second repair computed from the same history is refused. A run that is not over, or has no failed task, " +
			"answers 409.",
		Visibility: swagger.Important,
		Query:      []string{"wait", "include_output", "fail_on_run_failure", "workspace"},
		Headers:    []string{"Idempotency-Key"},
		Params: map[string]obj{
			"Idempotency-Key": {"description": "Requests with the same key (and the same body) repair the run once while this " +
				"flowbricks instance remembers it. Without it flowbricks uses the workflow run, action and loop iteration, so platform retries are safe anyway."},
		},
		Body: reflect.TypeFor[repairRequest](),
		Responses: append([]respDoc{
			{Status: 200, Description: "The repair was started (without wait), or the repaired run succeeded (the final answer with wait).", Schema: reflect.TypeFor[runStatus]()},
			{Status: 202, Description: "The repair was started and wait=true: poll Location (the platform does) after Retry-After seconds.", Schema: reflect.TypeFor[runStatus](), Headers: []string{"Location", "Retry-After"}},
			{Status: 424, Description: "With wait=true, the final answer when the repaired run ended without success (code run_failed).", Schema: reflect.TypeFor[failedRun]()},
		}, repairProblems()...),
	}
}

// repairProblems documents the repair's error answers: those of the job operations, with its
// own conflicts.
func repairProblems() []respDoc {
	out := problems(400, 401, 403, 404, 409, 413, 415, 429, 502, 503)
	for i := range out {
		if out[i].Status == 409 {
			out[i].Description = "The run is not over (run_not_terminal), has no failed task to rerun (nothing_to_repair), or was " +
				"repaired by another request meanwhile (repair_conflict)."
		}
	}
	return out
}

// jobPicker is the job list of a job_id parameter or property: ListJobs answers a top-level
// array, so there is no value-collection ("If value-collection isn't specified, the response is
// evaluated as an array": custom connector docs, openapi-extensions, "Use dynamic values"). The
// workspace the operation names lists that workspace's jobs.
func jobPicker() obj {
	return obj{
		"x-ms-dynamic-values": obj{
			"operationId": "ListJobs", "value-path": "job_id", "value-title": "name",
			"parameters": obj{"workspace": obj{"parameter": "workspace"}},
		},
		"x-ms-dynamic-list": obj{
			"operationId": "ListJobs", "itemValuePath": "job_id", "itemTitlePath": "name",
			"parameters": obj{"workspace": obj{"parameterReference": "workspace"}},
		},
	}
}

// mergeObj returns a with the keys of b added.
func mergeObj(a, b obj) obj {
	maps.Copy(a, b)
	return a
}

// The asynchronous pattern of the statement endpoints.
const statementAsyncPattern = "With wait=true flowbricks follows the asynchronous pattern of Logic Apps and custom connectors: " +
	"while the statement runs it answers 202 Accepted with an absolute Location URL and Retry-After (seconds), and the " +
	"platform polls that URL until the answer is no longer 202. The final answer is 200 with the status and the first " +
	"rows when the statement succeeded, or 424 Failed Dependency with the same status and code statement_failed when it " +
	"did not (Databricks' error code, message and SQL state are in error), so the step fails and \"Configure run after\" " +
	"can handle it (fail_on_failure=false turns that into 200). Each poll is authenticated like any call."

// rowsText says what a flow does with the rows, in the descriptions of the statement operations.
const rowsText = "rows is an array of objects keyed by column name, with typed values: numbers, true/false, strings " +
	"(DECIMAL, DATE, TIMESTAMP, and BIGINT beyond 2^53, so no digit is lost), parsed ARRAY/MAP/STRUCT values and null; " +
	"\"Apply to each\" over rows needs no Parse JSON step. A large result comes in chunks: next is the URL of the next " +
	"chunk's rows (\"Get statement status and rows\" with chunk_index)."

// statementQueryDocs are the statement operations' own words for the 202 pattern's parameters.
func statementQueryDocs() map[string]obj {
	return map[string]obj{
		"wait": {"x-ms-summary": "Wait for Completion",
			"description": "Wait until the statement is over: 202 + Location while it runs (the platform polls), then 200, or 424 if it failed."},
	}
}

func runStatementDoc() *opDoc {
	return &opDoc{
		Summary: "Run a SQL statement",
		Description: "Runs a SQL statement on a Databricks SQL warehouse as the signed-in user: Unity Catalog's grants, row " +
			"filters and column masks for that person decide what it may read or change. Pass every value that comes from " +
			"the flow as a parameter (:name in the SQL text, name and value in parameters): parameters are sent to " +
			"Databricks separately and never become SQL text. Without wait flowbricks waits a few seconds for the result and " +
			"answers with the status and the rows that are ready. " + statementAsyncPattern + " " + rowsText + " Retries of " +
			"the same flow action do not run the statement twice while this flowbricks instance remembers the first " +
			"(15 minutes): write statements should still be idempotent (MERGE).",
		Visibility: swagger.Important,
		Query:      []string{"wait", "fail_on_failure", "workspace"},
		Headers:    []string{"Idempotency-Key"},
		Params: map[string]obj{
			"wait": statementQueryDocs()["wait"],
			"Idempotency-Key": {"description": "Requests with the same key (and the same body) run the statement once while this " +
				"flowbricks instance remembers it. Without it flowbricks uses the workflow run, action and loop iteration, so platform retries are safe anyway."},
		},
		Body: reflect.TypeFor[sqlStatementRequest](),
		Responses: append([]respDoc{
			{Status: 200, Description: "The statement's status and first rows (without wait: whatever is ready after a few seconds; with wait: it is over and succeeded).", Schema: reflect.TypeFor[sqlStatement]()},
			{Status: 202, Description: "With wait=true, the statement is still running: poll Location (the platform does) after Retry-After seconds.", Schema: reflect.TypeFor[sqlStatement](), Headers: []string{"Location", "Retry-After"}},
			{Status: 424, Description: "With wait=true, the final answer when the statement ended without success (code statement_failed).", Schema: reflect.TypeFor[failedStatement]()},
		}, sqlProblems(400, 401, 403, 404, 409, 413, 415, 429, 502, 503)...),
	}
}

func getStatementDoc() *opDoc {
	return &opDoc{
		Summary: "Get statement status and rows",
		Description: "Reads a statement's status and one chunk of its rows (chunk_index, from 0). This is the URL the " +
			"asynchronous pattern polls, and next links to it for the following chunk. " + statementAsyncPattern + " " + rowsText,
		Visibility: swagger.Advanced,
		Query:      []string{"wait", "fail_on_failure", "chunk_index", "workspace"},
		Params:     statementQueryDocs(),
		Responses: append([]respDoc{
			{Status: 200, Description: "The statement's status and the rows of the chunk (with wait=true: it is over and succeeded, or fail_on_failure=false).", Schema: reflect.TypeFor[sqlStatement]()},
			{Status: 202, Description: "With wait=true, the statement is still running: poll Location again after Retry-After seconds.", Schema: reflect.TypeFor[sqlStatement](), Headers: []string{"Location", "Retry-After"}},
			{Status: 424, Description: "With wait=true, the statement ended without success (code statement_failed).", Schema: reflect.TypeFor[failedStatement]()},
		}, sqlProblems(400, 401, 403, 404, 429, 502, 503)...),
	}
}

func cancelStatementDoc() *opDoc {
	return &opDoc{
		Summary: "Cancel a statement",
		Description: "Asks Databricks to cancel a running statement and answers with its status after the request. " +
			"Cancellation is asynchronous: the state becomes CANCELED when Databricks has stopped it.",
		Visibility: swagger.Advanced,
		Query:      []string{"workspace"},
		Responses: append([]respDoc{
			{Status: 200, Description: "The statement's status after the cancel request.", Schema: reflect.TypeFor[sqlStatement]()},
		}, sqlProblems(400, 401, 403, 404, 429, 502, 503)...),
	}
}

func listWarehousesDoc() *opDoc {
	return &opDoc{
		Summary: "List SQL warehouses",
		Description: "Lists the SQL warehouses the signed-in user can see (id, name and state), sorted by name. The warehouse " +
			"picker of \"Run a SQL statement\" uses it.",
		Visibility: swagger.Advanced,
		Query:      []string{"workspace"},
		Responses: append([]respDoc{
			{Status: 200, Description: "The SQL warehouses, as a JSON array.", Schema: reflect.TypeFor[warehouseSummary](), Array: true},
		}, sqlProblems(400, 401, 403, 429, 502, 503)...),
	}
}

// sqlProblems documents the statement operations' error answers: those of the job operations, in
// the statement operations' terms where the codes differ.
func sqlProblems(statuses ...int) []respDoc {
	out := problems(statuses...)
	for i := range out {
		switch out[i].Status {
		case 403:
			out[i].Description = "Not allowed: forbidden (Databricks permission, for example no CAN_USE on the warehouse), not_in_workspace, " +
				"consent_required, client_app_not_allowed, user_required (an app-only caller), sql_disabled, free_sql_not_allowed " +
				"(only named statements) or warehouse_not_allowed; detail says who must grant what."
		case 404:
			out[i].Description = "No such statement (statement_not_found), named statement (statement_name_not_found) or SQL warehouse (warehouse_not_found) for this caller."
		case 409:
			out[i].Description = "The warehouse_name matches several SQL warehouses (ambiguous_warehouse_name; detail lists their ids)."
		case 503:
			out[i].Description = "Databricks or Entra ID is not answering (upstream_unavailable), or the same request is still being executed (request_in_progress); retry after Retry-After seconds."
		}
	}
	return out
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
			r.Description = "The job_name matches several jobs (ambiguous_job_name; detail lists their ids), or the idempotency key already belongs to a run of another job (idempotency_conflict)."
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
		"wait": {"type": "boolean", "default": false, "x-ms-summary": "Wait for Completion", "x-ms-visibility": swagger.Important,
			"description": "Wait until the run is over: 202 + Location while it runs (the platform polls), then 200, or 424 if it failed."},
		"include_output": {"type": "boolean", "default": false, "x-ms-summary": "Include Outputs", "x-ms-visibility": swagger.Important,
			"description": "Add the tasks' outputs (notebook exit values, errors) to the answer once the run is over."},
		"fail_on_run_failure": {"type": "boolean", "default": true, "x-ms-summary": "Fail When the Run Fails", "x-ms-visibility": swagger.Advanced,
			"description": "With wait=true: answer 424 when the run ended without success (the step fails). false answers 200 and leaves the check to the flow (see succeeded)."},
		"workspace": {"type": "string", "x-ms-summary": "Workspace", "x-ms-visibility": swagger.Advanced,
			"description": "Name of a configured Databricks workspace (FLOWBRICKS_WORKSPACES); empty means the default workspace."},
		"name": {"type": "string", "x-ms-summary": "Job Name", "x-ms-visibility": swagger.Advanced,
			"description": "Only jobs with exactly this name (ignoring case)."},
		"limit": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000, "x-ms-summary": "Limit", "x-ms-visibility": swagger.Advanced,
			"description": "At most this many jobs (1 to 1000); without it, every job the caller can see, up to 1000."},
		"fail_on_failure": {"type": "boolean", "default": true, "x-ms-summary": "Fail When the Statement Fails", "x-ms-visibility": swagger.Advanced,
			"description": "With wait=true: answer 424 when the statement ended without success (the step fails). false answers 200 and leaves the check to the flow (see succeeded and error)."},
		"chunk_index": {"type": "integer", "format": "int32", "minimum": 0, "default": 0, "x-ms-summary": "Chunk Index", "x-ms-visibility": swagger.Advanced,
			"description": "Which chunk of the result's rows to return, from 0 (see chunk_count and next)."},
	}
}

func headerParameters() map[string]obj {
	return map[string]obj{
		"Idempotency-Key": {"type": "string", "maxLength": databricks.MaxIdempotencyToken, "x-ms-summary": "Idempotency Key", "x-ms-visibility": swagger.Advanced,
			"description": "Requests with the same key start one run only (at most 64 characters). Without it flowbricks derives one from the workflow run and action, so platform retries are safe anyway."},
	}
}

func pathParameters() map[string]obj {
	return map[string]obj{
		"run_id": {"type": "integer", "format": "int64", "x-ms-summary": "Run ID", "x-ms-visibility": swagger.Important,
			"description": "The run's id (run_id in the answer of \"Run a job\")."},
		"statement_id": {"type": "string", "x-ms-summary": "Statement ID", "x-ms-visibility": swagger.Important,
			"description": "The statement's id (statement_id in the answer of \"Run a SQL statement\")."},
	}
}

func responseHeaders() map[string]obj {
	return map[string]obj{
		"Location": {"type": "string", "x-ms-summary": "Location",
			"description": "The absolute URL to poll (GET) next: for the status, or for a trigger the runs that end next; the platform follows it while the answer is 202 (a trigger always), with the connection's sign-in when it is on the connector's host."},
		"Retry-After": {"type": "integer", "x-ms-summary": "Retry After", "description": "Seconds to wait before the next poll or retry."},
		"WWW-Authenticate": {"type": "string", "x-ms-summary": "Authentication Challenge",
			"description": "The Bearer challenge: error, error_description and, for interaction_required, the claims to request."},
	}
}

// definitions are the named schemas of the document and the Go types they reflect. The designer
// shows a definition's description for nested objects.
func definitions() []swagger.Definition {
	return []swagger.Definition{
		{Name: "RunStatus", Type: reflect.TypeFor[runStatus](), Summary: "Run Status", Description: "A run's status: flat and never null (empty string, 0 or [] when Databricks has nothing)."},
		{Name: "FailedRun", Type: reflect.TypeFor[failedRun](), Summary: "Failed Run", Description: "The run status of a run that ended without success, with the problem fields (code run_failed)."},
		{Name: "TaskRun", Type: reflect.TypeFor[databricks.TaskRun](), Summary: "Task Run", Description: "One task of a run."},
		{Name: "RunOutput", Type: reflect.TypeFor[runOutput](), Summary: "Output", Description: "What the tasks of a run produced; present with include_output=true once the run is over."},
		{Name: "TaskOutput", Type: reflect.TypeFor[taskOutput](), Summary: "Task Output", Description: "What one task run produced."},
		{Name: "Job", Type: reflect.TypeFor[jobSummary](), Summary: "Job", Description: "A job the caller can see."},
		{Name: "SQLStatement", Type: reflect.TypeFor[sqlStatement](), Summary: "SQL Statement", Description: "A SQL statement's status, its result's columns and one chunk of typed rows: never null arrays."},
		{Name: "FailedStatement", Type: reflect.TypeFor[failedStatement](), Summary: "Failed Statement", Description: "The status of a statement that ended without success, with the problem fields (code statement_failed)."},
		{Name: "SQLColumn", Type: reflect.TypeFor[sqlColumn](), Summary: "Column", Description: "One column of a statement's result."},
		{Name: "SQLError", Type: reflect.TypeFor[sqlError](), Summary: "Error", Description: "Why the statement failed, in Databricks' words; absent unless it did."},
		{Name: "Warehouse", Type: reflect.TypeFor[warehouseSummary](), Summary: "Warehouse", Description: "A SQL warehouse the caller can see."},
		{Name: "Problem", Type: reflect.TypeFor[problem](), Summary: "Problem", Description: "An error (RFC 9457 problem details, sent as application/problem+json)."},
	}
}

// propertyKeywords are keywords of schema properties that belong to this document rather than
// to a Go type: the job and warehouse pickers, which call the ListJobs and ListWarehouses
// operations, RunStatus's place for idempotency_token among the advanced fields (databricks.Run
// itself knows no designer), and the named statements this deployment defines.
func propertyKeywords(cfg config.Config) map[reflect.Type]map[string]obj {
	kw := map[reflect.Type]map[string]obj{
		reflect.TypeFor[runNowRequest](): {
			"job_id": jobPicker(),
		},
		reflect.TypeFor[runStatus](): {
			"idempotency_token": {"x-ms-visibility": swagger.Advanced},
		},
		reflect.TypeFor[sqlStatementRequest](): {
			// The warehouse picker, like the job picker: ListWarehouses answers a top-level array.
			"warehouse_id": {
				"x-ms-dynamic-values": obj{
					"operationId": "ListWarehouses", "value-path": "id", "value-title": "name",
					"parameters": obj{"workspace": obj{"parameter": "workspace"}},
				},
				"x-ms-dynamic-list": obj{
					"operationId": "ListWarehouses", "itemValuePath": "id", "itemTitlePath": "name",
					"parameters": obj{"workspace": obj{"parameterReference": "workspace"}},
				},
			},
		},
		reflect.TypeFor[sqlParameter](): {
			// Any JSON scalar is accepted; the designer offers a text box, and Databricks receives
			// text in any case.
			"value": {"type": "string"},
		},
		reflect.TypeFor[sqlStatement](): {
			// Each row is an object whose keys are the result's columns, known only at run time.
			"rows": {"items": obj{"type": "object", "additionalProperties": true, "x-ms-summary": "Row",
				"description": "One row: column key → typed value."}},
		},
	}
	maps.Copy(kw[reflect.TypeFor[sqlStatementRequest]()], namedStatementKeywords(cfg))
	return kw
}

// namedStatementKeywords offers the statements of FLOWBRICKS_SQL_STATEMENTS as a list, with
// their descriptions, in the document this deployment serves (the connector imported from it);
// in named mode the SQL text field is hidden, since only names are accepted.
func namedStatementKeywords(cfg config.Config) map[string]obj {
	if len(cfg.SQLStatements) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(cfg.SQLStatements))
	field, _ := reflect.TypeFor[sqlStatementRequest]().FieldByName("StatementName")
	var described []string
	for _, n := range names {
		if d := cfg.SQLStatements[n].Description; d != "" {
			described = append(described, n+": "+d)
		}
	}
	desc := field.Tag.Get("doc")
	if len(described) > 0 {
		desc += " Defined statements — " + strings.Join(described, "; ") + "."
	}
	kw := map[string]obj{"statement_name": {"enum": names, "description": desc}}
	if cfg.SQL == config.SQLNamed {
		kw["statement_name"]["x-ms-visibility"] = swagger.Important
		kw["statement"] = obj{"x-ms-visibility": swagger.Internal}
	}
	return kw
}
