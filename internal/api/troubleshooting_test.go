package api

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/flowbricks/flowbricks/internal/entra"
)

// Every problem's type URL points at docs/troubleshooting.md#<code>: each code the API can answer
// has its section there.
func TestEveryProblemCodeIsInTheTroubleshootingGuide(t *testing.T) {
	codes := map[string]bool{
		entra.CodeAppCallerNotAllowed: true, // passed through from the validator
		"run_failed":                  true, // the 424 body of wait mode
		"statement_failed":            true, // the 424 body of a statement in wait mode
	}
	sources, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	literal := regexp.MustCompile(`newProblem\(http\.Status\w+,\s*"([a-z_]+)"`)
	for _, f := range sources {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllStringSubmatch(string(src), -1) {
			codes[m[1]] = true
		}
	}
	if len(codes) < 15 {
		t.Fatalf("found only %d codes in the sources; the pattern no longer matches", len(codes))
	}
	guide, err := os.ReadFile("../../docs/troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	var sections []string
	for _, m := range regexp.MustCompile(`(?m)^### ([a-z_]+)$`).FindAllStringSubmatch(string(guide), -1) {
		sections = append(sections, m[1])
	}
	for code := range codes {
		if !slices.Contains(sections, code) {
			t.Errorf("docs/troubleshooting.md has no section \"### %s\" (the anchor of its problem type URL)", code)
		}
	}
}
