// Package redact is flowbricks' one policy for request data that reaches a log line or a problem
// detail. A caller can put a token anywhere — a path segment, a run id, a header, a JSON field
// name, an idempotency key — and neither the logs nor the answer may carry it, nor a piece of it.
//
// The rules:
//
//   - a JWT-shaped part (base64url JSON, "eyJ…", with the dots and parts that follow) is replaced,
//     also when it is cut short or is a lone payload: every Entra ID token is a JWT;
//   - a whole value or path segment longer than MaxPlain bytes is replaced, and so is a run of more
//     than MaxPlain token characters inside free text: no name, id or key flowbricks has a use for
//     is that long, while opaque tokens and secrets are;
//   - a replaced part becomes its Label, a short SHA-256 prefix, so that one value can still be
//     followed across log lines without being readable.
//
// Values that pass (a workflow run id, an action name, a GUID, a run id) stay readable for the
// person correlating a flow's run history with flowbricks' log.
//
// Upstream texts (Entra ID's and Databricks' error messages) go through the same rules, after
// [Secrets] has replaced the secret values flowbricks knows it sent with them.
package redact

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/flowbricks/flowbricks/internal/secret"
)

// MaxPlain is the longest value, path segment or run of token characters kept as it is. Logic
// Apps run ids (33 characters), GUIDs (36) and Databricks run ids (at most 19 digits) fit; Entra
// ID tokens (over 600 characters) never do.
const MaxPlain = 64

// labelHexDigits is how much of the SHA-256 a Label shows: 48 bits tell values apart in a log and
// say nothing about a token's content.
const labelHexDigits = 12

// JWT matches anything shaped like a JWS/JWT or a piece of one: base64url-encoded JSON ("eyJ" is
// the encoding of `{"`) of at least 16 characters, then up to two dot-separated parts. It is
// the pattern the problem details, the logs and the tests check against.
var JWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{13,}(\.[A-Za-z0-9_-]*){0,2}`)

// longRun matches a run of more than MaxPlain characters of RFC 6750's b64token alphabet, less
// "/": the slash separates path segments and URL parts, which are judged one by one.
var longRun = regexp.MustCompile(`[A-Za-z0-9._~+=-]{` + strconv.Itoa(MaxPlain+1) + `,}`)

// Label is what a redacted value becomes: "[sha256:" and the first 12 hex digits of its SHA-256.
func Label(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "[sha256:" + hex.EncodeToString(sum[:])[:labelHexDigits] + "]"
}

// Value returns a single value (a header, a key, a name, a path segment) as it may be logged or
// quoted: itself, or its Label when it is longer than MaxPlain bytes or holds anything JWT-shaped.
func Value(s string) string {
	if len(s) > MaxPlain || JWT.MatchString(s) {
		return Label(s)
	}
	return s
}

// Path returns a URL path with each "/"-separated segment passed through Value.
func Path(p string) string {
	if len(p) <= MaxPlain && !strings.Contains(p, "eyJ") {
		return p // the common case: a route flowbricks serves
	}
	segments := strings.Split(p, "/")
	for i, seg := range segments {
		segments[i] = Value(seg)
	}
	return strings.Join(segments, "/")
}

// Text returns free text (a problem detail, an upstream error message) with every JWT-shaped part
// and every run of more than MaxPlain token characters replaced by its Label. Labels survive a
// second pass unchanged.
func Text(s string) string {
	if strings.Contains(s, "eyJ") {
		s = JWT.ReplaceAllStringFunc(s, Label)
	}
	return longRun.ReplaceAllStringFunc(s, Label)
}

// minSecret is the shortest known secret Secrets replaces: replacing a shorter value everywhere
// would garble the text (an "a" password) while hiding nothing a guess would not find.
const minSecret = 4

// Secrets returns s with every occurrence of each known secret value (the token flowbricks sent,
// its client secret, a certificate password, a client assertion) replaced by secret.Redacted, then
// passed through Text. A known secret gets the fixed placeholder, not a Label: a certificate
// password may be short enough for its hash prefix to be guessed offline. Longer secrets are
// replaced first, so one that contains another is replaced whole.
func Secrets(s string, secrets ...string) string {
	known := make([]string, 0, len(secrets))
	for _, sec := range secrets {
		if len(sec) >= minSecret && strings.Contains(s, sec) {
			known = append(known, sec)
		}
	}
	slices.SortFunc(known, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, sec := range known {
		s = strings.ReplaceAll(s, sec, secret.Redacted)
	}
	return Text(s)
}
