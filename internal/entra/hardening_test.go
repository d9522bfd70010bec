package entra

import (
	"context"
	"strings"
	"testing"
)

// The last base64url character of an RS256 signature carries 4 unused bits: 16 strings decode to
// the same signature. Only the canonical one (Entra's) is accepted, so one signed token has
// exactly one text — one exchange-cache entry, one identity in logs and audits.
func TestValidateRefusesNonCanonicalSignatureEncoding(t *testing.T) {
	f := newFakeEntra(t)
	v := newTestValidator(t, f, nil)
	tok := f.mint(t, f.userClaimsV2())
	if _, _, err := v.Validate(context.Background(), "Bearer "+tok); err != nil {
		t.Fatalf("canonical token refused: %v", err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, tok[len(tok)-1])
	for _, flip := range []int{1, 2, 3} { // same 2 data bits, different padding bits
		alt := tok[:len(tok)-1] + string(alphabet[i^flip])
		_, _, err := v.Validate(context.Background(), "Bearer "+alt)
		if errKind(err) != "invalid_token" || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("non-canonical variant %d: %v, want invalid_token (malformed)", flip, err)
		}
	}
}
