package recipes

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbricks/flowbricks/connector"
)

// A Logic Apps / Power Automate run name as the platform makes them (workflow().run.name).
const runName = "08584640093411628374619232715CU21"

var stackEnv = Env{
	BaseURL:     "http://127.0.0.1:7071",
	APIClientID: "f10b61c5-0000-4000-8000-00000000a001",
	RunName:     runName,
	Now:         time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC),
}

func TestTheRecipes(t *testing.T) {
	type want struct {
		caller, action string
		what           Kind
		kind           AuthKind
		audience       string
		query          url.Values
		headers        []string
		async          bool
		poll           bool
		rowFields      []string // SQL: the row fields the recipe reads
		trigger        *Trigger // repair: the polling trigger (URI, kind and audience only; the rest is checked for every trigger)
	}
	tests := map[string]want{
		"power-automate-connector.json": {
			caller: "power-automate", action: "Run_job_and_wait", what: KindJob, kind: AuthConnector, audience: APIAudience,
			query:   url.Values{"wait": {"true"}, "include_output": {"true"}},
			headers: []string{"Content-Type", "Idempotency-Key"}, async: true,
		},
		"power-automate-http-entra.json": {
			// A connector action does not send its token when following Location (Azure/logicapps#611),
			// so this flow starts the run without wait and polls it itself.
			caller: "power-automate", action: "Start_job_run", what: KindJob, kind: AuthEntraDelegated, audience: APIAudience,
			query:   url.Values{},
			headers: []string{"Content-Type", "Idempotency-Key"}, async: false, poll: true,
		},
		"logic-app-managed-identity.json": {
			caller: "logic-apps", action: "Run_Databricks_job", what: KindJob, kind: AuthManagedIdentity, audience: APIAudience,
			query:   url.Values{"wait": {"true"}, "include_output": {"true"}},
			headers: []string{"Content-Type"}, async: true,
		},
		"power-automate-connector-sql.json": {
			caller: "power-automate", action: "Run_a_SQL_statement", what: KindSQL, kind: AuthConnector, audience: APIAudience,
			query:   url.Values{"wait": {"true"}},
			headers: []string{"Content-Type", "Idempotency-Key"}, async: true,
			rowFields: []string{"items", "manager", "orders", "region"},
		},
		"logic-app-http-entra-sql.json": {
			// SQL needs a user, so not the managed identity of the job recipe: an HTTP with Microsoft
			// Entra ID connection, which, like the Power Automate one, does not send its token when
			// following Location (Azure/logicapps#611); the workflow polls itself.
			caller: "logic-apps", action: "Run_SQL_statement", what: KindSQL, kind: AuthEntraDelegated, audience: APIAudience,
			query:   url.Values{},
			headers: []string{"Content-Type", "Idempotency-Key"}, async: false, poll: true,
			rowFields: []string{"items", "manager", "orders", "region"},
		},
		"power-automate-connector-repair.json": {
			// The connector's trigger and action; the flow repairs a failed run once.
			caller: "power-automate", action: "Repair_a_failed_run", what: KindRepair, kind: AuthConnector, audience: APIAudience,
			query:   url.Values{"wait": {"true"}, "include_output": {"true"}},
			headers: []string{"Content-Type", "Idempotency-Key"}, async: true,
			trigger: &Trigger{URI: HostPlaceholder + "/api/jobs/runs/ended?job_id=105&result=failed", AuthKind: AuthConnector, Audience: APIAudience},
		},
		"logic-app-http-trigger-repair.json": {
			// Logic Apps' built-in HTTP trigger polls the same endpoint with the managed identity,
			// an app caller like the job recipe's.
			caller: "logic-apps", action: "Repair_the_run", what: KindRepair, kind: AuthManagedIdentity, audience: APIAudience,
			query:   url.Values{"wait": {"true"}},
			headers: []string{"Content-Type"}, async: true,
			trigger: &Trigger{URI: HostPlaceholder + "/api/jobs/runs/ended?job_id=105&result=failed", AuthKind: AuthManagedIdentity, Audience: APIAudience},
		},
	}

	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var names []string
	for name := range tests {
		names = append(names, name)
	}
	slices.Sort(names)
	if !slices.Equal(files, names) {
		t.Fatalf("recipes in this directory %v, tested %v: every recipe needs its expectations here", files, names)
	}

	for file, w := range tests {
		t.Run(file, func(t *testing.T) {
			r, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if r.Caller != w.caller || r.Action != w.action || r.Kind != w.what || r.AuthKind != w.kind || r.Audience != w.audience {
				t.Errorf("caller %q action %q kind %q auth %q audience %q, want %q %q %q %q %q", r.Caller, r.Action, r.Kind, r.AuthKind, r.Audience,
					w.caller, w.action, w.what, w.kind, w.audience)
			}
			path := map[Kind]string{KindJob: "/api/jobs/run-now", KindSQL: "/api/sql/statements", KindRepair: "/api/jobs/runs/{run_id}/repair"}[w.what]
			u, err := url.Parse(strings.Replace(r.URI, HostPlaceholder, "https://flowbricks.example", 1))
			if err != nil || r.Method != "POST" || !strings.HasPrefix(r.URI, HostPlaceholder+path) || u.Path != path {
				t.Errorf("%s %s, want POST %s%s", r.Method, r.URI, HostPlaceholder, path)
			}
			if q := u.Query(); !equalValues(q, w.query) {
				t.Errorf("query %v, want %v", q, w.query)
			}
			var headers []string
			for h := range r.Headers {
				headers = append(headers, h)
			}
			slices.Sort(headers)
			if !slices.Equal(headers, w.headers) {
				t.Errorf("headers %v, want %v", headers, w.headers)
			}
			if r.Headers["Content-Type"] != "application/json" {
				t.Errorf("Content-Type %q", r.Headers["Content-Type"])
			}
			if r.AsyncPattern != w.async || (r.Poll != nil) != w.poll {
				t.Errorf("async pattern %v, own polling %v; want %v, %v", r.AsyncPattern, r.Poll != nil, w.async, w.poll)
			}

			// The retry policy is explicit, and within what Logic Apps allows.
			if r.RetryPolicy.Type != "exponential" || r.RetryCount != 4 || r.RetryPolicy.Interval != 7*time.Second ||
				r.RetryPolicy.MinimumInterval < 5*time.Second || r.RetryPolicy.MaximumInterval < r.RetryPolicy.MinimumInterval {
				t.Errorf("retry policy %+v, want exponential, 4 retries, PT7S", r.RetryPolicy)
			}
			if r.Timeout <= 0 && (r.Poll == nil || r.Poll.Timeout <= 0) {
				t.Error("nothing bounds how long the workflow waits for the run (limit.timeout)")
			}

			checkBody(t, path, r.Body)
			if w.what == KindSQL {
				checkStatementBody(t, r.Body)
				if r.Rows == nil || !slices.Equal(r.Rows.Fields, w.rowFields) {
					t.Errorf("rows read %+v, want the fields %v", r.Rows, w.rowFields)
				}
			} else if r.Rows != nil {
				t.Errorf("a job recipe reads rows: %+v", r.Rows)
			}
			checkTrigger(t, r, w.trigger)

			res, err := r.Resolve(stackEnv)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.URI, stackEnv.BaseURL+path) || (r.Trigger != nil && !strings.HasPrefix(res.Trigger.URI, stackEnv.BaseURL+"/api/")) {
				t.Errorf("resolved URI %s", res.URI)
			}
			if res.Audience != "api://"+stackEnv.APIClientID {
				t.Errorf("resolved audience %s", res.Audience)
			}
			if key, ok := res.Headers["Idempotency-Key"]; ok {
				if key != runName+"-"+r.Action {
					t.Errorf("Idempotency-Key %q, want the run name and the action's name", key)
				}
				if len(key) > 64 {
					t.Errorf("Idempotency-Key %q is longer than the 64 characters Databricks allows", key)
				}
			}
			var body struct {
				JobParameters map[string]string `json:"job_parameters"`
			}
			if err := json.Unmarshal(res.Body, &body); w.what == KindJob && (err != nil || body.JobParameters["date"] != "2026-11-28") {
				t.Errorf("resolved body %s (%v): want job_parameters.date = utcNow('yyyy-MM-dd')", res.Body, err)
			}
			if strings.Contains(string(res.Body), "@") {
				t.Errorf("resolved body still has an expression: %s", res.Body)
			}
		})
	}
}

func TestTheEntraIDRecipePollsTheRun(t *testing.T) {
	r, err := Load("power-automate-http-entra.json")
	if err != nil {
		t.Fatal(err)
	}
	p := r.Poll
	if p == nil {
		t.Fatal("no polling loop")
	}
	if p.Method != "GET" || p.URI != HostPlaceholder+"/api/jobs/runs/{run_id}?include_output=true" {
		t.Errorf("poll %s %s", p.Method, p.URI)
	}
	if p.AuthKind != AuthEntraDelegated || p.Audience != APIAudience {
		t.Errorf("the poll authenticates as %s for %s, want the same connection as run-now", p.AuthKind, p.Audience)
	}
	// Polls at the pace flowbricks suggests (Retry-After = FLOWBRICKS_POLL_SECONDS, default 20 s),
	// until the run status says the run is over, bounded.
	if p.Interval != 20*time.Second || p.Until != "terminal" || p.MaxPolls <= 0 || p.Timeout <= 0 {
		t.Errorf("poll every %s until %q, at most %d polls / %s", p.Interval, p.Until, p.MaxPolls, p.Timeout)
	}
	if strings.Contains(r.URI, "wait=") {
		t.Errorf("run-now %s: without the asynchronous pattern, wait=true would make the first 202 the step's result", r.URI)
	}
	res, err := r.Resolve(stackEnv)
	if err != nil {
		t.Fatal(err)
	}
	if res.Poll.URI != stackEnv.BaseURL+"/api/jobs/runs/{run_id}?include_output=true" {
		t.Errorf("resolved poll URI %s", res.Poll.URI)
	}
}

// checkTrigger holds a recipe's trigger to want (nil: the workflow starts otherwise), and a
// repair recipe to what makes it safe: one run per workflow run (split on), a recurrence, and a
// condition that reads the delivered run and bounds the repairs.
func checkTrigger(t *testing.T, r Recipe, want *Trigger) {
	t.Helper()
	if want == nil {
		if r.Trigger != nil || r.Condition != nil {
			t.Errorf("trigger %+v, condition %+v: want none", r.Trigger, r.Condition)
		}
		return
	}
	tr := r.Trigger
	if tr == nil {
		t.Fatal("no trigger on flowbricks")
	}
	if tr.Method != "GET" || tr.URI != want.URI || tr.AuthKind != want.AuthKind || tr.Audience != want.Audience {
		t.Errorf("trigger %s %s as %s for %s, want GET %s as %s for %s", tr.Method, tr.URI, tr.AuthKind, tr.Audience, want.URI, want.AuthKind, want.Audience)
	}
	if !tr.SplitOn || tr.Interval <= 0 || tr.Interval > time.Hour {
		t.Errorf("trigger split on %v, every %s: want one workflow run per run, polled at least hourly", tr.SplitOn, tr.Interval)
	}
	if tr.AuthKind != r.AuthKind || tr.Audience != r.Audience {
		t.Errorf("the trigger signs in as %s for %s, the repair as %s for %s: want one connection", tr.AuthKind, tr.Audience, r.AuthKind, r.Audience)
	}
	c := r.Condition
	if c == nil {
		t.Fatal("the repair is not conditioned")
	}
	tests := []struct {
		name string
		run  map[string]any
		want bool
	}{
		{"a failed run never repaired", map[string]any{"succeeded": false, "repair_count": 0.0}, true},
		{"a failed run repaired once", map[string]any{"succeeded": false, "repair_count": 1.0}, false},
		{"a successful run", map[string]any{"succeeded": true, "repair_count": 0.0}, false},
	}
	for _, tt := range tests {
		if got := c.Holds(tt.run); got != tt.want {
			t.Errorf("%s %+v holds for %s: %v, want %v", c.Action, c.Tests, tt.name, got, tt.want)
		}
	}
}

// checkBody holds a recipe's body to the connector's body schema of the operation at path: no
// field flowbricks would refuse as unknown, and for run-now a job.
func checkBody(t *testing.T, path string, raw json.RawMessage) {
	t.Helper()
	var def struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				In     string `json:"in"`
				Schema struct {
					Properties map[string]any `json:"properties"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(connector.APIDefinition(), &def); err != nil {
		t.Fatal(err)
	}
	var known map[string]any
	for _, p := range def.Paths[strings.TrimPrefix(path, "/api")]["post"].Parameters {
		if p.In == "body" {
			known = p.Schema.Properties
		}
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("body %s: %v", raw, err)
	}
	if len(known) == 0 {
		t.Fatalf("the connector has no body schema for POST %s", path)
	}
	for k := range body {
		if _, ok := known[k]; !ok {
			t.Errorf("body field %q is not in the %s schema; flowbricks refuses unknown fields", k, path)
		}
	}
	if path != "/api/jobs/run-now" {
		return
	}
	var id int64
	if err := json.Unmarshal(body["job_id"], &id); err != nil || id <= 0 {
		t.Errorf("body job_id %s is not a job id", body["job_id"])
	}
}

// checkStatementBody holds a SQL recipe to docs/sql.md, Passing user input safely: the text is
// fixed (no workflow expression in it), every value the flow passes is a parameter its text marks,
// and the warehouse is named once.
func checkStatementBody(t *testing.T, raw json.RawMessage) {
	t.Helper()
	var body struct {
		Statement     string `json:"statement"`
		WarehouseID   string `json:"warehouse_id"`
		WarehouseName string `json:"warehouse_name"`
		Parameters    []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("body %s: %v", raw, err)
	}
	if body.Statement == "" || strings.Contains(body.Statement, "@") {
		t.Errorf("statement %q: want fixed SQL text, with values as parameters", body.Statement)
	}
	if (body.WarehouseID == "") == (body.WarehouseName == "") {
		t.Errorf("warehouse_id %q, warehouse_name %q: want exactly one", body.WarehouseID, body.WarehouseName)
	}
	if len(body.Parameters) == 0 {
		t.Error("no parameters: a recipe shows how a flow passes a value")
	}
	for _, p := range body.Parameters {
		if !strings.Contains(body.Statement, ":"+p.Name) {
			t.Errorf("parameter %s is not marked :%s in the statement", p.Name, p.Name)
		}
	}
}

func equalValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// mutate writes a changed copy of a committed recipe to a temporary file.
func mutate(t *testing.T, file string, change func(root map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	change(root)
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// dig walks a decoded JSON document.
func dig(v any, keys ...string) map[string]any {
	for _, k := range keys {
		v = v.(map[string]any)[k]
	}
	return v.(map[string]any)
}

func TestLoadRefusesRecipesThatWouldNotWork(t *testing.T) {
	const (
		pa      = "power-automate-connector.json"
		entra   = "power-automate-http-entra.json"
		la      = "logic-app-managed-identity.json"
		paSQL   = "power-automate-connector-sql.json"
		laSQL   = "logic-app-http-entra-sql.json"
		paFix   = "power-automate-connector-repair.json"
		laFix   = "logic-app-http-trigger-repair.json"
		nowhere = "@parameters('$connections')['office365']['connectionId']"
	)
	laSQLActions := func(root map[string]any) map[string]any { return dig(root, "definition", "actions") }
	paAction := func(root map[string]any) map[string]any {
		return dig(root, "properties", "definition", "actions", "Run_job_and_wait")
	}
	laAction := func(root map[string]any) map[string]any {
		return dig(root, "definition", "actions", "Run_Databricks_job")
	}
	laFixDef := func(root map[string]any) map[string]any { return dig(root, "definition") }
	laFixIf := func(root map[string]any) map[string]any {
		return dig(laFixDef(root), "actions", "Failed_and_not_repaired_yet")
	}
	tests := []struct {
		name, file string
		change     func(root map[string]any)
		want       string
	}{
		{"repair: no trigger on flowbricks", laFix, func(r map[string]any) {
			laFixDef(r)["triggers"] = map[string]any{"Every_hour": map[string]any{"type": "Recurrence", "recurrence": map[string]any{"frequency": "Hour", "interval": 1}}}
		}, "needs the run trigger"},
		{"repair: the trigger does not split the batch", laFix, func(r map[string]any) {
			delete(dig(laFixDef(r), "triggers", "When_a_flaky_etl_run_fails"), "splitOn")
		}, "without splitOn"},
		{"repair: the trigger has no recurrence", laFix, func(r map[string]any) {
			delete(dig(laFixDef(r), "triggers", "When_a_flaky_etl_run_fails"), "recurrence")
		}, "needs a recurrence"},
		{"repair: the trigger polls another endpoint", laFix, func(r map[string]any) {
			dig(laFixDef(r), "triggers", "When_a_flaky_etl_run_fails", "inputs")["uri"] = "https://<flowbricks-host>/api/jobs"
		}, "is not the run trigger"},
		{"repair: a fixed run id", laFix, func(r map[string]any) {
			dig(laFixIf(r), "actions", "Repair_the_run", "inputs")["uri"] = "https://<flowbricks-host>/api/jobs/runs/42/repair?wait=true"
		}, "found 0"},
		{"repair: outside a condition", paFix, func(r map[string]any) {
			acts := dig(r, "properties", "definition", "actions")
			acts["Repair_a_failed_run"] = dig(acts, "Failed_and_not_repaired_yet", "actions")["Repair_a_failed_run"]
			delete(acts, "Failed_and_not_repaired_yet")
		}, "sits in the true branch of a condition"},
		{"repair: nothing bounds the repairs", laFix, func(r map[string]any) {
			laFixIf(r)["expression"] = map[string]any{"and": []any{map[string]any{"equals": []any{"@triggerBody()?['succeeded']", false}}}}
		}, "repaired for ever"},
		{"repair: a condition on a field the run status lacks", laFix, func(r map[string]any) {
			laFixIf(r)["expression"] = map[string]any{"and": []any{map[string]any{"less": []any{"@triggerBody()?['repairs']", 1}}}}
		}, `no field "repairs"`},
		{"repair: a condition on something else than the run", paFix, func(r map[string]any) {
			dig(r, "properties", "definition", "actions", "Failed_and_not_repaired_yet")["expression"] =
				map[string]any{"and": []any{map[string]any{"less": []any{"@variables('count')", 1}}}}
		}, "not a field of the delivered run"},
		{"no retry policy", la, func(r map[string]any) { delete(dig(laAction(r), "inputs"), "retryPolicy") }, "retryPolicy"},
		{"retry interval below the platform minimum", la, func(r map[string]any) { dig(laAction(r), "inputs", "retryPolicy")["interval"] = "PT1S" }, "minimum"},
		{"managed identity without audience", la, func(r map[string]any) { delete(dig(laAction(r), "inputs", "authentication"), "audience") }, "Azure Resource Manager"},
		{"wait without the asynchronous pattern", la, func(r map[string]any) { laAction(r)["operationOptions"] = "DisableAsyncPattern" }, "nothing polls"},
		{"unsupported authentication", la, func(r map[string]any) { dig(laAction(r), "inputs", "authentication")["type"] = "Basic" }, "Basic"},
		{"a connector parameter the API does not have", pa, func(r map[string]any) { dig(paAction(r), "inputs", "parameters")["wiat"] = true }, `"wiat"`},
		{"an operation the connector does not have", pa, func(r map[string]any) { dig(paAction(r), "inputs", "host")["operationId"] = "RunJob" }, "RunJob"},
		{"no run-now", pa, func(r map[string]any) {
			dig(paAction(r), "inputs", "host")["apiId"] = "/providers/Microsoft.PowerApps/apis/shared_office365"
		}, "exactly one"},
		{"two run-now calls", la, func(r map[string]any) {
			acts := dig(r, "definition", "actions")
			acts["Run_it_again"] = acts["Run_Databricks_job"]
		}, "found 2"},
		{"polling without a pause", entra, func(r map[string]any) {
			delete(dig(r, "properties", "definition", "actions", "Wait_for_the_run", "actions"), "Delay")
		}, "without pause"},
		{"a loop that never looks at the run", entra, func(r map[string]any) {
			dig(r, "properties", "definition", "actions", "Wait_for_the_run")["expression"] = "@equals(1, 1)"
		}, "does not test"},
		{"wait=true while polling itself", entra, func(r map[string]any) {
			dig(r, "properties", "definition", "actions", "Start_job_run", "inputs", "parameters")["request/url"] = "https://<flowbricks-host>/api/jobs/run-now?wait=true"
		}, "wait=true needs the asynchronous pattern"},
		{"not a workflow definition", la, func(r map[string]any) { delete(r, "definition") }, "no workflow definition"},
		{"SQL: no loop over the rows", paSQL, func(r map[string]any) {
			delete(dig(r, "properties", "definition", "actions"), "Apply_to_each_row")
		}, "no Foreach loop over the rows"},
		{"SQL: a loop that reads no row field", paSQL, func(r map[string]any) {
			dig(r, "properties", "definition", "actions", "Apply_to_each_row", "actions", "Region_line")["inputs"] = "a region"
		}, "reads no row field"},
		{"SQL: rows of the first answer while polling", laSQL, func(r map[string]any) {
			dig(laSQLActions(r), "Did_the_statement_succeed", "actions", "For_each_row")["foreach"] = "@body('Run_SQL_statement')?['rows']"
		}, "may not be final"},
		{"SQL: a poll of another id", laSQL, func(r map[string]any) {
			dig(laSQLActions(r), "Wait_for_the_statement", "actions", "Get_statement_status", "inputs", "body")["url"] =
				"https://<flowbricks-host>/api/sql/statements/@{body('Run_SQL_statement')?['run_id']}"
		}, "does not take statement_id"},
		{"SQL: a poll of a run", laSQL, func(r map[string]any) {
			dig(laSQLActions(r), "Wait_for_the_statement", "actions", "Get_statement_status", "inputs", "body")["url"] =
				"https://<flowbricks-host>/api/jobs/runs/@{body('Run_SQL_statement')?['statement_id']}"
		}, "poll of the statement"},
		{"SQL: a connection that is not HTTP with Microsoft Entra ID", laSQL, func(r map[string]any) {
			dig(r, "parameters", "$connections", "value", "webcontents")["id"] = "/subscriptions/<subscription-id>/providers/Microsoft.Web/locations/<region>/managedApis/office365"
		}, "found 0"},
		{"SQL: an action on another connection", laSQL, func(r map[string]any) {
			dig(laSQLActions(r), "Run_SQL_statement", "inputs", "host", "connection")["name"] = nowhere
		}, "found 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(mutate(t, tt.file, tt.change))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestTheSQLRecipesNeedNoParseJSON: rows come typed (docs/sql.md, Types), so the SQL recipes go
// from the statement's answer straight to Apply to each.
func TestTheSQLRecipesNeedNoParseJSON(t *testing.T) {
	for _, file := range []string{"power-automate-connector-sql.json", "logic-app-http-entra-sql.json"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), `"ParseJson"`) {
			t.Errorf("%s has a Parse JSON step", file)
		}
	}
}

func TestResolveLeavesNothingUnresolved(t *testing.T) {
	r, err := Load("logic-app-managed-identity.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Recipe)
		env    Env
		want   string
	}{
		{"an unknown placeholder", func(r *Recipe) { r.Headers = map[string]string{"X-Tenant": "<tenant-id>"} }, stackEnv, "<tenant-id>"},
		{"an unknown expression", func(r *Recipe) {
			r.Body = json.RawMessage(`{"job_id": 101, "job_parameters": {"x": "@{triggerBody()?['x']}"}}`)
		}, stackEnv, "@{"},
		{"no stack to resolve against", func(*Recipe) {}, Env{}, "needs BaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r
			tt.change(&c)
			if _, err := c.Resolve(tt.env); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Resolve: %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestISODuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT7S", 7 * time.Second, true},
		{"PT1M", time.Minute, true},
		{"PT6H", 6 * time.Hour, true},
		{"P1D", 24 * time.Hour, true},
		{"P1DT1H30M5S", 25*time.Hour + 30*time.Minute + 5*time.Second, true},
		{"7s", 0, false},
		{"P", 0, false},
		{"PT", 0, false},
		{"PT1.5S", 0, false},
	}
	for _, tt := range tests {
		got, err := isoDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("isoDuration(%q) = %s, %v; want %s, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
