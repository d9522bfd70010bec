package entra

// Fuzz targets for the Authorization header: the RFC 6750 bearer parser on its own, and the whole
// Validator behind it (against the in-package fake tenant). Seed corpora live in
// testdata/fuzz/<target>/ and run with every `go test ./...`; explore further with
//
//	go test -run '^$' -fuzz FuzzParseBearer -fuzztime 2m ./internal/entra
//	go test -run '^$' -fuzz FuzzValidateAuthorization -fuzztime 2m ./internal/entra
//
// Properties: no header panics; nothing is accepted that is not "Bearer" + one token68 within the
// size limit (and, for the Validator, a token this tenant really signed); every refusal is one of
// the fixed, token-free reasons.

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flowbricks/flowbricks/internal/redact"
)

// bearerRefusals are the only texts parseBearer's errors may have: fixed reasons, so an error
// can never carry (part of) the header it refused.
var bearerRefusals = map[string]bool{
	ErrNoCredentials.Error(): true,
	ErrNoCredentials.Error() + ": authorization scheme is not Bearer":          true,
	invalidToken("token too large").Error():                                    true,
	invalidToken("no token after Bearer").Error():                              true,
	invalidToken("more than one token in the Authorization header").Error():    true,
	invalidToken("token has characters not allowed in a bearer token").Error(): true,
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []struct {
		header string
		max    uint16
	}{
		{"Bearer eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxIn0.c2ln", 16384},
		{"bearer abc", 16384},
		{"BEARER   abc==", 16384},
		{"\t Bearer abc \t", 16384},
		{"Bearer", 16384},
		{"Bearer ", 16384},
		{"Bearerabc", 16384},
		{"Basic dXNlcjpwYXNz", 16384},
		{"Bearer a b", 16384},
		{"Bearer a,Bearer b", 16384},
		{"Bearer a\tb", 16384},
		{"Bearer ab=c", 16384},
		{"Bearer =", 16384},
		{"Bearer abcdefgh", 4},
		{"Bearer é", 16384},
		{"Bearer a\x00b", 16384},
		{"", 16384},
	} {
		f.Add(s.header, s.max)
	}
	f.Fuzz(func(t *testing.T, header string, max uint16) {
		maxBytes := int(max)%(DefaultMaxTokenBytes+1) + 1
		token, err := parseBearer(header, maxBytes)
		if err != nil {
			if token != "" {
				t.Fatalf("error %v with a token", err)
			}
			if !bearerRefusals[err.Error()] {
				t.Fatalf("refusal %q is not one of the fixed reasons", err)
			}
			if !errors.Is(err, ErrNoCredentials) && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("refusal %v is neither ErrNoCredentials nor ErrInvalidToken", err)
			}
			return
		}
		// Accepted: "Bearer" (any case), one or more spaces, one token68 of at most maxBytes.
		trimmed := strings.Trim(header, " \t")
		if len(trimmed) < len("Bearer ")+1 || !strings.EqualFold(trimmed[:6], "Bearer") || trimmed[6] != ' ' {
			t.Fatalf("accepted %q, which does not start with the Bearer scheme", header)
		}
		if strings.TrimLeft(trimmed[6:], " ") != token {
			t.Fatalf("accepted %q as token %q: not the rest of the header", header, token)
		}
		if token == "" || len(token) > maxBytes || !isToken68(token) {
			t.Fatalf("accepted token %q (max %d) that is not a token68 within the limit", token, maxBytes)
		}
	})
}

func FuzzValidateAuthorization(f *testing.F) {
	fe := newFakeEntra(f)
	v := newTestValidator(f, fe, nil)
	key := fe.keys[0]

	// Every token the tenant really issued; nothing else may ever be accepted.
	genuine := map[string]bool{}
	mint := func(c jwt.MapClaims) string {
		tok := fe.mint(f, c)
		genuine[tok] = true
		return tok
	}
	user, v1, app := mint(fe.userClaimsV2()), mint(fe.userClaimsV1()), mint(fe.appClaimsV2())

	pubDER, err := x509.MarshalPKIXPublicKey(&key.priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, fe.userClaimsV2())
	hs.Header["kid"] = key.kid
	hs256, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(user, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"`+key.kid+`"}`)) + "." + parts[1] + "."
	for _, h := range []string{
		"Bearer " + user, "bearer " + v1, "BEARER  " + app, "Bearer " + user + " " + user, "Bearer " + user + ", Bearer " + v1,
		"Bearer " + hs256, "Bearer " + none, "Bearer " + parts[0] + "." + parts[1] + "x." + parts[2],
		"Bearer " + sign(f, testKeys(f, 2)[1], "unknown-kid", fe.userClaimsV2()),
		"Bearer " + mint(with(fe.userClaimsV2(), map[string]any{"scp": "Other.Read"})),
		"Bearer " + mint(with(fe.appClaimsV2(), map[string]any{"roles": []string{}})),
		"Bearer " + mint(with(fe.userClaimsV2(), map[string]any{"aud": databricksApp})),
		"Bearer " + mint(with(fe.userClaimsV2(), map[string]any{"tid": otherTenant})),
		"Bearer " + nonCanonical(user),
		"Bearer", "Basic dXNlcjpwYXNz", "",
	} {
		f.Add(h)
	}
	// Tokens the tenant signed but that break a rule are genuine signatures, not acceptable tokens.
	for tok := range genuine {
		if p, _, err := v.Validate(context.Background(), "Bearer "+tok); err != nil || p.ObjectID == "" {
			delete(genuine, tok)
		}
	}

	f.Fuzz(func(t *testing.T, header string) {
		p, tok, err := v.Validate(context.Background(), header)
		if err == nil {
			if !genuine[tok.Reveal()] || p.ObjectID == "" || (p.Kind != User && p.Kind != App) {
				t.Fatalf("accepted a token the tenant never issued (or an empty principal): %+v", p)
			}
			return
		}
		if tok != "" {
			t.Fatalf("error %v returned a token", err)
		}
		switch kind := errKind(err); kind {
		case "no_credentials", "invalid_token", "forbidden:" + CodeInsufficientScope, "forbidden:" + CodeAppCallerNotAllowed:
		default:
			t.Fatalf("refusal of kind %s: %v", kind, err)
		}
		msg := err.Error()
		if redact.JWT.MatchString(msg) {
			t.Fatalf("refusal carries a token: %q", msg)
		}
		if raw := strings.TrimSpace(header); len(raw) > 7 {
			if cand := strings.TrimSpace(raw[7:]); len(cand) >= 16 && strings.Contains(msg, cand) {
				t.Fatalf("refusal %q echoes the header", msg)
			}
		}
	})
}

// nonCanonical re-spells the last base64url character of tok with other unused low bits: the same
// signature bytes for a lenient decoder, a different string.
func nonCanonical(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[i^1])
}
