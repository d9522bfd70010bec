package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestTokenNeverRendersItsValue(t *testing.T) {
	const secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl"
	tok := Token(secret)
	type wrapper struct {
		Name  string
		Token Token
		Ptr   *Token
		Map   map[string]Token // (not map[Token]…: encoding/json writes string-kind map keys verbatim)
	}
	w := wrapper{Name: "x", Token: tok, Ptr: &tok, Map: map[string]Token{"k": tok}}

	renderings := map[string]string{}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		renderings["fmt "+verb] = fmt.Sprintf(verb, tok)
		renderings["fmt struct "+verb] = fmt.Sprintf(verb, w)
	}
	renderings["Sprint"] = fmt.Sprint(tok, w)
	renderings["Sprintln"] = fmt.Sprintln(tok)
	renderings["error wrap"] = fmt.Errorf("failed with %v: %w", tok, errors.New("x")).Error()
	for name, v := range map[string]any{"json token": tok, "json struct": w, "json pointer": &tok} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		renderings[name] = string(b)
	}
	text, _ := tok.MarshalText()
	renderings["text"] = string(text)

	var zbuf bytes.Buffer
	zl := zerolog.New(&zbuf)
	zl.Info().Interface("i", tok).Any("a", tok).Stringer("s", tok).Fields(map[string]any{"f": tok}).Interface("w", w).Msg("zerolog")
	var cbuf bytes.Buffer
	cl := zerolog.New(zerolog.ConsoleWriter{Out: &cbuf, NoColor: true})
	cl.Info().Any("a", tok).Msg("console")
	renderings["zerolog"], renderings["zerolog console"] = zbuf.String(), cbuf.String()

	var sbuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&sbuf, nil)).Info("slog", "token", tok, "struct", w)
	slog.New(slog.NewTextHandler(&sbuf, nil)).Info("slog", "token", tok)
	renderings["slog"] = sbuf.String()

	for name, s := range renderings {
		if strings.Contains(s, secret) || strings.Contains(s, "c2VjcmV0") || strings.Contains(s, fmt.Sprintf("%x", secret)[:16]) {
			t.Errorf("%s leaks the token: %s", name, s)
		}
		if name != "fmt %T" && name != "fmt struct %T" && !strings.Contains(s, Redacted) {
			t.Errorf("%s does not show the placeholder: %s", name, s)
		}
	}
	if tok.GoString() != Redacted || tok.String() != Redacted {
		t.Fatal("GoString/String")
	}
	if tok.Reveal() != secret {
		t.Fatal("Reveal does not return the value")
	}
	if Token("").IsZero() != true || tok.IsZero() {
		t.Fatal("IsZero")
	}
}
