package entra

import (
	"fmt"
	"strings"
)

// parseBearer extracts the token from an Authorization header value (RFC 6750 §2.1, RFC 7235):
//
//	credentials = "Bearer" 1*SP token68
//
// The scheme is case-insensitive. A missing header, or another scheme, means the request carried
// no bearer credentials (ErrNoCredentials: RFC 6750 §3.1 says to answer without an error code).
// Anything else that is wrong is an invalid token. maxBytes bounds the token size before any
// further work is done.
func parseBearer(header string, maxBytes int) (string, error) {
	if len(header) > maxBytes+len("Bearer ")+64 { // generous slack for whitespace
		return "", invalidToken("token too large")
	}
	header = strings.Trim(header, " \t")
	if header == "" {
		return "", ErrNoCredentials
	}
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: authorization scheme is not Bearer", ErrNoCredentials)
	}
	token := strings.TrimLeft(rest, " ")
	switch {
	case token == "":
		return "", invalidToken("no token after Bearer")
	case len(token) > maxBytes:
		return "", invalidToken("token too large")
	case strings.ContainsAny(token, " \t,"):
		return "", invalidToken("more than one token in the Authorization header")
	case !isToken68(token):
		return "", invalidToken("token has characters not allowed in a bearer token")
	}
	return token, nil
}

// isToken68 reports whether s matches token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
