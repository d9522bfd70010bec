// Package recipes reads the workflow definitions in this directory — one for each kind of caller
// of flowbricks (docs/connector.md explains them) — and says which HTTP call each one makes: the
// method, URL, headers and body of the run-now, run-statement or repair request, the kind of token
// the platform sends with it, the retry policy, how the workflow waits for the run or statement
// (the asynchronous pattern, or a polling loop of its own), which row fields a SQL recipe reads,
// and, for a repair, the polling trigger that starts the workflow and the condition it repairs on.
// Tests use it to replay a recipe against the local stack the way the platform would, so a recipe
// that would not work cannot pass.
//
// Recipes keep their placeholders (<flowbricks-host>, <flowbricks-api-client-id>, …) and a few
// workflow expressions; [Recipe.Resolve] fills them in for a concrete stack.
package recipes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowbricks/flowbricks/connector"
)

// AuthKind is the kind of token the platform sends with a recipe's calls.
type AuthKind string

const (
	// AuthConnector: a custom connector connection; a delegated token of the signed-in user for
	// the flowbricks API (connector/apiProperties.json).
	AuthConnector AuthKind = "connector"
	// AuthEntraDelegated: the "HTTP with Microsoft Entra ID" connector; a delegated token of the
	// connection's user for the resource URI of the connection (the flowbricks API).
	AuthEntraDelegated AuthKind = "entra-delegated"
	// AuthManagedIdentity: a Logic Apps HTTP action with managed-identity authentication; an
	// app-only token for the action's audience.
	AuthManagedIdentity AuthKind = "managed-identity"
)

// Kind is what a recipe's main call does.
type Kind string

const (
	// KindJob: POST /api/jobs/run-now.
	KindJob Kind = "job"
	// KindSQL: POST /api/sql/statements, then the statement's rows.
	KindSQL Kind = "sql"
	// KindRepair: POST /api/jobs/runs/{run_id}/repair of the run the workflow's trigger ("When a
	// job run ends", GET /api/jobs/runs/ended) delivered.
	KindRepair Kind = "repair"
)

// Paths of the main calls, and what a poll of each reads.
const (
	pathRunNow     = "/api/jobs/run-now"
	pathStatements = "/api/sql/statements"
	// pathRepair is the repair of the run the trigger delivered: {run_id} stands for the
	// trigger's item (triggerItemRunID).
	pathRepair    = "/api/jobs/runs/{run_id}/repair"
	pathRunsEnded = "/api/jobs/runs/ended"
)

// kindOf says which main call path is, "" for none.
func kindOf(path string) Kind {
	switch path {
	case pathRunNow:
		return KindJob
	case pathStatements:
		return KindSQL
	case pathRepair:
		return KindRepair
	}
	return ""
}

// triggerItemRunID is how a workflow that splits its trigger's batch names the run_id of the run
// it was started for: triggerBody() in Logic Apps' code view, triggerOutputs()?['body/…'] in an
// exported flow's connector parameters. Load turns it into {run_id}.
var triggerItemRunID = regexp.MustCompile(`@\{?(?:triggerBody\(\)\?\['run_id'\]|triggerOutputs\(\)\?\['body/run_id'\])\}?`)

// pollOf is, for each kind, the path a poll reads (the id appended) and the field of the main
// call's answer that holds the id.
var pollOf = map[Kind]struct{ prefix, idField, noun string }{
	KindJob:    {"/api/jobs/runs/", "run_id", "run"},
	KindRepair: {"/api/jobs/runs/", "run_id", "run"},
	KindSQL:    {pathStatements + "/", "statement_id", "statement"},
}

// Placeholders the recipes use.
const (
	// HostPlaceholder is the scheme and host of flowbricks in every recipe URL.
	HostPlaceholder = "https://<flowbricks-host>"
	// APIAudience is the flowbricks API's App ID URI: the audience of delegated tokens (the
	// connection's resource URI; it is not part of a workflow definition).
	APIAudience = "api://<flowbricks-api-client-id>"
	// apiClientIDPlaceholder is the part of APIAudience Resolve fills in.
	apiClientIDPlaceholder = "<flowbricks-api-client-id>"
)

// Recipe is the call a workflow definition makes to flowbricks to run a job or a SQL statement.
type Recipe struct {
	Path   string // the file it was read from
	Caller string // "power-automate" (a solution-exported flow) or "logic-apps"
	Kind   Kind   // what the main call does
	// Action is the workflow action's name, which Logic Apps and Power Automate send as
	// x-ms-workflow-operation-name.
	Action  string
	Method  string
	URI     string            // absolute: HostPlaceholder + "/api/…"
	Headers map[string]string // as the action sends them (expressions unresolved)
	Body    json.RawMessage   // the JSON body, nil if none

	AuthKind AuthKind
	Audience string // the token's audience

	RetryPolicy RetryPolicy
	RetryCount  int // RetryPolicy.Count, for convenience

	// AsyncPattern: the platform follows 202 + Location (polling with the same authentication,
	// after Retry-After) until the answer is not 202.
	AsyncPattern bool
	// Timeout is the action's limit.timeout (0: the platform's default).
	Timeout time.Duration
	// Poll is the workflow's own polling loop, for recipes that do not use the asynchronous
	// pattern; nil otherwise.
	Poll *Poll
	// Rows is how a SQL recipe reads the statement's rows; nil for job recipes.
	Rows *Rows
	// Trigger is the workflow's polling trigger on flowbricks ("When a job run ends"); nil when
	// the workflow starts otherwise. A repair recipe has one, and its URI's {run_id} is the
	// delivered run's.
	Trigger *Trigger
	// Condition is the If the repair sits in: the workflow repairs a delivered run only when it
	// holds. nil for the other kinds.
	Condition *Condition
}

// Trigger is a polling trigger on "When a job run ends" (docs/connector.md, "When a job run
// ends"): the platform GETs URI when the workflow is saved, then, every Interval or after
// flowbricks' Retry-After, the Location of the last answer, with the same authentication; a 200
// starts the workflow once per run in the answer (SplitOn).
type Trigger struct {
	Name     string // the trigger's name in the definition
	Method   string
	URI      string // absolute: HostPlaceholder + "/api/jobs/runs/ended?…"
	Headers  map[string]string
	AuthKind AuthKind
	Audience string
	Interval time.Duration // the recurrence
	// SplitOn: one workflow run per run delivered (splitOn on the answer's array), so that
	// triggerBody() is one run status.
	SplitOn bool
}

// Condition is an If whose tests (all must hold) read fields of the run the trigger delivered
// (triggerBody()?['<field>'] or triggerOutputs()?['body/<field>']).
type Condition struct {
	Action string // the If action
	Tests  []Test
}

// Test is one comparison of a Condition: Op (equals, less, lessOrEquals, greater,
// greaterOrEquals) of a run status field with a literal.
type Test struct {
	Op    string
	Field string
	Value any // bool, float64 or string
}

// Rows is a Foreach loop over the rows of a statement's final answer and the row fields the
// actions inside it read (items('<loop>')?['<field>']): rows are objects keyed by column, already
// typed, so no Parse JSON step stands between the answer and the loop (docs/sql.md, Types).
type Rows struct {
	Loop   string   // the Foreach action
	From   string   // the action whose answer's rows it iterates: the final answer
	Fields []string // the row fields read inside the loop, sorted
}

// RetryPolicy is an action's retryPolicy.
type RetryPolicy struct {
	Type            string // exponential, fixed, none or default
	Count           int
	Interval        time.Duration
	MinimumInterval time.Duration
	MaximumInterval time.Duration
}

// Poll is a polling loop in the workflow: an Until loop that waits Interval, then sends the poll
// request, until the field Until of the answer (a run or statement status) is true.
type Poll struct {
	Action   string // the poll request's action name
	Method   string
	URI      string // contains {IDField}: that field of the main call's answer
	IDField  string // run_id or statement_id
	Headers  map[string]string
	AuthKind AuthKind
	Audience string
	Interval time.Duration // the delay before each poll
	Until    string        // the run status field that ends the loop when true, e.g. "terminal"
	MaxPolls int           // the loop's limit.count (0: the platform's default)
	Timeout  time.Duration // the loop's limit.timeout (0: the platform's default)
}

// Load reads the recipe at path.
func Load(path string) (Recipe, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Recipe{}, err
	}
	r, err := parse(raw)
	if err != nil {
		return Recipe{}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	r.Path = path
	return r, nil
}

// node is a JSON object of the workflow definition, numbers kept exact.
type node = map[string]any

// action is a workflow action and where it sits.
type action struct {
	name   string
	def    node
	parent string // the enclosing action ("" at the top level)
}

// call is an HTTP call to flowbricks found in an action.
type call struct {
	action       string
	method, uri  string
	headers      map[string]string
	body         json.RawMessage
	kind         AuthKind
	audience     string
	retry        RetryPolicy
	asyncPattern bool
	timeout      time.Duration
}

func parse(raw []byte) (Recipe, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var root node
	if err := dec.Decode(&root); err != nil {
		return Recipe{}, fmt.Errorf("not JSON: %w", err)
	}
	caller := "logic-apps"
	def, _ := root["definition"].(node)
	var connRefs node
	if params, ok := root["parameters"].(node); ok { // a Logic App's code view: its managed connections
		conns, _ := params["$connections"].(node)
		connRefs, _ = conns["value"].(node)
	}
	if props, ok := root["properties"].(node); ok {
		caller = "power-automate"
		def, _ = props["definition"].(node)
		connRefs, _ = props["connectionReferences"].(node)
	}
	if def == nil {
		return Recipe{}, errors.New("no workflow definition (definition, or properties.definition of an exported flow)")
	}
	if s, _ := def["$schema"].(string); !strings.Contains(s, "workflowdefinition.json") {
		return Recipe{}, fmt.Errorf("$schema %q is not the workflow definition language's", s)
	}
	acts, ok := def["actions"].(node)
	if !ok {
		return Recipe{}, errors.New("the definition has no actions")
	}

	trig, err := flowbricksTrigger(def, connRefs)
	if err != nil {
		return Recipe{}, err
	}

	var all []action
	collect(acts, "", &all)
	byName := map[string]action{}
	for _, a := range all {
		byName[a.name] = a
	}

	var calls []call
	for _, a := range all {
		c, ok, err := flowbricksCall(a, connRefs)
		if err != nil {
			return Recipe{}, fmt.Errorf("action %s: %w", a.name, err)
		}
		if ok {
			calls = append(calls, c)
		}
	}
	var mains []call
	var rest []call
	for _, c := range calls {
		if c.method == "POST" && kindOf(pathOf(c.uri)) != "" {
			mains = append(mains, c)
		} else {
			rest = append(rest, c)
		}
	}
	if len(mains) != 1 {
		return Recipe{}, fmt.Errorf("want exactly one POST %s%s, %s%s or %s%s, found %d", HostPlaceholder, pathRunNow, HostPlaceholder, pathStatements,
			HostPlaceholder, pathRepair, len(mains))
	}
	main := mains[0]
	r := Recipe{
		Caller: caller, Kind: kindOf(pathOf(main.uri)), Action: main.action, Method: main.method, URI: main.uri, Headers: main.headers,
		Body: main.body, AuthKind: main.kind, Audience: main.audience, RetryPolicy: main.retry,
		RetryCount: main.retry.Count, AsyncPattern: main.asyncPattern, Timeout: main.timeout, Trigger: trig,
	}
	if r.Kind == KindRepair {
		if r.Condition, err = repairCondition(r, byName); err != nil {
			return Recipe{}, err
		}
	} else if byName[main.action].parent != "" {
		return Recipe{}, fmt.Errorf("action %s: the %s call must be a top-level action, not inside %s", main.action, pathOf(main.uri), byName[main.action].parent)
	}

	for _, c := range rest {
		if r.Poll != nil {
			return Recipe{}, fmt.Errorf("action %s: a second call to flowbricks besides %s and one poll", c.action, pathOf(main.uri))
		}
		p, err := pollLoop(c, r.Kind, main.action, byName)
		if err != nil {
			return Recipe{}, fmt.Errorf("action %s: %w", c.action, err)
		}
		r.Poll = p
	}
	if !r.AsyncPattern && r.Poll == nil {
		return Recipe{}, fmt.Errorf("action %s: the asynchronous pattern is off and nothing polls the %s", main.action, pollOf[r.Kind].noun)
	}
	if u, err := url.Parse(strings.TrimPrefix(r.URI, HostPlaceholder)); err == nil && u.Query().Get("wait") == "true" && !r.AsyncPattern {
		// flowbricks would answer 202 and the platform would take it as the result: the flow
		// would go on while the run is still going.
		return Recipe{}, fmt.Errorf("action %s: wait=true needs the asynchronous pattern (remove DisableAsyncPattern)", main.action)
	}
	if r.Kind == KindSQL {
		final := r.Action // with the asynchronous pattern the main call's answer is the final one
		if r.Poll != nil {
			final = r.Poll.Action
		}
		rows, err := rowsLoop(all, final)
		if err != nil {
			return Recipe{}, err
		}
		r.Rows = rows
	}
	return r, nil
}

var (
	// rowsOf is a Foreach over the rows of an action's answer, as Power Automate writes it
	// (outputs('X')?['body/rows']) or as Logic Apps does (body('X')?['rows']).
	rowsOf = regexp.MustCompile(`^@(?:outputs\('([^']+)'\)\?\['body/rows'\]|body\('([^']+)'\)\?\['rows'\])$`)
	// rowField is how an action inside the loop reads a field of the current row.
	rowField = regexp.MustCompile(`items\('([^']+)'\)\?\['([A-Za-z_][A-Za-z0-9_]*)'\]`)
)

// rowsLoop finds the one Foreach over a statement's rows and the row fields read inside it. It
// must iterate the rows of final, the action whose answer is the statement's final status: the
// first answer of a statement the workflow polls may still be RUNNING, with no rows.
func rowsLoop(all []action, final string) (*Rows, error) {
	var found *Rows
	for _, a := range all {
		if a.def["type"] != "Foreach" {
			continue
		}
		m := rowsOf.FindStringSubmatch(str(a.def["foreach"]))
		if m == nil {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("loops %s and %s both iterate rows; a recipe has one", found.Loop, a.name)
		}
		from := m[1] + m[2]
		if from != final {
			return nil, fmt.Errorf("loop %s iterates the rows of %s, whose answer may not be final: iterate those of %s", a.name, from, final)
		}
		found = &Rows{Loop: a.name, From: from}
	}
	if found == nil {
		return nil, fmt.Errorf("no Foreach loop over the rows of %s (foreach: @body('%s')?['rows'])", final, final)
	}
	fields := map[string]bool{}
	for _, a := range all {
		if a.parent != found.Loop {
			continue
		}
		raw, _ := json.Marshal(a.def["inputs"])
		for _, m := range rowField.FindAllStringSubmatch(string(raw), -1) {
			if m[1] == found.Loop {
				fields[m[2]] = true
			}
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("loop %s reads no row field (items('%s')?['<column>'])", found.Loop, found.Loop)
	}
	found.Fields = slices.Sorted(maps.Keys(fields))
	return found, nil
}

// flowbricksTrigger reads the workflow's trigger when it polls "When a job run ends": the custom
// connector's WhenARunEnds (an exported flow) or Logic Apps' built-in HTTP trigger on the same
// endpoint. The platform keeps the trigger's state in the Location flowbricks answers, so the
// trigger needs no more than a recurrence; it must split the batch, so that each workflow run
// handles one run.
func flowbricksTrigger(def node, connRefs node) (*Trigger, error) {
	triggers, _ := def["triggers"].(node)
	var found *Trigger
	for _, name := range slices.Sorted(maps.Keys(triggers)) {
		t, _ := triggers[name].(node)
		c, ok, err := flowbricksCall(action{name: name, def: t}, connRefs)
		if err != nil {
			return nil, fmt.Errorf("trigger %s: %w", name, err)
		}
		if !ok {
			continue
		}
		if c.method != "GET" || pathOf(c.uri) != pathRunsEnded {
			return nil, fmt.Errorf("trigger %s: %s %s is not the run trigger (GET %s%s)", name, c.method, c.uri, HostPlaceholder, pathRunsEnded)
		}
		if found != nil {
			return nil, fmt.Errorf("triggers %s and %s both poll flowbricks; a workflow has one trigger", found.Name, name)
		}
		rec, _ := t["recurrence"].(node)
		interval, err := recurrence(rec)
		if err != nil {
			return nil, fmt.Errorf("trigger %s: %w", name, err)
		}
		found = &Trigger{Name: name, Method: c.method, URI: c.uri, Headers: c.headers, AuthKind: c.kind, Audience: c.audience,
			Interval: interval, SplitOn: splitsTheBatch.MatchString(str(t["splitOn"]))}
	}
	return found, nil
}

// splitsTheBatch is a splitOn over the trigger's whole answer, the array of runs.
var splitsTheBatch = regexp.MustCompile(`^@(?:triggerBody\(\)|triggerOutputs\(\)\?\['body'\])$`)

// recurrence reads a polling trigger's recurrence {frequency, interval}.
func recurrence(n node) (time.Duration, error) {
	if n == nil {
		return 0, errors.New("a polling trigger needs a recurrence (how often the platform polls)")
	}
	return waitInterval(node{"count": n["interval"], "unit": n["frequency"]})
}

var (
	// triggerField is how a condition reads a field of the run the trigger delivered.
	triggerField = regexp.MustCompile(`^@(?:triggerBody\(\)\?\['([a-z_]+)'\]|triggerOutputs\(\)\?\['body/([a-z_]+)'\])$`)
	// comparisons are the If operators a condition may use.
	comparisons = []string{"equals", "less", "lessOrEquals", "greater", "greaterOrEquals"}
)

// repairCondition checks a repair recipe: the trigger delivers runs one at a time, the repair
// takes the run id from that run, and it sits in an If that bounds the repairs. Without that
// bound a run that fails again after its repair would be delivered again and repaired again,
// for ever.
func repairCondition(r Recipe, byName map[string]action) (*Condition, error) {
	switch {
	case r.Trigger == nil:
		return nil, fmt.Errorf("action %s: a repair needs the run trigger (GET %s%s) to start the workflow", r.Action, HostPlaceholder, pathRunsEnded)
	case !r.Trigger.SplitOn:
		return nil, fmt.Errorf("trigger %s: without splitOn the workflow gets the whole batch and triggerBody() has no run_id", r.Trigger.Name)
	case !strings.Contains(r.URI, "/api/jobs/runs/{run_id}/repair"):
		return nil, fmt.Errorf("action %s: the repair's run_id must be the delivered run's (triggerBody()?['run_id'])", r.Action)
	}
	parent := byName[byName[r.Action].parent]
	inner, _ := parent.def["actions"].(node)
	if parent.def["type"] != "If" || inner[r.Action] == nil {
		return nil, fmt.Errorf("action %s: a repair sits in the true branch of a condition on the delivered run (If)", r.Action)
	}
	if parent.parent != "" {
		return nil, fmt.Errorf("action %s: its condition %s must be a top-level action", r.Action, parent.name)
	}
	cond := &Condition{Action: parent.name}
	expr, _ := parent.def["expression"].(node)
	and, _ := expr["and"].([]any)
	if len(expr) != 1 || len(and) == 0 {
		return nil, fmt.Errorf("condition %s: want {\"and\": [comparisons]}", parent.name)
	}
	for _, t := range and {
		t, _ := t.(node)
		if len(t) != 1 {
			return nil, fmt.Errorf("condition %s: each test is one comparison, not %v", parent.name, t)
		}
		for op, v := range t {
			args, _ := v.([]any)
			if !slices.Contains(comparisons, op) || len(args) != 2 {
				return nil, fmt.Errorf("condition %s: %q is not a comparison of two values (%s)", parent.name, op, strings.Join(comparisons, ", "))
			}
			m := triggerField.FindStringSubmatch(str(args[0]))
			if m == nil {
				return nil, fmt.Errorf("condition %s: %v is not a field of the delivered run (triggerBody()?['<field>'])", parent.name, args[0])
			}
			value := args[1]
			if n, ok := value.(json.Number); ok {
				f, _ := n.Float64()
				value = f
			}
			cond.Tests = append(cond.Tests, Test{Op: op, Field: m[1] + m[2], Value: value})
		}
	}
	known, err := runStatusFields()
	if err != nil {
		return nil, err
	}
	bounded := false
	for _, t := range cond.Tests {
		if !slices.Contains(known, t.Field) {
			return nil, fmt.Errorf("condition %s: the run status has no field %q", parent.name, t.Field)
		}
		bounded = bounded || (t.Field == "repair_count" && (t.Op == "less" || t.Op == "lessOrEquals" || t.Op == "equals"))
	}
	if !bounded {
		return nil, fmt.Errorf("condition %s: nothing bounds the repairs (a test of repair_count): a run that fails again would be repaired for ever", parent.name)
	}
	return cond, nil
}

// runStatusFields are the fields of the run status the trigger delivers, from the connector's
// definition.
func runStatusFields() ([]string, error) {
	var doc struct {
		Definitions map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(connector.APIDefinition(), &doc); err != nil {
		return nil, fmt.Errorf("connector definition: %w", err)
	}
	return slices.Sorted(maps.Keys(doc.Definitions["RunStatus"].Properties)), nil
}

// Holds says whether every test of c holds for run, a run status as the trigger delivers it
// (decoded JSON: numbers are float64).
func (c *Condition) Holds(run map[string]any) bool {
	for _, t := range c.Tests {
		got := run[t.Field]
		var ok bool
		switch t.Op {
		case "equals":
			ok = got == t.Value
		default:
			a, aok := got.(float64)
			b, bok := t.Value.(float64)
			ok = aok && bok && map[string]bool{"less": a < b, "lessOrEquals": a <= b, "greater": a > b, "greaterOrEquals": a >= b}[t.Op]
		}
		if !ok {
			return false
		}
	}
	return true
}

// collect lists every action, also those inside If, Until, Scope, Foreach and Switch.
func collect(acts node, parent string, out *[]action) {
	for _, name := range slices.Sorted(maps.Keys(acts)) {
		def, _ := acts[name].(node)
		if def == nil {
			continue
		}
		*out = append(*out, action{name: name, def: def, parent: parent})
		if inner, ok := def["actions"].(node); ok {
			collect(inner, name, out)
		}
		if els, ok := def["else"].(node); ok {
			if inner, ok := els["actions"].(node); ok {
				collect(inner, name, out)
			}
		}
		if cases, ok := def["cases"].(node); ok {
			for _, c := range cases {
				if c, ok := c.(node); ok {
					if inner, ok := c["actions"].(node); ok {
						collect(inner, name, out)
					}
				}
			}
		}
		if dflt, ok := def["default"].(node); ok {
			if inner, ok := dflt["actions"].(node); ok {
				collect(inner, name, out)
			}
		}
	}
}

// flowbricksCall reads the HTTP call an action makes, if it calls flowbricks.
func flowbricksCall(a action, connRefs node) (call, bool, error) {
	inputs, _ := a.def["inputs"].(node)
	c := call{action: a.name, asyncPattern: !strings.Contains(str(a.def["operationOptions"]), "DisableAsyncPattern")}
	var err error
	if limit, ok := a.def["limit"].(node); ok && limit["timeout"] != nil {
		if c.timeout, err = isoDuration(str(limit["timeout"])); err != nil {
			return c, false, fmt.Errorf("limit.timeout: %w", err)
		}
	}
	switch a.def["type"] {
	case "Http":
		c.method, c.uri = strings.ToUpper(str(inputs["method"])), str(inputs["uri"])
		if !strings.HasPrefix(c.uri, HostPlaceholder+"/") {
			return c, false, nil
		}
		if c.headers, err = stringMap(inputs["headers"]); err != nil {
			return c, false, fmt.Errorf("headers: %w", err)
		}
		if c.body, err = jsonBody(inputs["body"]); err != nil {
			return c, false, err
		}
		auth, _ := inputs["authentication"].(node)
		switch str(auth["type"]) {
		case "ManagedServiceIdentity":
			c.kind, c.audience = AuthManagedIdentity, str(auth["audience"])
			if c.audience == "" {
				return c, false, errors.New("managed identity without an audience gets a token for Azure Resource Manager, which flowbricks refuses")
			}
		default:
			return c, false, fmt.Errorf("authentication type %q is not one the recipes use (ManagedServiceIdentity)", str(auth["type"]))
		}
	case "ApiConnection":
		// A Logic App's managed connector action: flowbricks is called only through "HTTP with
		// Microsoft Entra ID" (webcontents), whose Invoke an HTTP request takes the request as body.
		if !isWebContents(inputs, connRefs) || str(inputs["path"]) != "/codeless/InvokeHttp" {
			return c, false, nil
		}
		req, _ := inputs["body"].(node)
		c.method, c.uri = strings.ToUpper(str(req["method"])), str(req["url"])
		if !strings.HasPrefix(c.uri, HostPlaceholder+"/") {
			return c, false, nil
		}
		if c.headers, err = stringMap(req["headers"]); err != nil {
			return c, false, fmt.Errorf("body.headers: %w", err)
		}
		if c.body, err = jsonBody(req["body"]); err != nil {
			return c, false, err
		}
		c.kind, c.audience = AuthEntraDelegated, APIAudience
	case "OpenApiConnection":
		host, _ := inputs["host"].(node)
		params, _ := inputs["parameters"].(node)
		apiID, operation := str(host["apiId"]), str(host["operationId"])
		switch {
		case strings.HasSuffix(apiID, "/shared_webcontents") && operation == "InvokeHttp":
			c.method, c.uri = strings.ToUpper(str(params["request/method"])), str(params["request/url"])
			if !strings.HasPrefix(c.uri, HostPlaceholder+"/") {
				return c, false, nil
			}
			if c.headers, err = stringMap(params["request/headers"]); err != nil {
				return c, false, fmt.Errorf("request/headers: %w", err)
			}
			if c.body, err = jsonBody(params["request/body"]); err != nil {
				return c, false, err
			}
			c.kind, c.audience = AuthEntraDelegated, APIAudience
		case isFlowbricksConnector(host, connRefs):
			if err := c.fromConnector(operation, params); err != nil {
				return c, false, err
			}
		default:
			return c, false, nil // another connector
		}
		if str(inputs["authentication"]) != "@parameters('$authentication')" {
			return c, false, errors.New("a connector action of an exported flow authenticates with @parameters('$authentication')")
		}
	default:
		return c, false, nil
	}
	c.uri = triggerItemRunID.ReplaceAllLiteralString(c.uri, "{run_id}")
	rp, ok := inputs["retryPolicy"].(node)
	if !ok {
		return c, false, errors.New("no explicit retryPolicy: every recipe states how the platform retries, because flowbricks' idempotency depends on it")
	}
	if c.retry, err = retryPolicy(rp); err != nil {
		return c, false, fmt.Errorf("retryPolicy: %w", err)
	}
	return c, true, nil
}

// connectionKey is how a Logic App's managed connector action names its connection.
var connectionKey = regexp.MustCompile(`^@parameters\('\$connections'\)\['([^']+)'\]\['connectionId'\]$`)

// isWebContents tells whether a Logic App's connector action uses an "HTTP with Microsoft Entra
// ID" connection: the connection its host names is of the managed API webcontents.
func isWebContents(inputs node, conns node) bool {
	host, _ := inputs["host"].(node)
	conn, _ := host["connection"].(node)
	m := connectionKey.FindStringSubmatch(str(conn["name"]))
	if m == nil {
		return false
	}
	ref, _ := conns[m[1]].(node)
	return strings.HasSuffix(str(ref["id"]), "/managedApis/webcontents")
}

// isFlowbricksConnector tells whether a connector action uses the flowbricks custom connector:
// its connection reference names the connector's API placeholder.
func isFlowbricksConnector(host node, connRefs node) bool {
	ref, _ := connRefs[str(host["connectionName"])].(node)
	api, _ := ref["api"].(node)
	return strings.Contains(str(api["name"]), "flowbricks") && strings.Contains(str(host["apiId"]), "flowbricks")
}

// fromConnector turns a custom connector action (operationId + parameters) into the HTTP call the
// connector makes, using the connector's own OpenAPI definition.
func (c *call) fromConnector(operationID string, params node) error {
	op, basePath, err := connectorOperation(operationID)
	if err != nil {
		return err
	}
	c.method = op.method
	path := op.path
	query := url.Values{}
	c.headers = map[string]string{}
	body := node{}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		value := params[name]
		if field, ok := strings.CutPrefix(name, "body/"); ok {
			if op.body == "" {
				return fmt.Errorf("%s has no body, but the action sets %s", operationID, name)
			}
			setPath(body, strings.Split(field, "/"), value)
			continue
		}
		in, ok := op.params[name]
		if !ok {
			return fmt.Errorf("%s has no parameter %q", operationID, name)
		}
		s := scalar(value)
		switch in {
		case "path":
			if triggerItemRunID.MatchString(s) { // the run the trigger delivered: kept as {run_id}
				continue
			}
			path = strings.ReplaceAll(path, "{"+name+"}", url.PathEscape(s))
		case "query":
			query.Set(name, s)
		case "header":
			c.headers[name] = s
		case "body":
			b, ok := value.(node)
			if !ok {
				return fmt.Errorf("%s: the body parameter must be an object", operationID)
			}
			maps.Copy(body, b)
		}
	}
	if strings.Contains(strings.ReplaceAll(path, "{run_id}", ""), "{") {
		return fmt.Errorf("%s: path parameters of %s are not set", operationID, path)
	}
	c.uri = HostPlaceholder + basePath + path
	if len(query) > 0 {
		c.uri += "?" + query.Encode()
	}
	if op.body != "" {
		c.headers["Content-Type"] = "application/json"
		if c.body, err = jsonBody(body); err != nil {
			return err
		}
	}
	c.kind, c.audience = AuthConnector, connectorAudience()
	return nil
}

type connectorOp struct {
	method, path string
	params       map[string]string // name → in
	body         string            // the body parameter's name, "" if none
}

// connectorOperation finds an operation of connector/apiDefinition.swagger.json.
func connectorOperation(id string) (connectorOp, string, error) {
	var doc struct {
		BasePath string `json:"basePath"`
		Paths    map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(connector.APIDefinition(), &doc); err != nil {
		return connectorOp{}, "", fmt.Errorf("connector definition: %w", err)
	}
	for path, item := range doc.Paths {
		for method, op := range item {
			if op.OperationID != id {
				continue
			}
			out := connectorOp{method: strings.ToUpper(method), path: path, params: map[string]string{}}
			for _, p := range op.Parameters {
				if p.In == "body" {
					out.body = p.Name
				}
				out.params[p.Name] = p.In
			}
			return out, doc.BasePath, nil
		}
	}
	return connectorOp{}, "", fmt.Errorf("the flowbricks connector has no operation %q", id)
}

// connectorAudience is the resource the connector's connection gets tokens for.
func connectorAudience() string {
	var props struct {
		Properties struct {
			ConnectionParameters struct {
				Token struct {
					OAuthSettings struct {
						CustomParameters struct {
							ResourceURI struct {
								Value string `json:"value"`
							} `json:"resourceUri"`
						} `json:"customParameters"`
					} `json:"oAuthSettings"`
				} `json:"token"`
			} `json:"connectionParameters"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(connector.APIProperties(), &props); err != nil {
		return ""
	}
	return props.Properties.ConnectionParameters.Token.OAuthSettings.CustomParameters.ResourceURI.Value
}

var (
	// idOf is how a poll URL refers to the run or statement the main action started.
	idOf = regexp.MustCompile(`@\{body\('([^']+)'\)\?\['(run_id|statement_id)'\]\}`)
	// untilField is an Until expression that tests a field of the poll's answer.
	untilField = regexp.MustCompile(`^@equals\(body\('([^']+)'\)\?\['([a-z_]+)'\], *true\)$`)
)

// pollLoop reads a poll call of a recipe of kind and the Until loop around it.
func pollLoop(c call, kind Kind, mainAction string, byName map[string]action) (*Poll, error) {
	of := pollOf[kind]
	if c.method != "GET" || !strings.HasPrefix(pathOf(c.uri), of.prefix) {
		return nil, fmt.Errorf("%s %s is neither the main call nor a poll of the %s (GET %s…)", c.method, c.uri, of.noun, of.prefix)
	}
	m := idOf.FindStringSubmatch(c.uri)
	if m == nil || m[1] != mainAction || m[2] != of.idField {
		return nil, fmt.Errorf("the poll URL %s does not take %s from %s", c.uri, of.idField, mainAction)
	}
	loop, ok := byName[byName[c.action].parent]
	if !ok || loop.def["type"] != "Until" {
		return nil, errors.New("a poll must sit in an Until loop")
	}
	u := untilField.FindStringSubmatch(str(loop.def["expression"]))
	if u == nil || u[1] != c.action {
		return nil, fmt.Errorf("loop %s: its expression %q does not test a field of %s's answer", loop.name, loop.def["expression"], c.action)
	}
	p := &Poll{
		Action: c.action, Method: c.method, URI: idOf.ReplaceAllString(c.uri, "{"+of.idField+"}"), IDField: of.idField,
		Headers: c.headers, AuthKind: c.kind, Audience: c.audience, Until: u[2],
	}
	if limit, ok := loop.def["limit"].(node); ok {
		if n, err := strconv.Atoi(str(limit["count"])); err == nil {
			p.MaxPolls = n
		}
		if limit["timeout"] != nil {
			var err error
			if p.Timeout, err = isoDuration(str(limit["timeout"])); err != nil {
				return nil, fmt.Errorf("loop %s: limit.timeout: %w", loop.name, err)
			}
		}
	}
	inner, _ := loop.def["actions"].(node)
	for _, a := range inner {
		a, _ := a.(node)
		if a["type"] != "Wait" {
			continue
		}
		in, _ := a["inputs"].(node)
		interval, _ := in["interval"].(node)
		d, err := waitInterval(interval)
		if err != nil {
			return nil, fmt.Errorf("loop %s: %w", loop.name, err)
		}
		p.Interval = d
	}
	if p.Interval <= 0 {
		return nil, fmt.Errorf("loop %s: no Wait before the poll; it would poll flowbricks without pause", loop.name)
	}
	return p, nil
}

// Env is what Resolve fills a recipe's placeholders and expressions with.
type Env struct {
	BaseURL     string    // replaces HostPlaceholder, e.g. "http://127.0.0.1:7071"
	APIClientID string    // replaces <flowbricks-api-client-id> in audiences
	RunName     string    // workflow().run.name
	Now         time.Time // utcNow(); zero means time.Now()
}

var (
	runNameExpr = regexp.MustCompile(`@\{workflow\(\)(?:\?\['run'\]\?\['name'\]|\['run'\]\['name'\]|\.run\.name)\}`)
	todayExpr   = regexp.MustCompile(`@\{utcNow\('yyyy-MM-dd'\)\}`)
	leftover    = regexp.MustCompile(`<[a-z0-9-]+>|@\{|^@`)
)

// Resolve fills in the placeholders and the workflow expressions the recipes use
// (workflow().run.name, utcNow('yyyy-MM-dd')). It fails if anything else is left, so a recipe
// never reaches a test half-resolved. A poll URI keeps its {run_id} or {statement_id}, a repair
// URI the {run_id} of the trigger's item.
func (r Recipe) Resolve(env Env) (Recipe, error) {
	if env.BaseURL == "" || env.APIClientID == "" || env.RunName == "" {
		return r, errors.New("Resolve needs BaseURL, APIClientID and RunName")
	}
	now := env.Now
	if now.IsZero() {
		now = time.Now()
	}
	var problems []string
	fill := func(where, s string) string {
		s = strings.ReplaceAll(s, HostPlaceholder, strings.TrimRight(env.BaseURL, "/"))
		s = strings.ReplaceAll(s, apiClientIDPlaceholder, env.APIClientID)
		s = runNameExpr.ReplaceAllLiteralString(s, env.RunName)
		s = todayExpr.ReplaceAllLiteralString(s, now.UTC().Format(time.DateOnly))
		if m := leftover.FindString(s); m != "" {
			problems = append(problems, fmt.Sprintf("%s: %q is left in %q", where, m, s))
		}
		return s
	}
	fillHeaders := func(where string, h map[string]string) map[string]string {
		out := make(map[string]string, len(h))
		for k, v := range h {
			out[k] = fill(where+" header "+k, v)
		}
		return out
	}

	out := r
	out.URI = fill("URI", r.URI)
	out.Audience = fill("audience", r.Audience)
	out.Headers = fillHeaders("", r.Headers)
	if r.Body != nil {
		out.Body = json.RawMessage(fill("body", string(r.Body)))
		if !json.Valid(out.Body) {
			problems = append(problems, "the resolved body is not JSON")
		}
	}
	if r.Poll != nil {
		p := *r.Poll
		p.URI = fill("poll URI", r.Poll.URI)
		p.Audience = fill("poll audience", r.Poll.Audience)
		p.Headers = fillHeaders("poll", r.Poll.Headers)
		out.Poll = &p
	}
	if r.Trigger != nil {
		tr := *r.Trigger
		tr.URI = fill("trigger URI", r.Trigger.URI)
		tr.Audience = fill("trigger audience", r.Trigger.Audience)
		tr.Headers = fillHeaders("trigger", r.Trigger.Headers)
		out.Trigger = &tr
	}
	if len(problems) > 0 {
		return r, fmt.Errorf("%s: %s", filepath.Base(r.Path), strings.Join(problems, "; "))
	}
	return out, nil
}

// --- small helpers ---------------------------------------------------------------------------

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// scalar is a parameter value as it appears in a URL or header.
func scalar(v any) string {
	if b, ok := v.(bool); ok {
		return strconv.FormatBool(b)
	}
	return str(v)
}

func stringMap(v any) (map[string]string, error) {
	out := map[string]string{}
	if v == nil {
		return out, nil
	}
	m, ok := v.(node)
	if !ok {
		return nil, fmt.Errorf("want an object, got %T", v)
	}
	for k, v := range m {
		out[k] = scalar(v)
	}
	return out, nil
}

func jsonBody(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return b, nil
}

func setPath(m node, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(node)
		if !ok {
			next = node{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// pathOf is the path of a recipe URL (placeholder host, expressions and all).
func pathOf(uri string) string {
	rest, ok := strings.CutPrefix(uri, HostPlaceholder)
	if !ok {
		return ""
	}
	path, _, _ := strings.Cut(rest, "?")
	return path
}

func retryPolicy(n node) (RetryPolicy, error) {
	p := RetryPolicy{Type: str(n["type"])}
	switch p.Type {
	case "none", "default":
		return p, nil
	case "fixed", "exponential":
	default:
		return p, fmt.Errorf("type %q is not none, default, fixed or exponential", p.Type)
	}
	var err error
	if p.Count, err = strconv.Atoi(str(n["count"])); err != nil || p.Count < 1 || p.Count > 90 {
		return p, fmt.Errorf("count %q is not 1 to 90", str(n["count"]))
	}
	for _, f := range []struct {
		name string
		d    *time.Duration
	}{{"interval", &p.Interval}, {"minimumInterval", &p.MinimumInterval}, {"maximumInterval", &p.MaximumInterval}} {
		if n[f.name] == nil {
			continue
		}
		if *f.d, err = isoDuration(str(n[f.name])); err != nil {
			return p, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if p.Interval < 5*time.Second {
		return p, fmt.Errorf("interval %s is below the platform's minimum of 5 s", p.Interval)
	}
	return p, nil
}

var isoPattern = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// isoDuration parses the ISO 8601 durations workflow definitions use (PT7S, PT1M, PT6H, P1D).
// Hand-written: only days to seconds occur, and no dependency of this module parses them.
func isoDuration(s string) (time.Duration, error) {
	m := isoPattern.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration like PT7S", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d, nil
}

// waitInterval reads a Wait action's interval {count, unit}.
func waitInterval(n node) (time.Duration, error) {
	count, err := strconv.Atoi(str(n["count"]))
	if err != nil || count < 1 {
		return 0, fmt.Errorf("Wait interval count %q is not a positive integer", str(n["count"]))
	}
	units := map[string]time.Duration{"Second": time.Second, "Minute": time.Minute, "Hour": time.Hour, "Day": 24 * time.Hour}
	unit, ok := units[str(n["unit"])]
	if !ok {
		return 0, fmt.Errorf("Wait interval unit %q is not Second, Minute, Hour or Day", str(n["unit"]))
	}
	return time.Duration(count) * unit, nil
}

// WorkflowHeaders are the headers Logic Apps sends with every attempt of one action of workflow
// run runName (docs/connector.md, "Loops and retries"); x-ms-client-request-id changes per attempt. A replay sends them.
func WorkflowHeaders(runName, operation string, attempt int) map[string]string {
	action := fnv.New64a() // a stable id per action, like the engine's
	action.Write([]byte(runName + "/" + operation))
	return map[string]string{
		"x-ms-workflow-run-id":         runName,
		"x-ms-workflow-operation-name": operation,
		"x-ms-action-tracking-id":      fmt.Sprintf("7c1e9f0a-0000-4000-8000-%012x", action.Sum64()&0xffffffffffff),
		"x-ms-client-request-id":       fmt.Sprintf("3b2f6a4e-0000-4000-8000-%012d", attempt),
		"x-ms-workflow-name":           "nightly-sales",
		"User-Agent":                   "azure-logic-apps/1.0,(workflow 2c7a; version 0858)",
	}
}
