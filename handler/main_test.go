package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The handler is internal/app's Run (tested there); what is left here is that a bad setting stops
// it with the one line the Functions host shows.
func TestRunRefusesBadConfigurationWithOneLine(t *testing.T) {
	err := run(context.Background(), nil, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "AZURE_TENANT_ID") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want one line naming AZURE_TENANT_ID, got %v", err)
	}
}
