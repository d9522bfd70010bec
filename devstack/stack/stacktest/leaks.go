package stacktest

import (
	"fmt"
	"strings"

	"github.com/flowbricks/flowbricks/devstack/stack"
	"github.com/flowbricks/flowbricks/internal/redact"
)

// PieceLen is the shortest piece of a token the leak scan looks for: a log that cut a token to a
// prefix (or kept its signature) leaks as surely as one that kept it whole.
const PieceLen = 20

// FindLeaks reports a JWT-shaped string (internal/redact's definition, a piece of one included), a
// known secret, or any PieceLen-character piece of a token the tests sent, in the handler logs of
// a test binary (docs/security.md, Logging and audit). It insists the logs are not empty, so a
// broken capture cannot pass. Its errors quote at most a few characters of what they found.
func FindLeaks(logs string, secrets, sent []string) error {
	if !strings.Contains(logs, `"request_id"`) {
		return fmt.Errorf("no request logs were captured (%d bytes)", len(logs))
	}
	if m := redact.JWT.FindString(logs); m != "" {
		return fmt.Errorf("a JWT appears in the logs: %.12s…", m)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			return fmt.Errorf("a client secret appears in the logs")
		}
	}
	if p := FirstPiece(logs, sent); p != "" {
		return fmt.Errorf("a %d-character piece of a token a test sent appears in the logs: %.6s…", PieceLen, p)
	}
	return nil
}

// FirstPiece returns the first PieceLen-character piece of any of tokens found in s, or "". The
// pieces go into one set and s is read once, so scanning every handler log stays linear.
func FirstPiece(s string, tokens []string) string {
	pieces := map[string]bool{}
	for _, t := range tokens {
		for i := 0; i+PieceLen <= len(t); i++ {
			pieces[t[i:i+PieceLen]] = true
		}
	}
	if len(pieces) == 0 {
		return ""
	}
	for i := 0; i+PieceLen <= len(s); i++ {
		if pieces[s[i:i+PieceLen]] {
			return s[i : i+PieceLen]
		}
	}
	return ""
}

// FixtureSecrets are the client secrets of the built-in fixture: none may reach a log.
func FixtureSecrets() []string {
	fx, err := stack.LoadFixture("")
	if err != nil {
		return nil
	}
	secrets := []string{fx.Entra.API.ClientSecret}
	for _, a := range fx.Entra.Apps {
		secrets = append(secrets, a.ClientSecret)
	}
	return secrets
}
