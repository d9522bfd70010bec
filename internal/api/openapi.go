package api

import (
	"net/http"
	"strings"
	"sync"
)

// openAPIDocument builds the OpenAPI 2.0 document (the custom connector's definition) from the
// operation table, so the router and the document cannot disagree.
func (s *server) openAPIDocument() map[string]any {
	paths := map[string]any{}
	for _, op := range s.operations() {
		if op.ID == "" {
			continue
		}
		path := strings.TrimPrefix(op.Path, "/api")
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		item[strings.ToLower(op.Method)] = map[string]any{
			"operationId": op.ID,
			"responses":   map[string]any{"200": map[string]any{"description": "OK"}},
		}
	}
	return map[string]any{
		"swagger":  "2.0",
		"info":     map[string]any{"title": "flowbricks", "version": "1.0"},
		"basePath": "/api",
		"schemes":  []string{"https"},
		"paths":    paths,
	}
}

func (s *server) handleOpenAPI() http.HandlerFunc {
	// Built on first use: the document is derived from operations(), which includes this handler.
	var once sync.Once
	var doc map[string]any
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { doc = s.openAPIDocument() })
		respond(w, r, http.StatusOK, doc)
	}
}
