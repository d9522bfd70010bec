package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog/hlog"
)

// maxBodyBytes bounds every request body; run-now's largest legal body (a few 10,000-byte
// parameter maps) fits easily.
const maxBodyBytes = 64 << 10

// validator is implemented by request types that check themselves after decoding.
type validator interface {
	validate() error
}

// decode reads a strict JSON body into T: JSON content type, at most maxBodyBytes, no unknown
// fields, no trailing data, and T's own validation. Every failure names what is wrong.
func decode[T validator](r *http.Request) (T, error) {
	var v T
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return v, newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type",
				"Send the body as application/json (got "+strconv.Quote(ct)+").")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return v, newProblem(http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("The body is larger than %d bytes.", maxBodyBytes))
	}
	if err != nil {
		return v, invalidRequest("The body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return v, invalidRequest("The body is empty; send a JSON object. (Chunked bodies without Content-Length are dropped by the Functions host.)")
	}
	if r.Header.Get("Content-Type") == "" && !json.Valid(body) {
		return v, newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, jsonProblem(err)
	}
	if dec.More() {
		return v, invalidRequest("The body has data after the JSON object.")
	}
	if err := v.validate(); err != nil {
		return v, err
	}
	return v, nil
}

func jsonProblem(err error) *problem {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return invalidRequest("The body must be a JSON object.")
		}
		return invalidRequest("Field %q must be %s, not %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return invalidRequest("The body is not valid JSON (at byte %d).", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalidRequest("Field %s is not known.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidRequest("The body is not complete JSON.")
	}
	return invalidRequest("The body could not be decoded as JSON.")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int64", "int", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct", "ptr":
		return "an object"
	case "slice":
		return "an array"
	}
	return "of another type"
}

// encode writes v as JSON with the given status and content type. All response types are
// plain structs, so a failure here means the client went away; it is logged at debug.
func encode(w http.ResponseWriter, r *http.Request, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		hlog.FromRequest(r).Debug().Err(err).Msg("writing the response failed")
	}
}

func respond(w http.ResponseWriter, r *http.Request, status int, v any) {
	encode(w, r, status, "application/json; charset=utf-8", v)
}

// runIDParam reads {run_id} from the path: a positive integer.
func runIDParam(r *http.Request) (int64, error) {
	raw := chi.URLParam(r, "run_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, invalidRequest("run_id in the path must be a positive integer, not %q.", truncate(raw, 40))
	}
	return id, nil
}

// boolQuery reads an optional boolean query parameter; absent means def.
func boolQuery(r *http.Request, name string, def bool) (bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return def, invalidRequest("Query parameter %s must be true or false, not %q.", name, truncate(raw, 40))
	}
	return b, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
