package api

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/flowbricks/flowbricks/internal/config"
)

// The rules Microsoft gives for the strings of a connector, checked on the whole served document
// (docs/connector.md, "What makers read: the connector's strings"):
//
//   - "Learn best practices for string fields" (learn.microsoft.com, connectors/custom-connectors/
//     connector-string-guidance): the connector's title has at most 30 characters; its title and
//     description do not contain the word API and name no Power Platform product and no product
//     whose back end the publisher does not own. An operation's summary is in sentence case, has
//     no slash, at most 80 characters and ends with a letter or digit; its description is in
//     sentence case. x-ms-summary (parameters and response properties) is in title case, at
//     most 80 characters; descriptions are sentences ("no period required if there's a single
//     word": ours are never a single word, so each ends with a full stop).
//   - "Prepare … connector files for certification" (connectors/custom-connectors/
//     certification-submission) and the certified-connectors template of
//     microsoft/PowerPlatformConnectors: the description has 30 to 500 characters; the title does
//     not contain "Connector"; info.contact and the x-ms-connector-metadata entries Website,
//     Privacy policy and Categories are present.
//   - "Create a custom connector with an OpenAPI extension" (openapi-extensions): x-ms-summary
//     "Applies to: Parameters, response schema. Recommended: Use title case".

// otherProducts are names the connector's title and description must not contain: the Power
// Platform's products and the services flowbricks calls but does not own.
var otherProducts = []string{
	"Power Automate", "Power Apps", "Power BI", "Power Pages", "Power Platform", "Copilot", "Logic App",
	"Dataverse", "Microsoft", "Azure", "Entra", "Databricks", "Unity Catalog", "Spark", "Teams",
}

// connectorCategories are the values Categories may take (the certification article's list).
var connectorCategories = []string{
	"AI", "Business Management", "Business Intelligence", "Collaboration", "Commerce", "Communication",
	"Content and Files", "Finance", "Data", "Human Resources", "Internet of Things", "IT Operations",
	"Lifestyle and Entertainment", "Marketing", "Productivity", "Sales and CRM", "Security",
	"Social Media", "Website",
}

// minorWords stay lower case inside a title-case label: articles, coordinating conjunctions and
// prepositions of four letters or fewer (Microsoft Writing Style Guide, "Capitalization").
var minorWords = []string{
	"a", "an", "the", "and", "but", "for", "nor", "or", "so", "yet", "as", "at", "by", "from", "in",
	"into", "of", "off", "on", "onto", "out", "over", "per", "to", "up", "via", "with",
}

var wordAPI = regexp.MustCompile(`\bAPIs?\b`)

// titleCaseProblem says why label is not in title case, or "".
func titleCaseProblem(label string) string {
	if label == "" {
		return "is empty"
	}
	if n := utf8.RuneCountInString(label); n > 80 {
		return fmt.Sprintf("has %d characters (at most 80)", n)
	}
	words := strings.Fields(label)
	for i, w := range words {
		if strings.HasPrefix(w, "(") && strings.HasSuffix(w, ")") {
			continue // a unit, such as (ms)
		}
		first, _ := utf8.DecodeRuneInString(w)
		minor := slices.Contains(minorWords, w)
		if i > 0 && i < len(words)-1 && minor {
			continue
		}
		if !unicode.IsUpper(first) && !unicode.IsDigit(first) {
			return fmt.Sprintf("is not in title case (%q)", w)
		}
	}
	return ""
}

// sentenceProblem says why text is not a sentence a maker can read, or "".
func sentenceProblem(text string) string {
	if text == "" {
		return "is empty"
	}
	first, _ := utf8.DecodeRuneInString(text)
	// flowbricks writes its own name in lower case, also first in a sentence.
	if !unicode.IsUpper(first) && !unicode.IsDigit(first) && first != '"' && !strings.HasPrefix(text, "flowbricks") {
		return "does not start with a capital letter"
	}
	if !strings.HasSuffix(text, ".") {
		return "does not end with a full stop"
	}
	return ""
}

// operationSummaryProblem says why an operation's summary breaks the rules, or "".
func operationSummaryProblem(s string) string {
	if n := utf8.RuneCountInString(s); n == 0 || n > 80 {
		return fmt.Sprintf("has %d characters (1 to 80)", n)
	}
	if strings.Contains(s, "/") {
		return "contains a slash"
	}
	if last, _ := utf8.DecodeLastRuneInString(s); !unicode.IsLetter(last) && !unicode.IsDigit(last) {
		return "does not end with a letter or digit"
	}
	words := strings.Fields(s)
	if first, _ := utf8.DecodeRuneInString(words[0]); !unicode.IsUpper(first) {
		return "does not start with a capital letter"
	}
	for _, w := range words[1:] {
		if first, _ := utf8.DecodeRuneInString(w); unicode.IsUpper(first) && strings.ToUpper(w) != w {
			return fmt.Sprintf("is not in sentence case (%q)", w)
		}
	}
	return ""
}

func TestTheGuidanceChecksThemselves(t *testing.T) {
	titles := map[string]bool{
		"Wait for Completion": true, "Job Name": true, "Run ID": true, "Duration (ms)": true,
		"Fail When the Run Fails": true, "Is Over": true, "Result JSON": true,
		"Wait for completion": false, "Job name": false, "run id": false, "": false,
		strings.Repeat("Long ", 20): false,
	}
	for label, ok := range titles {
		if got := titleCaseProblem(label) == ""; got != ok {
			t.Errorf("titleCaseProblem(%q) = %q, want ok=%v", label, titleCaseProblem(label), ok)
		}
	}
	summaries := map[string]bool{
		"Run a SQL statement": true, "Get the status of a run": true, "When a job run ends": true,
		"Run A Job": false, "Run a job.": false, "Jobs/runs": false, "": false,
	}
	for s, ok := range summaries {
		if got := operationSummaryProblem(s) == ""; got != ok {
			t.Errorf("operationSummaryProblem(%q) = %q, want ok=%v", s, operationSummaryProblem(s), ok)
		}
	}
	sentences := map[string]bool{
		"The job's id.": true, "\"Run a job\" waits.": true, "flowbricks' error code.": true,
		"true when it ended.": false, "The job's id": false,
	}
	for s, ok := range sentences {
		if got := sentenceProblem(s) == ""; got != ok {
			t.Errorf("sentenceProblem(%q) = %q, want ok=%v", s, sentenceProblem(s), ok)
		}
	}
}

// TestDefinitionFollowsMicrosoftsConnectorGuidance checks every string a maker reads in the
// document this handler serves, with the default configuration and with named statements.
func TestDefinitionFollowsMicrosoftsConnectorGuidance(t *testing.T) {
	configs := map[string]config.Config{
		"defaults": {WebsiteHostname: connectorHost},
		"named statements": {SQL: config.SQLNamed, SQLStatements: map[string]config.NamedStatement{
			"orders_by_region": {Statement: "SELECT :region", Parameters: map[string]string{"region": "STRING"}, Description: "Orders of a region"},
		}},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			doc := decodeDoc(t, servedDocument(t, openAPIServer(cfg), "example.com"))
			for _, p := range guidanceProblems(doc) {
				t.Error(p)
			}
		})
	}
}

// guidanceProblems lists every place where doc breaks a rule above, sorted.
func guidanceProblems(doc map[string]any) []string {
	var problems []string
	bad := func(where, format string, args ...any) {
		problems = append(problems, where+": "+fmt.Sprintf(format, args...))
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }

	// The connector.
	info, _ := doc["info"].(map[string]any)
	title, desc := str(info, "title"), str(info, "description")
	if n := utf8.RuneCountInString(title); n == 0 || n > 30 {
		bad("info.title", "%q has %d characters (1 to 30)", title, n)
	}
	if n := utf8.RuneCountInString(desc); n < 30 || n > 500 {
		bad("info.description", "has %d characters (30 to 500)", n)
	}
	for where, text := range map[string]string{"info.title": title, "info.description": desc} {
		if wordAPI.MatchString(text) {
			bad(where, "contains the word API")
		}
		for _, p := range otherProducts {
			if strings.Contains(strings.ToLower(text), strings.ToLower(p)) {
				bad(where, "names another product (%s)", p)
			}
		}
	}
	if strings.Contains(strings.ToLower(title), "connector") {
		bad("info.title", "contains the word Connector")
	}
	contact, _ := info["contact"].(map[string]any)
	if str(contact, "name") == "" || !isAbsoluteURL(str(contact, "url")) {
		bad("info.contact", "wants a name and an absolute url, got %v", contact)
	}
	if e := str(contact, "email"); e != "" {
		if _, err := mail.ParseAddress(e); err != nil {
			bad("info.contact.email", "%q is not an address", e)
		}
	}
	metadata := map[string]string{}
	entries, _ := doc["x-ms-connector-metadata"].([]any)
	for _, e := range entries {
		e, _ := e.(map[string]any)
		metadata[str(e, "propertyName")] = str(e, "propertyValue")
	}
	for _, k := range []string{"Website", "Privacy policy"} {
		if !isAbsoluteURL(metadata[k]) {
			bad("x-ms-connector-metadata", "%s = %q, want an absolute https URL", k, metadata[k])
		}
	}
	cats := strings.Split(metadata["Categories"], ";")
	for _, c := range cats {
		if !slices.Contains(connectorCategories, c) {
			bad("x-ms-connector-metadata", "category %q is not one of %v", c, connectorCategories)
		}
	}

	// Schemas: every property, wherever it is, through $ref to the definition that describes it.
	defs, _ := doc["definitions"].(map[string]any)
	var checkSchema func(where string, s map[string]any)
	checkSchema = func(where string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for _, name := range sortedKeys(props) {
			p, _ := props[name].(map[string]any)
			here := where + "." + name
			if ref := str(p, "$ref"); ref != "" {
				def, _ := defs[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
				if msg := titleCaseProblem(str(def, "x-ms-summary")); msg != "" {
					bad(here, "is %s, whose x-ms-summary %s: the designer labels the property with it", ref, msg)
				}
				if msg := sentenceProblem(str(def, "description")); msg != "" {
					bad(here, "is %s, whose description %s", ref, msg)
				}
				continue
			}
			if msg := titleCaseProblem(str(p, "x-ms-summary")); msg != "" {
				bad(here, "x-ms-summary %q %s", str(p, "x-ms-summary"), msg)
			}
			if msg := sentenceProblem(str(p, "description")); msg != "" {
				bad(here, "description %q %s", str(p, "description"), msg)
			}
			checkSchema(here, p)
			if items, ok := p["items"].(map[string]any); ok {
				checkSchema(here+"[]", items)
			}
		}
	}
	for _, name := range sortedKeys(defs) {
		def, _ := defs[name].(map[string]any)
		checkSchema("definitions."+name, def)
	}

	// Operations, their parameters, answers and response headers.
	paths, _ := doc["paths"].(map[string]any)
	for _, path := range sortedKeys(paths) {
		item, _ := paths[path].(map[string]any)
		for _, method := range sortedKeys(item) {
			op, _ := item[method].(map[string]any)
			id := str(op, "operationId")
			if !regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`).MatchString(id) {
				bad(method+" "+path, "operationId %q is not CamelCase", id)
			}
			if msg := operationSummaryProblem(str(op, "summary")); msg != "" {
				bad(id, "summary %q %s", str(op, "summary"), msg)
			}
			if wordAPI.MatchString(str(op, "summary")) {
				bad(id, "summary contains the word API")
			}
			if msg := sentenceProblem(str(op, "description")); msg != "" {
				bad(id, "description %s", msg)
			}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p, _ := p.(map[string]any)
				here := id + " parameter " + str(p, "name")
				if msg := titleCaseProblem(str(p, "x-ms-summary")); msg != "" {
					bad(here, "x-ms-summary %q %s", str(p, "x-ms-summary"), msg)
				}
				if msg := sentenceProblem(str(p, "description")); msg != "" {
					bad(here, "description %q %s", str(p, "description"), msg)
				}
				if schema, ok := p["schema"].(map[string]any); ok {
					checkSchema(here, schema)
				}
			}
			responses, _ := op["responses"].(map[string]any)
			for _, status := range sortedKeys(responses) {
				r, _ := responses[status].(map[string]any)
				here := id + " " + status
				if msg := sentenceProblem(str(r, "description")); msg != "" {
					bad(here, "description %q %s", str(r, "description"), msg)
				}
				headers, _ := r["headers"].(map[string]any)
				for _, h := range sortedKeys(headers) {
					hd, _ := headers[h].(map[string]any)
					if msg := titleCaseProblem(str(hd, "x-ms-summary")); msg != "" {
						bad(here+" header "+h, "x-ms-summary %q %s", str(hd, "x-ms-summary"), msg)
					}
					if msg := sentenceProblem(str(hd, "description")); msg != "" {
						bad(here+" header "+h, "description %q %s", str(hd, "description"), msg)
					}
				}
			}
		}
	}
	sort.Strings(problems)
	return slices.Compact(problems)
}

func isAbsoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
