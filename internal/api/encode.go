package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog/hlog"

	"github.com/flowbricks/flowbricks/internal/redact"
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
	// Decoder.More is false before a stray ']' or '}', so look at what is left instead.
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return v, invalidRequest("The body has data after the JSON object.")
	}
	if err := checkFieldNames[T](body); err != nil {
		return v, err
	}
	if err := v.validate(); err != nil {
		return v, err
	}
	return v, nil
}

// checkFieldNames rejects what encoding/json accepts silently in a body it decoded without
// error: a top-level field spelt with other letter case than its name (json matches names
// case-insensitively, so "JOB_ID" would be taken for job_id) and a key sent twice in any object,
// the body or one nested in it such as job_parameters (json keeps the last one, while another
// parser in front of flowbricks may keep the first, and the run would not get what the flow's
// author reads). It is only called on a body that decoded, i.e. one valid JSON object.
func checkFieldNames[T any](body []byte) error {
	names := jsonFieldNames(reflect.TypeFor[T]())
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // not an object: the decoder has reported it already
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		name, ok := tok.(string)
		if err != nil || !ok {
			return invalidRequest("The body could not be decoded as JSON.")
		}
		if !slices.Contains(names, name) {
			for _, n := range names {
				if strings.EqualFold(n, name) {
					return invalidRequest("Field %q is not known; field names are case-sensitive: send %q.", redact.Value(name), n)
				}
			}
			return invalidRequest("Field %q is not known.", redact.Value(name))
		}
		if seen[name] {
			return invalidRequest("Field %q is given more than once.", name)
		}
		seen[name] = true
		if err := checkUniqueKeys(dec, name, 1); err != nil {
			return err
		}
	}
	return nil
}

// maxNesting bounds how deep checkUniqueKeys follows a body. run-now's deepest value is a string
// in a parameter map (depth 2); the bound only keeps a generic T from recursing without limit.
const maxNesting = 32

// checkUniqueKeys reads the next JSON value from dec and refuses any object in it that has a key
// twice, naming the key's path (job_parameters.date, a[1].b). Keys in the path are redacted: a
// parameter name can be anything, a token included.
func checkUniqueKeys(dec *json.Decoder, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return invalidRequest("The body could not be decoded as JSON.")
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if depth > maxNesting {
		return invalidRequest("The body nests objects and arrays more than %d levels deep.", maxNesting)
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			key, ok := tok.(string)
			if err != nil || !ok {
				return invalidRequest("The body could not be decoded as JSON.")
			}
			field := path + "." + redact.Value(key)
			if seen[key] {
				return invalidRequest("Field %q is given more than once.", field)
			}
			seen[key] = true
			if err := checkUniqueKeys(dec, field, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := checkUniqueKeys(dec, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing } or ]
		return invalidRequest("The body could not be decoded as JSON.")
	}
	return nil
}

// jsonFieldNames lists the JSON names of a struct type's fields (from their json tags), with the
// fields of untagged embedded structs flattened in, as encoding/json does.
func jsonFieldNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-":
		case f.Anonymous && name == "" && ft.Kind() == reflect.Struct:
			names = append(names, jsonFieldNames(ft)...)
		case !f.IsExported():
		case name == "":
			names = append(names, f.Name)
		default:
			names = append(names, name)
		}
	}
	return names
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
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if unquoted, err := strconv.Unquote(name); err == nil {
			name = unquoted
		}
		return invalidRequest("Field %q is not known.", redact.Value(name))
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
		return 0, invalidRequest("run_id in the path must be a positive integer, not %q.", redact.Value(raw))
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
		return def, invalidRequest("Query parameter %s must be true or false, not %q.", name, redact.Value(raw))
	}
	return b, nil
}
