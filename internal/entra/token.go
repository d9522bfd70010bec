package entra

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what a Token renders as anywhere it is printed, marshalled or logged.
const redacted = "[REDACTED]"

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
func (Token) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Token) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%s, %v, %q, %x, %d, …) prints the placeholder.
func (Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON implements json.Marshaler. zerolog's Interface/Any and map fields go through it.
func (Token) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (also used for JSON map keys, YAML, …).
func (Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }

var (
	_ fmt.Stringer   = Token("")
	_ fmt.GoStringer = Token("")
	_ fmt.Formatter  = Token("")
	_ slog.LogValuer = Token("")
)
