// Package secret holds flowbricks' one type for secret material: the incoming access token, the
// exchanged Databricks token, the client secret and the certificate password. It is a leaf
// package so that every package that carries a secret — the Entra ID boundary, the HTTP surface
// and the Databricks boundary where the Authorization header is finally set — carries the same
// redacting type (docs/security.md, Trust boundaries), and none needs to import another for it.
package secret

import (
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what a Token renders as anywhere it is printed, marshalled or logged, and what a
// known secret value becomes in text that quotes it (see redact.Secrets).
const Redacted = "[REDACTED]"

// Token is a secret string: an access token, a client secret or a certificate password.
//
// Every way of printing or encoding it (fmt verbs including %#v, JSON, text, slog, zerolog's
// Interface/Any/Stringer) yields "[REDACTED]". [Token.Reveal] is the only sanctioned way to get the
// value; call it only at the point where the secret is handed to the library that needs it.
//
// Limits of a string type: an explicit string(t) conversion bypasses all of this, and
// encoding/json writes string-kind map keys verbatim, so never use a Token as a map key.
type Token string

// Reveal returns the secret value. Never pass the result to a logger or an error message.
func (t Token) Reveal() string { return string(t) }

// IsZero reports whether the token is empty.
func (t Token) IsZero() bool { return t == "" }

// String implements fmt.Stringer.
func (Token) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v).
func (Token) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb (%s, %v, %q, %x, %d, …) prints the placeholder.
func (Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// MarshalJSON implements json.Marshaler. zerolog's Interface/Any and map fields go through it.
func (Token) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (also used for JSON map keys, YAML, …).
func (Token) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer.
func (Token) LogValue() slog.Value { return slog.StringValue(Redacted) }

var (
	_ fmt.Stringer   = Token("")
	_ fmt.GoStringer = Token("")
	_ fmt.Formatter  = Token("")
	_ slog.LogValuer = Token("")
)
