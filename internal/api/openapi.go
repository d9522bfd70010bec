package api

// The OpenAPI 2.0 document served at /api/openapi.json is the Power Platform custom connector's
// definition (connector/apiDefinition.swagger.json is a copy of it). It is generated, not
// written: methods, paths and operationIds come from the operation table in routes.go, every
// operation's texts and parameters from its opDoc below, and the schemas of bodies and answers
// by reflection from the Go types the handlers encode, so a field added to databricks.Run shows
// up in the document (and in the connector's dynamic content) without touching this file.
//
// The document is built from plain maps rather than go-openapi/spec's types: it is small, it
// carries x-ms-* extensions at several levels, and a map reads the same as the JSON it becomes.
// go-openapi validates the result in the tests (openapi_test.go).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/flowbricks/flowbricks/internal/azure"
	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
)

// obj is a JSON object of the document.
type obj = map[string]any

// apiVersion is info.version of the document. Change it when an operation or a schema changes in
// a way a flow that uses the connector would notice.
const apiVersion = "1.0"

// Visibility of an operation or parameter in the flow designer (x-ms-visibility).
const (
	important = "important"
	advanced  = "advanced"
)

// opDoc is how one operation of the table appears in the OpenAPI document. Method, path and
// operationId come from the table (routes.go); path parameters from the path pattern.
type opDoc struct {
	Summary     string // the action's title in the designer (sentence case)
	Description string
	Visibility  string       // x-ms-visibility: important or advanced
	Query       []string     // query parameters, names from queryParameters
	Headers     []string     // header parameters, names from headerParameters
	Body        reflect.Type // request body (a struct), nil = none
	BodyName    string       // the body's name in fieldDocs
	Responses   []respDoc
}

// respDoc is one documented answer of an operation.
type respDoc struct {
	Status      int
	Description string
	Schema      reflect.Type // nil = no body
	Array       bool         // the body is a JSON array of Schema
	Headers     []string     // response headers, names from responseHeaders
}

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
		Visibility: important,
		Query:      []string{"wait", "include_output", "fail_on_run_failure", "workspace"},
		Headers:    []string{"Idempotency-Key"},
		Body:       reflect.TypeFor[runNowRequest](),
		BodyName:   "RunNowRequest",
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
		Visibility: important,
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
		Visibility: advanced,
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
		Visibility: advanced,
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
		Visibility: advanced,
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
		"wait": {"type": "boolean", "default": false, "x-ms-summary": "Wait for completion", "x-ms-visibility": important,
			"description": "Wait until the run is over: 202 + Location while it runs (the platform polls), then 200, or 424 if it failed."},
		"include_output": {"type": "boolean", "default": false, "x-ms-summary": "Include outputs", "x-ms-visibility": important,
			"description": "Add the tasks' outputs (notebook exit values, errors) to the answer once the run is over."},
		"fail_on_run_failure": {"type": "boolean", "default": true, "x-ms-summary": "Fail when the run fails", "x-ms-visibility": advanced,
			"description": "With wait=true: answer 424 when the run ended without success (the step fails). false answers 200 and leaves the check to the flow (see succeeded)."},
		"workspace": {"type": "string", "x-ms-summary": "Workspace", "x-ms-visibility": advanced,
			"description": "Name of a configured Databricks workspace (FLOWBRICKS_WORKSPACES); empty means the default workspace."},
		"name": {"type": "string", "x-ms-summary": "Job name", "x-ms-visibility": advanced,
			"description": "Only jobs with exactly this name (ignoring case)."},
		"limit": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000, "x-ms-summary": "Limit", "x-ms-visibility": advanced,
			"description": "At most this many jobs (1 to 1000); without it, every job the caller can see, up to 1000."},
	}
}

func headerParameters() map[string]obj {
	return map[string]obj{
		"Idempotency-Key": {"type": "string", "maxLength": databricks.MaxIdempotencyToken, "x-ms-summary": "Idempotency key", "x-ms-visibility": advanced,
			"description": "Requests with the same key start one run only (at most 64 characters). Without it flowbricks derives one from the workflow run and action, so platform retries are safe anyway."},
	}
}

func pathParameters() map[string]obj {
	return map[string]obj{
		"run_id": {"type": "integer", "format": "int64", "x-ms-summary": "Run ID", "x-ms-visibility": important,
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

// definitionTypes are the named schemas of the document and the Go types they reflect.
func definitionTypes() map[string]reflect.Type {
	return map[string]reflect.Type{
		"RunStatus":  reflect.TypeFor[runStatus](),
		"FailedRun":  reflect.TypeFor[failedRun](),
		"TaskRun":    reflect.TypeFor[databricks.TaskRun](),
		"RunOutput":  reflect.TypeFor[runOutput](),
		"TaskOutput": reflect.TypeFor[taskOutput](),
		"Job":        reflect.TypeFor[jobSummary](),
		"Problem":    reflect.TypeFor[problem](),
	}
}

// definitionDocs describes the named schemas; the designer shows these for nested objects.
func definitionDocs() map[string]string {
	return map[string]string{
		"RunStatus":  "A run's status: flat and never null (empty string, 0 or [] when Databricks has nothing).",
		"FailedRun":  "The run status of a run that ended without success, with the problem fields (code run_failed).",
		"TaskRun":    "One task of a run.",
		"RunOutput":  "What the tasks of a run produced; present with include_output=true once the run is over.",
		"TaskOutput": "What one task run produced.",
		"Job":        "A job the caller can see.",
		"Problem":    "An error (RFC 9457 problem details, sent as application/problem+json).",
	}
}

// fieldDocs describes schema properties, keyed "Definition.field"; "*.field" applies to a field
// of that name in any definition without its own entry. TestSchemasAreDocumented requires one for
// every property.
func fieldDocs() map[string]string {
	return map[string]string{
		// run status
		"*.run_id":            "The run's id.",
		"*.job_id":            "The job's id.",
		"*.run_name":          "The run's name (normally the job's name).",
		"*.state":             "Where the run is: QUEUED, PENDING, RUNNING, TERMINATING, TERMINATED (also BLOCKED, WAITING, SKIPPED, INTERNAL_ERROR).",
		"*.result":            "How the run ended once terminal: SUCCESS, SUCCESS_WITH_FAILURES, FAILED, CANCELED, TIMEDOUT, RUN_EXECUTION_ERROR, …; empty while running.",
		"*.terminal":          "true once the run is over (whatever its result).",
		"*.succeeded":         "true when the run is over and its result is SUCCESS (SUCCESS_WITH_FAILURES is not success).",
		"*.message":           "Databricks' message about the state: why it is queued, or how it ended.",
		"*.run_page_url":      "Link to the run in the Databricks workspace.",
		"*.start_time":        "When the run started (RFC 3339, UTC); empty if it has not.",
		"*.end_time":          "When the run ended (RFC 3339, UTC); empty while running.",
		"*.duration_ms":       "How long the run took, in milliseconds; 0 while running.",
		"*.tasks":             "The run's tasks.",
		"*.idempotency_token": "The idempotency token run-now sent with this run (retries with the same token return this run); empty when a run is read, as Databricks does not return it.",
		"TaskRun.run_id":      "The task run's id (get-output takes this id).",
		"TaskRun.task_key":    "The task's key in the job.",
		"TaskRun.state":       "Where the task run is (as the run's state).",
		"TaskRun.result":      "How the task run ended (as the run's result); empty while running.",
		"TaskRun.duration_ms": "How long the task run took, in milliseconds.",
		// outputs
		"RunOutput.result":       "The notebook exit value of a single-task run; empty for multi-task runs (see tasks).",
		"RunOutput.result_json":  "result parsed, when it is a JSON object or array.",
		"RunOutput.tasks":        "The output of each task run.",
		"RunOutput.truncated":    "true when a task's result is incomplete (see the tasks' truncated).",
		"TaskOutput.task_key":    "The task's key in the job.",
		"TaskOutput.run_id":      "The task run's id.",
		"TaskOutput.result":      "The notebook exit value (dbutils.notebook.exit); Databricks keeps at most its first 5 MB.",
		"TaskOutput.result_json": "result parsed, when it is a JSON object or array.",
		"TaskOutput.truncated":   "true when result is incomplete: Databricks keeps its first 5 MB, and flowbricks returns at most 8 MiB of results per run (in task order).",
		"TaskOutput.error":       "The task's error message, if it failed (long text keeps its beginning and end).",
		"TaskOutput.error_trace": "The error's stack trace, if it failed (long text keeps its beginning and end).",
		// jobs
		"Job.job_id": "The job's id.",
		"Job.name":   "The job's name.",
		// problems
		"*.type":       "A URL documenting the problem.",
		"*.title":      "The HTTP status text.",
		"*.status":     "The HTTP status code.",
		"*.detail":     "What went wrong and what to do, for the person fixing the flow.",
		"*.code":       "flowbricks' stable error code (for example invalid_request, forbidden, run_failed).",
		"*.request_id": "Identifies the request in flowbricks' logs.",
		// run-now body
		"RunNowRequest.job_id":              "The job to run. Send job_id or job_name.",
		"RunNowRequest.job_name":            "The job to run, by its exact name (ignoring case); fails if no job or several jobs have it.",
		"RunNowRequest.job_parameters":      "Job-level parameters (name → value). Cannot be combined with the task-level parameters below.",
		"RunNowRequest.notebook_params":     "Parameters for notebook tasks (name → value), read with dbutils.widgets.get.",
		"RunNowRequest.python_params":       "Command-line arguments for Python tasks (ASCII only).",
		"RunNowRequest.python_named_params": "Named parameters for Python wheel tasks (name → value).",
		"RunNowRequest.jar_params":          "Command-line arguments for JAR tasks.",
		"RunNowRequest.sql_params":          "Parameters for SQL tasks (name → value).",
		"RunNowRequest.only":                "Run only these tasks (task keys).",
		"RunNowRequest.queue":               "Queue the run when the job is at its concurrency limit (true) or skip it (false); the job's setting applies when absent.",
		"RunNowRequest.idempotency_token":   "Requests with the same token start one run only (at most 64 characters); takes precedence over the Idempotency-Key header.",
	}
}

// fieldExtras are further keywords of schema properties, keyed like fieldDocs: the designer's
// titles and visibility for the run-now body, and the job picker.
func fieldExtras() map[string]obj {
	return map[string]obj{
		"RunNowRequest.job_id": {
			"x-ms-summary": "Job", "x-ms-visibility": important,
			// ListJobs answers a top-level array, so there is no value-collection: "If value-collection
			// isn't specified, the response is evaluated as an array" (custom connector docs,
			// openapi-extensions, "Use dynamic values"). The workspace the action names lists that
			// workspace's jobs.
			"x-ms-dynamic-values": obj{
				"operationId": "ListJobs", "value-path": "job_id", "value-title": "name",
				"parameters": obj{"workspace": obj{"parameter": "workspace"}},
			},
			"x-ms-dynamic-list": obj{
				"operationId": "ListJobs", "itemValuePath": "job_id", "itemTitlePath": "name",
				"parameters": obj{"workspace": obj{"parameterReference": "workspace"}},
			},
		},
		"RunNowRequest.job_name":            {"x-ms-summary": "Job name", "x-ms-visibility": advanced},
		"RunNowRequest.job_parameters":      {"x-ms-summary": "Job parameters", "x-ms-visibility": important},
		"RunNowRequest.notebook_params":     {"x-ms-summary": "Notebook parameters", "x-ms-visibility": advanced},
		"RunNowRequest.python_params":       {"x-ms-summary": "Python parameters", "x-ms-visibility": advanced},
		"RunNowRequest.python_named_params": {"x-ms-summary": "Python named parameters", "x-ms-visibility": advanced},
		"RunNowRequest.jar_params":          {"x-ms-summary": "JAR parameters", "x-ms-visibility": advanced},
		"RunNowRequest.sql_params":          {"x-ms-summary": "SQL parameters", "x-ms-visibility": advanced},
		"RunNowRequest.only":                {"x-ms-summary": "Only these tasks", "x-ms-visibility": advanced},
		"RunNowRequest.queue":               {"x-ms-summary": "Queue", "x-ms-visibility": advanced},
		"RunNowRequest.idempotency_token":   {"x-ms-summary": "Idempotency token", "x-ms-visibility": advanced},
		"RunStatus.idempotency_token":       {"x-ms-visibility": advanced},
	}
}

// openAPIDocument builds the document without host and schemes, which depend on the request
// (withPublicBase). It fails only on a programming error: a type the reflection cannot express,
// an operation without its opDoc, or a parameter missing from the catalogues.
func (s *server) openAPIDocument() (obj, error) {
	b := newSchemaBuilder()
	paths := obj{}
	ids := map[string]bool{}
	for _, op := range s.operations() {
		if (op.ID == "") != (op.Doc == nil) {
			return nil, fmt.Errorf("operation %s %s: an operationId and an OpenAPI description go together (ID %q)", op.Method, op.Path, op.ID)
		}
		if op.ID == "" {
			continue
		}
		if ids[op.ID] {
			return nil, fmt.Errorf("operationId %s is used twice", op.ID)
		}
		ids[op.ID] = true
		path, ok := strings.CutPrefix(op.Path, apiPrefix)
		if !ok {
			return nil, fmt.Errorf("operation %s: path %s is not under %s", op.ID, op.Path, apiPrefix)
		}
		o, err := b.operation(op, path)
		if err != nil {
			return nil, fmt.Errorf("operation %s: %w", op.ID, err)
		}
		item, _ := paths[path].(obj)
		if item == nil {
			item = obj{}
			paths[path] = item
		}
		item[strings.ToLower(op.Method)] = o
	}
	if b.err != nil {
		return nil, b.err
	}

	authority := strings.TrimRight(s.Config.AuthorityHost, "/")
	if authority == "" {
		authority = strings.TrimRight(azure.PublicAuthorityHost, "/")
	}
	scope := s.Config.Scope
	if scope == "" {
		scope = config.DefaultScope
	}
	return obj{
		"swagger": "2.0",
		"info": obj{
			"title":   "flowbricks",
			"version": apiVersion,
			"description": "Run Azure Databricks jobs from Power Automate, Power Apps and Logic Apps as the signed-in user. " +
				"flowbricks validates the Microsoft Entra ID token of the connection, exchanges it On-Behalf-Of for an " +
				"Azure Databricks token and calls the Jobs API: Databricks' own permissions decide what each user may run " +
				"or see. \"Run a job\" can wait for the run to finish (asynchronous pattern) and return the notebook result.",
		},
		"basePath":    apiPrefix,
		"consumes":    []string{"application/json"},
		"produces":    []string{"application/json"},
		"paths":       paths,
		"definitions": b.defs,
		"securityDefinitions": obj{
			"oauth2": obj{
				"type":             "oauth2",
				"flow":             "accessCode",
				"authorizationUrl": authority + "/common/oauth2/authorize",
				"tokenUrl":         authority + "/common/oauth2/token",
				"scopes": obj{
					scope: "Run and read Azure Databricks jobs as the signed-in user.",
				},
			},
		},
		"security": []obj{{"oauth2": []string{scope}}},
		"x-ms-capabilities": obj{
			// A cheap call that proves the connection works end to end (token, exchange, workspace).
			"testConnection": obj{"operationId": "ListJobs", "parameters": obj{"limit": 1}},
		},
		"x-ms-connector-metadata": []obj{
			{"propertyName": "Website", "propertyValue": "https://github.com/flowbricks/flowbricks"},
			{"propertyName": "Categories", "propertyValue": "Data;IT Operations"},
		},
	}, nil
}

// apiPrefix is the Functions route prefix every documented operation lives under (basePath).
const apiPrefix = "/api"

// withPublicBase returns doc with the host, scheme and base path flows reach flowbricks at. doc
// itself is shared and not modified. Without a public base the document has no host and no
// schemes: Swagger 2.0 then means "the host (and scheme) serving the documentation", which is
// right for a local stack and, unlike the request's Host, cannot be chosen by a client.
func withPublicBase(doc obj, publicBase string) (obj, error) {
	if publicBase == "" {
		return doc, nil
	}
	u, err := url.Parse(publicBase)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("the public base URL %q is not an absolute URL", publicBase)
	}
	out := make(obj, len(doc)+2)
	for k, v := range doc {
		out[k] = v
	}
	out["host"] = u.Host
	out["schemes"] = []string{u.Scheme}
	out["basePath"] = strings.TrimRight(u.Path, "/") + apiPrefix
	return out, nil
}

func (s *server) handleOpenAPI() http.HandlerFunc {
	// Built on first use: the document is derived from operations(), which includes this handler.
	var once sync.Once
	var doc obj
	var err error
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { doc, err = s.openAPIDocument() })
		if err != nil {
			writeProblem(w, r, fmt.Errorf("building the OpenAPI document: %w", err))
			return
		}
		served, err := withPublicBase(doc, s.publicBase())
		if err != nil {
			writeProblem(w, r, err)
			return
		}
		respond(w, r, http.StatusOK, served)
	}
}

// --- operations ------------------------------------------------------------------------------

var pathParamPattern = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

func (b *schemaBuilder) operation(op operation, path string) (obj, error) {
	d := op.Doc
	if d.Summary == "" || d.Description == "" || d.Visibility == "" {
		return nil, fmt.Errorf("summary, description and visibility are required")
	}
	var params []obj
	catalogues := []struct {
		in    string
		names []string
		known map[string]obj
	}{
		{"path", pathParamNames(path), pathParameters()},
		{"query", d.Query, queryParameters()},
		{"header", d.Headers, headerParameters()},
	}
	for _, c := range catalogues {
		for _, name := range c.names {
			p, ok := c.known[name]
			if !ok {
				return nil, fmt.Errorf("%s parameter %q is not described (openapi.go)", c.in, name)
			}
			param := obj{"name": name, "in": c.in, "required": c.in == "path"}
			for k, v := range p {
				param[k] = v
			}
			params = append(params, param)
		}
	}
	if d.Body != nil {
		schema, err := b.inline(d.Body, d.BodyName)
		if err != nil {
			return nil, err
		}
		params = append(params, obj{
			"name": "body", "in": "body", "required": true, "schema": schema,
			"x-ms-summary": "Request", "description": "The request.",
		})
	}

	responses := obj{}
	for _, r := range d.Responses {
		resp := obj{"description": r.Description}
		if r.Schema != nil {
			schema := b.schema(r.Schema)
			if r.Array {
				schema = obj{"type": "array", "items": schema}
			}
			resp["schema"] = schema
		}
		if len(r.Headers) > 0 {
			headers := obj{}
			known := responseHeaders()
			for _, h := range r.Headers {
				hd, ok := known[h]
				if !ok {
					return nil, fmt.Errorf("response header %q is not described (openapi.go)", h)
				}
				headers[h] = hd
			}
			resp["headers"] = headers
		}
		responses[strconv.Itoa(r.Status)] = resp
	}
	responses["default"] = obj{
		"description": "Any other error (for example internal_error or misconfigured, 500).",
		"schema":      b.schema(reflect.TypeFor[problem]()),
	}

	o := obj{
		"operationId":     op.ID,
		"summary":         d.Summary,
		"description":     d.Description,
		"x-ms-visibility": d.Visibility,
		"responses":       responses,
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	return o, nil
}

func pathParamNames(path string) []string {
	var names []string
	for _, m := range pathParamPattern.FindAllStringSubmatch(path, -1) {
		names = append(names, m[1])
	}
	return names
}

// --- schemas by reflection -------------------------------------------------------------------

// schemaBuilder turns Go types into Swagger 2.0 schemas the way encoding/json marshals them:
// json tag names, "-" skipped, embedded structs flattened. Named types (definitionTypes) become
// definitions referenced with $ref; everything else is inlined.
type schemaBuilder struct {
	names   map[reflect.Type]string
	defs    obj
	docs    map[string]string
	extras  map[string]obj
	defDocs map[string]string
	err     error // the first type that could not be expressed
}

func newSchemaBuilder() *schemaBuilder {
	b := &schemaBuilder{names: map[reflect.Type]string{}, defs: obj{}, docs: fieldDocs(), extras: fieldExtras(), defDocs: definitionDocs()}
	for name, t := range definitionTypes() {
		b.names[t] = name
	}
	return b
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// schema returns the schema of t: a $ref for a named definition (built on first use).
func (b *schemaBuilder) schema(t reflect.Type) obj {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := b.names[t]; ok {
		if _, built := b.defs[name]; !built {
			b.defs[name] = obj{} // placeholder: a type may refer to itself
			def, err := b.object(t, name)
			if err != nil && b.err == nil {
				b.err = err
			}
			if d := b.defDocs[name]; d != "" {
				def["description"] = d
			}
			b.defs[name] = def
		}
		return obj{"$ref": "#/definitions/" + name}
	}
	if t == rawMessageType {
		return obj{} // any JSON value
	}
	switch t.Kind() {
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return obj{"type": "integer", "format": "int32"}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number", "format": "double"}
	case reflect.Slice, reflect.Array:
		return obj{"type": "array", "items": b.schema(t.Elem())}
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			return obj{"type": "object", "additionalProperties": b.schema(t.Elem())}
		}
	case reflect.Struct:
		s, err := b.object(t, t.Name())
		if err != nil && b.err == nil {
			b.err = err
		}
		return s
	}
	if b.err == nil {
		b.err = fmt.Errorf("no OpenAPI schema for Go type %s", t)
	}
	return obj{}
}

// inline returns the object schema of struct t, named name for fieldDocs, without a definition.
func (b *schemaBuilder) inline(t reflect.Type, name string) (obj, error) {
	s, err := b.object(t, name)
	if err == nil {
		err = b.err
	}
	return s, err
}

// object is the schema of struct t; name keys its fields' docs and extras.
func (b *schemaBuilder) object(t reflect.Type, name string) (obj, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s: want a struct, got %s", name, t)
	}
	props := obj{}
	for _, f := range jsonFields(t) {
		p := b.schema(f.typ)
		if _, isRef := p["$ref"]; isRef {
			// Swagger 2.0 ignores keywords next to $ref: the referenced definition carries them.
			props[f.name] = p
			continue
		}
		p = cloneObj(p)
		p["x-ms-summary"] = summaryOf(f.name)
		if d := b.lookupDoc(name, f.name); d != "" {
			p["description"] = d
		}
		for k, v := range b.extras[name+"."+f.name] {
			p[k] = v
		}
		props[f.name] = p
	}
	return obj{"type": "object", "properties": props}, nil
}

func (b *schemaBuilder) lookupDoc(def, field string) string {
	if d, ok := b.docs[def+"."+field]; ok {
		return d
	}
	return b.docs["*."+field]
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the fields encoding/json writes for struct t, in order: exported fields by
// their json name, embedded structs without a tag flattened (an outer field wins over a field of
// the same name further in, as in encoding/json).
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	seen := map[string]bool{}
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		seen[name] = true
		out = append(out, jsonField{name, f.Type})
	}
	for _, et := range embedded {
		for _, f := range jsonFields(et) {
			if !seen[f.name] {
				seen[f.name] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// summaryOf makes a designer title (x-ms-summary) of a JSON field name: run_page_url → Run Page URL.
func summaryOf(field string) string {
	words := strings.Split(field, "_")
	for i, w := range words {
		switch w {
		case "id", "url", "json", "sql", "jar":
			words[i] = strings.ToUpper(w)
		case "ms":
			words[i] = "(ms)"
		default:
			if w != "" {
				words[i] = strings.ToUpper(w[:1]) + w[1:]
			}
		}
	}
	return strings.Join(slices.DeleteFunc(words, func(w string) bool { return w == "" }), " ")
}

func cloneObj(o obj) obj {
	c := make(obj, len(o)+3)
	for k, v := range o {
		c[k] = v
	}
	return c
}
