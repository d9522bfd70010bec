package fakeworkspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// ErrTokenExpired may be wrapped by a Config.Verify error to make the fake answer 401 "Token is expired"
// (what Azure Databricks says for an expired Entra token) instead of "Invalid access token.".
var ErrTokenExpired = errors.New("fakeworkspace: token is expired")

// Principal is who a bearer token belongs to.
type Principal struct {
	UPN   string // user principal name (users)
	OID   string // Entra object id
	AppID string // application (client) id: the principal itself for app tokens, the client for user tokens
	App   bool   // app-only token: the principal is the service principal AppID
	// ExpiresAt is the token's exp; zero when unknown. A token that expires within 30 seconds is
	// refused (see RejectExpiring).
	ExpiresAt time.Time
}

// name is how the workspace knows the principal: the UPN of a user, the application id of a service principal.
func (p Principal) name() string {
	if p.App {
		return p.AppID
	}
	return p.UPN
}

// Config describes the workspace: who is in it, which jobs exist and how their runs behave.
type Config struct {
	// Verify checks a bearer token (signature, issuer, audience 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d — the
	// AzureDatabricks app — and expiry) and says who it is. Provided by the devstack (backed by the fake Entra ID). An error answers 401. Required.
	Verify func(token string) (Principal, error) `json:"-"`

	// Users are the workspace's users by UPN (case-insensitive); ServicePrincipals its service principals
	// by application id. A valid token whose principal is in neither list gets Databricks' Jetty HTML
	// 403 "User not authorized" page, like a real workspace for an Entra identity never added to it.
	Users             []string `json:"users"`
	ServicePrincipals []string `json:"service_principals"`
	// Admins (UPNs or application ids, who must also be workspace principals) have CAN_MANAGE on all jobs.
	Admins []string `json:"admins"`

	Jobs []Job `json:"jobs"`
	// FillerJobs adds N extra simple succeeding jobs (ids 9001…, names "filler-job-001"…, CAN_VIEW for the
	// built-in "users" group, i.e. every workspace principal) so list paging can be tested.
	FillerJobs int `json:"filler_jobs"`

	// WorkspaceID is the numeric workspace id used in run_page_url (?o=…) and the X-Databricks-Org-Id
	// header. Default 1234567890123456.
	WorkspaceID int64 `json:"workspace_id,omitempty"`
	// FirstRunID is the first run id handed out. Default 412000000000001: real run ids are above 2^32, so
	// code that squeezes them into 32 bits fails here too.
	FirstRunID int64 `json:"first_run_id,omitempty"`

	// SQL is the workspace's Databricks SQL side: warehouses, Unity Catalog tables and grants, served
	// through the Statement Execution API (sql_*.go). nil = no warehouses and no tables.
	SQL *SQLConfig `json:"sql,omitempty"`

	// Now is the clock runs and statements progress on. Default time.Now.
	Now func() time.Time `json:"-"`
	// HostURL is the base URL used for run_page_url, e.g. https://127.0.0.1:8443. Default: taken from
	// each request (scheme and Host).
	HostURL string `json:"-"`
}

// SQLConfig describes the SQL warehouses and the Unity Catalog tables statements read.
type SQLConfig struct {
	Warehouses []Warehouse `json:"warehouses"`
	Tables     []Table     `json:"tables"`
	// DefaultCatalog and DefaultSchema resolve one- and two-level table names when a request names no
	// catalog or schema. A real warehouse's default catalog is the workspace's default catalog
	// (hive_metastore unless an admin changed it or the workspace was enabled for Unity Catalog
	// automatically); the schema defaults to "default". Defaults: hive_metastore, default.
	DefaultCatalog string `json:"default_catalog,omitempty"`
	DefaultSchema  string `json:"default_schema,omitempty"`
	// ChunkRows is the most rows one result chunk holds. Default 100.
	ChunkRows int `json:"chunk_rows,omitempty"`
	// ResultTTLMs is how long (on the fake's clock) a SUCCEEDED statement's result stays readable before
	// the statement is CLOSED. Default one hour: "The results are only available for one hour after
	// success" (StatementExecutionAPI, databricks-sdk-go service/sql/api.go).
	ResultTTLMs int64 `json:"result_ttl_ms,omitempty"`
}

// Warehouse permission levels, lowest first. A statement needs CAN_USE or higher; the warehouse list
// shows the warehouses the caller has any level on.
// CAN_VIEW, IS_OWNER and CAN_MANAGE are the job levels' constants below.
const (
	CanMonitor = "CAN_MONITOR"
	CanUse     = "CAN_USE"
)

// Warehouse is one SQL warehouse.
type Warehouse struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// State at start-up: RUNNING (default) or STOPPED. A STOPPED warehouse starts when a statement
	// arrives: STARTING for StartMs of the fake's clock (its statements PENDING meanwhile), then RUNNING.
	State   string `json:"state,omitempty"`
	StartMs int    `json:"start_ms,omitempty"`
	// ACL maps a principal (UPN or application id, case-insensitive, or the group "users") to CAN_VIEW,
	// CAN_MONITOR, CAN_USE, IS_OWNER or CAN_MANAGE.
	ACL         map[string]string `json:"acl"`
	CreatorName string            `json:"creator_name,omitempty"`
}

// Table is one Unity Catalog table.
type Table struct {
	// Name is the three-level name catalog.schema.table (case-insensitive).
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	// Rows are the table's rows, one JSON value per column: numbers or strings for numeric columns,
	// true/false for BOOLEAN, strings for DATE ("2026-11-28") and TIMESTAMP ("2026-11-28T10:15:00.000Z"),
	// JSON arrays and objects for ARRAY, MAP and STRUCT, base64 strings for BINARY, null for NULL.
	Rows [][]json.RawMessage `json:"rows,omitempty"`
	// Generate fills the table from a built-in generator instead of Rows.
	Generate *Generator `json:"generate,omitempty"`
	// Grants maps a principal (or the group "users") to its privileges on the table; SELECT is the one
	// statements need.
	Grants map[string][]string `json:"grants"`
}

// Column is one column of a table: a name and a Databricks type as written in SQL, e.g. BIGINT,
// DECIMAL(10,2), ARRAY<STRING>, STRUCT<id: INT, tier: STRING>.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Generator makes deterministic rows. Kind "sales_orders" knows the columns order_id, quantity, amount,
// discount, region, express, order_date, created_at, tags and customer (see sql_fixture.go).
type Generator struct {
	Kind string `json:"kind"`
	Rows int    `json:"rows"`
}

// Permission levels of a job ACL, lowest first.
const (
	CanView      = "CAN_VIEW"
	CanManageRun = "CAN_MANAGE_RUN"
	IsOwner      = "IS_OWNER"
	CanManage    = "CAN_MANAGE"
)

// AllUsersGroup is the ACL key of Databricks' built-in group that holds every workspace principal.
const AllUsersGroup = "users"

var permRank = map[string]int{CanView: 1, CanManageRun: 2, IsOwner: 3, CanManage: 4}

// Job is one job of the workspace.
type Job struct {
	JobID int64  `json:"job_id"`
	Name  string `json:"name"`
	// Creator is the job's creator_user_name (and run_as_user_name). Default: the IS_OWNER principal of
	// the ACL, else the first admin.
	Creator string `json:"creator_user_name,omitempty"`
	// ACL maps a principal (UPN or application id, case-insensitive, or the group "users") to CAN_VIEW,
	// CAN_MANAGE_RUN, IS_OWNER or CAN_MANAGE. run-now, cancel and repair need CAN_MANAGE_RUN or higher;
	// get, list, runs/get, runs/get-output and runs/list need CAN_VIEW or higher.
	ACL map[string]string `json:"acl"`
	// Tasks: one task is a single-task job. At most 100 (the fake does not page task arrays).
	Tasks []Task `json:"tasks"`
	// Parameters are job-level parameter definitions (name → default value); run-now's job_parameters
	// override them.
	Parameters map[string]string `json:"parameters,omitempty"`
	// Phase durations of a run in milliseconds: QUEUED, PENDING (cluster start), RUNNING (all tasks),
	// TERMINATING; then TERMINATED. Tasks run in dependency levels that share RunningMs equally.
	QueuedMs      int `json:"queued_ms"`
	PendingMs     int `json:"pending_ms"`
	RunningMs     int `json:"running_ms"`
	TerminatingMs int `json:"terminating_ms"`
	// MaxConcurrentRuns limits the job's active runs; further runs wait in QUEUED (or are skipped when
	// run-now says queue.enabled=false). 0 = unlimited in the fake (a real 0 would skip every run).
	MaxConcurrentRuns int `json:"max_concurrent_runs"`
}

// Task is one task of a job and how its runs end.
type Task struct {
	TaskKey   string   `json:"task_key"`
	DependsOn []string `json:"depends_on,omitempty"`
	// Result is the final result_state of the task: SUCCESS (default) or FAILED.
	Result string `json:"result"`
	// FailAttempts makes the task fail on its first FailAttempts attempts (attempt_number 0 is the run's
	// first attempt, each repair that reruns the task adds one) and end with Result afterwards: a flaky
	// task that a repair fixes.
	FailAttempts int `json:"fail_attempts,omitempty"`
	// NotebookOutput is the dbutils.notebook.exit value of a successful run of the task.
	NotebookOutput string `json:"notebook_output,omitempty"`
	// Error and ErrorTrace are what get-output reports for a failed run of the task.
	Error      string `json:"error,omitempty"`
	ErrorTrace string `json:"error_trace,omitempty"`
}

// resultOn is how the task's attempt number attempt ends.
func (t Task) resultOn(attempt int) string {
	if attempt < t.FailAttempts {
		return ResultFailed
	}
	return t.Result
}

// Task results a fixture may choose.
const (
	ResultSuccess = "SUCCESS"
	ResultFailed  = "FAILED"
)

const (
	defaultWorkspaceID = 1234567890123456
	defaultFirstRunID  = 412000000000001
	fillerFirstJobID   = 9001
	maxTasksPerJob     = 100
)

// DecodeConfig reads a JSON fixture (the shape of testdata/workspace.json). Unknown fields are an error so
// that a typo in a fixture does not silently change behaviour. Verify, Now and HostURL are not part of the
// fixture; set them on the result.
func DecodeConfig(r io.Reader) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("fakeworkspace: decode fixture: %w", err)
	}
	return cfg, nil
}

// job is the validated, immutable form of a Job plus its derived task plan.
type job struct {
	Job
	created int64          // created_time, epoch ms
	acl     map[string]int // lower-cased principal → rank
	levels  []int          // dependency level of each task (index = task index)
	nLevels int
	byKey   map[string]int
	// run queue state (guarded by Server.mu)
	waiting []*run // runs waiting for a slot, FIFO (MaxConcurrentRuns > 0 only)
	slots   []*run // runs holding or having held a slot, pruned as they stop mattering
}

func buildJobs(cfg *Config, now time.Time) ([]*job, error) {
	all := append([]Job(nil), cfg.Jobs...)
	if cfg.FillerJobs < 0 {
		return nil, fmt.Errorf("fakeworkspace: filler_jobs must be >= 0, got %d", cfg.FillerJobs)
	}
	for i := 1; i <= cfg.FillerJobs; i++ {
		all = append(all, Job{
			JobID:         int64(fillerFirstJobID + i - 1),
			Name:          fmt.Sprintf("filler-job-%03d", i),
			ACL:           map[string]string{AllUsersGroup: CanView},
			Tasks:         []Task{{TaskKey: "main", Result: ResultSuccess}},
			PendingMs:     200,
			RunningMs:     500,
			TerminatingMs: 100,
		})
	}
	seen := map[int64]bool{}
	jobs := make([]*job, 0, len(all))
	for i := range all {
		j := all[i]
		j.Tasks = append([]Task(nil), j.Tasks...) // planTasks normalises results; leave the caller's config alone
		if j.JobID <= 0 {
			return nil, fmt.Errorf("fakeworkspace: job %q: job_id must be > 0", j.Name)
		}
		if seen[j.JobID] {
			return nil, fmt.Errorf("fakeworkspace: job id %d is used twice (filler jobs use %d…)", j.JobID, fillerFirstJobID)
		}
		seen[j.JobID] = true
		if strings.TrimSpace(j.Name) == "" {
			return nil, fmt.Errorf("fakeworkspace: job %d: name is required", j.JobID)
		}
		if j.QueuedMs < 0 || j.PendingMs < 0 || j.RunningMs < 0 || j.TerminatingMs < 0 || j.MaxConcurrentRuns < 0 {
			return nil, fmt.Errorf("fakeworkspace: job %d: durations and max_concurrent_runs must be >= 0", j.JobID)
		}
		jj := &job{Job: j, acl: map[string]int{}, byKey: map[string]int{}}
		for p, lvl := range j.ACL {
			r, ok := permRank[lvl]
			if !ok {
				return nil, fmt.Errorf("fakeworkspace: job %d: ACL level %q for %q is not one of CAN_VIEW, CAN_MANAGE_RUN, IS_OWNER, CAN_MANAGE", j.JobID, lvl, p)
			}
			jj.acl[strings.ToLower(p)] = r
		}
		if err := jj.planTasks(); err != nil {
			return nil, err
		}
		if jj.Creator == "" {
			jj.Creator = defaultCreator(j.ACL, cfg.Admins)
		}
		// A stable, plausible creation time: a month before start-up, one minute apart in id order.
		jj.created = now.Add(-30*24*time.Hour).UnixMilli() + int64(i)*60_000
		jobs = append(jobs, jj)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].JobID < jobs[b].JobID })
	return jobs, nil
}

func defaultCreator(acl map[string]string, admins []string) string {
	var owners []string
	for p, lvl := range acl {
		if lvl == IsOwner {
			owners = append(owners, p)
		}
	}
	sort.Strings(owners)
	if len(owners) > 0 {
		return owners[0]
	}
	if len(admins) > 0 {
		return admins[0]
	}
	return ""
}

// planTasks validates the task graph and assigns each task its dependency level (0 = no dependencies).
func (j *job) planTasks() error {
	if len(j.Tasks) == 0 {
		return fmt.Errorf("fakeworkspace: job %d: at least one task is required", j.JobID)
	}
	if len(j.Tasks) > maxTasksPerJob {
		return fmt.Errorf("fakeworkspace: job %d: %d tasks; the fake does not page task arrays, keep it <= %d", j.JobID, len(j.Tasks), maxTasksPerJob)
	}
	for i := range j.Tasks {
		t := &j.Tasks[i]
		if t.TaskKey == "" {
			return fmt.Errorf("fakeworkspace: job %d: task %d has no task_key", j.JobID, i)
		}
		if _, dup := j.byKey[t.TaskKey]; dup {
			return fmt.Errorf("fakeworkspace: job %d: task_key %q is used twice", j.JobID, t.TaskKey)
		}
		j.byKey[t.TaskKey] = i
		switch t.Result {
		case "":
			t.Result = ResultSuccess
		case ResultSuccess, ResultFailed:
		default:
			return fmt.Errorf("fakeworkspace: job %d task %q: result must be SUCCESS or FAILED, got %q", j.JobID, t.TaskKey, t.Result)
		}
		if t.FailAttempts < 0 {
			return fmt.Errorf("fakeworkspace: job %d task %q: fail_attempts must be >= 0, got %d", j.JobID, t.TaskKey, t.FailAttempts)
		}
	}
	for _, t := range j.Tasks {
		for _, d := range t.DependsOn {
			if _, ok := j.byKey[d]; !ok {
				return fmt.Errorf("fakeworkspace: job %d task %q depends on unknown task %q", j.JobID, t.TaskKey, d)
			}
		}
	}
	// Longest-path levels with cycle detection (0 = unvisited, 1 = in progress, 2 = done).
	j.levels = make([]int, len(j.Tasks))
	mark := make([]int, len(j.Tasks))
	var visit func(i int) error
	visit = func(i int) error {
		switch mark[i] {
		case 1:
			return fmt.Errorf("fakeworkspace: job %d: task dependencies form a cycle through %q", j.JobID, j.Tasks[i].TaskKey)
		case 2:
			return nil
		}
		mark[i] = 1
		lvl := 0
		for _, d := range j.Tasks[i].DependsOn {
			di := j.byKey[d]
			if err := visit(di); err != nil {
				return err
			}
			lvl = max(lvl, j.levels[di]+1)
		}
		j.levels[i] = lvl
		mark[i] = 2
		return nil
	}
	for i := range j.Tasks {
		if err := visit(i); err != nil {
			return err
		}
	}
	for _, l := range j.levels {
		j.nLevels = max(j.nLevels, l+1)
	}
	return nil
}

func lowerSet(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[strings.ToLower(strings.TrimSpace(x))] = true
	}
	return m
}
