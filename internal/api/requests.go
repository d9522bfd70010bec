package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"

	"github.com/flowbricks/flowbricks/internal/config"
	"github.com/flowbricks/flowbricks/internal/databricks"
	"github.com/flowbricks/flowbricks/internal/redact"
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
	JobName           string            `json:"job_name,omitempty" summary:"Job Name" visibility:"advanced" doc:"The job to run, by its exact name (ignoring case); fails if no job or several jobs have it."`
	JobParameters     map[string]string `json:"job_parameters,omitempty" summary:"Job Parameters" visibility:"important" doc:"Job-level parameters (name → value). Cannot be combined with the task-level parameters below."`
	NotebookParams    map[string]string `json:"notebook_params,omitempty" summary:"Notebook Parameters" visibility:"advanced" doc:"Parameters for notebook tasks (name → value), read with dbutils.widgets.get."`
	PythonParams      []string          `json:"python_params,omitempty" summary:"Python Parameters" visibility:"advanced" doc:"Command-line arguments for Python tasks (ASCII only)."`
	PythonNamedParams map[string]string `json:"python_named_params,omitempty" summary:"Python Named Parameters" visibility:"advanced" doc:"Named parameters for Python wheel tasks (name → value)."`
	JarParams         []string          `json:"jar_params,omitempty" summary:"JAR Parameters" visibility:"advanced" doc:"Command-line arguments for JAR tasks."`
	SQLParams         map[string]string `json:"sql_params,omitempty" summary:"SQL Parameters" visibility:"advanced" doc:"Parameters for SQL tasks (name → value)."`
	Only              []string          `json:"only,omitempty" summary:"Only These Tasks" visibility:"advanced" doc:"Run only these tasks (task keys)."`
	Queue             *bool             `json:"queue,omitempty" summary:"Queue" visibility:"advanced" doc:"Queue the run when the job is at its concurrency limit (true) or skip it (false); the job's setting applies when absent."`
	IdempotencyToken  string            `json:"idempotency_token,omitempty" summary:"Idempotency Token" visibility:"advanced" doc:"Requests with the same token start one run only (at most 64 characters); takes precedence over the Idempotency-Key header."`
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

// Limits of a SQL statement request checked before any upstream call.
const (
	maxStatementParams = 256
	maxSQLNameLength   = 255 // catalog, schema and warehouse names
)

// sqlStatementRequest is the body of POST /api/sql/statements (docs/sql.md).
type sqlStatementRequest struct {
	Statement     string         `json:"statement,omitempty" summary:"SQL Statement" visibility:"important" doc:"The SQL text to run, with named parameter markers such as :region for every value that comes from the flow. Send statement or statement_name."`
	StatementName string         `json:"statement_name,omitempty" summary:"Statement Name" visibility:"advanced" doc:"Run a statement an administrator defined (FLOWBRICKS_SQL_STATEMENTS) by its name instead of sending SQL text."`
	WarehouseID   string         `json:"warehouse_id,omitempty" summary:"SQL Warehouse" visibility:"important" doc:"The SQL warehouse to run on. Send warehouse_id or warehouse_name (a named statement may define its own)."`
	WarehouseName string         `json:"warehouse_name,omitempty" summary:"SQL Warehouse Name" visibility:"advanced" doc:"The SQL warehouse to run on, by its exact name (ignoring case); fails if no warehouse or several have it."`
	Parameters    []sqlParameter `json:"parameters,omitempty" summary:"Parameters" visibility:"important" doc:"Values for the statement's :markers. They are sent to Databricks as statement parameters, never spliced into the SQL text."`
	Catalog       string         `json:"catalog,omitempty" summary:"Catalog" visibility:"advanced" doc:"The default catalog for unqualified table names; empty means the warehouse's default."`
	Schema        string         `json:"schema,omitempty" summary:"Schema" visibility:"advanced" doc:"The default schema for unqualified table names; empty means the warehouse's default."`
	RowLimit      *int64         `json:"row_limit,omitempty" summary:"Row Limit" visibility:"advanced" doc:"At most this many rows (1 to FLOWBRICKS_SQL_MAX_ROWS, which is also the default); truncated says when the result was cut."`
	ByteLimit     *int64         `json:"byte_limit,omitempty" summary:"Byte Limit" visibility:"advanced" doc:"At most this many bytes of result (1 to FLOWBRICKS_SQL_MAX_BYTES, which is also the default); truncated says when the result was cut."`
}

// sqlParameter is one named statement parameter.
type sqlParameter struct {
	Name string `json:"name" summary:"Name" visibility:"important" doc:"The parameter's name: the :marker in the statement without the colon."`
	// Value is a JSON string, number, boolean or null (absent = null, as in Databricks).
	Value json.RawMessage `json:"value,omitempty" summary:"Value" visibility:"important" doc:"The value. Strings, numbers (kept exactly as written), true/false and null are accepted; Databricks converts the text to the type."`
	Type  string          `json:"type,omitempty" summary:"Type" visibility:"advanced" doc:"The Databricks SQL type of the value, for example INT, DATE, TIMESTAMP or DECIMAL(10,2); empty means STRING."`
}

func (q sqlStatementRequest) validate() error {
	switch {
	case q.Statement == "" && q.StatementName == "":
		return invalidRequest("Field statement (or statement_name) is required.")
	case q.Statement != "" && q.StatementName != "":
		return invalidRequest("Send statement or statement_name, not both.")
	case q.StatementName == "" && strings.TrimSpace(q.Statement) == "":
		return invalidRequest("Field statement is blank; send the SQL text to run.")
	case len(q.StatementName) > 64:
		return invalidRequest("Field statement_name is longer than 64 characters.")
	case q.WarehouseID != "" && q.WarehouseName != "":
		return invalidRequest("Send warehouse_id or warehouse_name, not both.")
	case q.WarehouseID != "" && !config.IsWarehouseID(q.WarehouseID):
		return invalidRequest("Field warehouse_id must be a SQL warehouse id (letters, digits, - and _), not %q.", redact.Value(q.WarehouseID))
	case len(q.WarehouseName) > maxSQLNameLength:
		return invalidRequest("Field warehouse_name is longer than %d characters.", maxSQLNameLength)
	case len(q.Catalog) > maxSQLNameLength:
		return invalidRequest("Field catalog is longer than %d characters.", maxSQLNameLength)
	case len(q.Schema) > maxSQLNameLength:
		return invalidRequest("Field schema is longer than %d characters.", maxSQLNameLength)
	case q.RowLimit != nil && *q.RowLimit < 1:
		return invalidRequest("Field row_limit must be a positive integer.")
	case q.ByteLimit != nil && *q.ByteLimit < 1:
		return invalidRequest("Field byte_limit must be a positive integer.")
	case len(q.Parameters) > maxStatementParams:
		return invalidRequest("Field parameters has %d entries; at most %d are allowed.", len(q.Parameters), maxStatementParams)
	}
	seen := make(map[string]bool, len(q.Parameters))
	for i, p := range q.Parameters {
		switch {
		case p.Name == "":
			return invalidRequest("Field parameters[%d].name is required.", i)
		case !config.IsSQLIdentifier(p.Name):
			return invalidRequest("Field parameters[%d].name must be a SQL identifier (letters, digits and _, not starting with a digit), not %q.", i, redact.Value(p.Name))
		case seen[p.Name]:
			return invalidRequest("Parameter %s is given more than once.", p.Name)
		}
		seen[p.Name] = true
		if _, ok := config.SQLTypeName(p.Type); !ok {
			return invalidRequest("Field parameters[%d].type must be a Databricks SQL type name such as INT, DATE or DECIMAL(10,2), not %q.", i, redact.Value(p.Type))
		}
		if _, ok := parameterValue(p.Value); !ok {
			return invalidRequest("Field parameters[%d].value must be a string, a number, true/false or null, not an object or array.", i)
		}
	}
	return nil
}

// parameterValue is the text Databricks receives for a parameter value: a string as it is, a
// number as its exact JSON text (no float64 round trip), a boolean as "true" or "false"; null
// and an absent value are nil (SQL NULL). ok is false for an object or an array.
func parameterValue(raw json.RawMessage) (value *string, ok bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil, true
	}
	var s string
	switch t[0] {
	case '"':
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, false
		}
	case '{', '[':
		return nil, false
	default: // a number, true or false: decode has checked it is valid JSON
		s = string(t)
	}
	return &s, true
}
