package entra

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultTokenCacheSize is how many validated tokens a [Validator] remembers by default: as many
// as the Exchanger caches exchanged tokens (DefaultCacheSize), since both serve the same tokens.
const DefaultTokenCacheSize = DefaultCacheSize

// maxCachedClaimBytes bounds what one validated-token entry holds of a token's claims (the
// Principal's strings). Entra's claims of a user or app are a few hundred bytes; a token whose
// principal is larger (many roles) is validated in full on every request instead of being cached,
// so that no token can make an entry large (docs/security.md, "Validated-token cache").
const maxCachedClaimBytes = 1 << 10

// tokenKey is the key of a token in both caches (validated tokens here, exchanged tokens in the
// Exchanger): the SHA-256 of its exact bytes. The token itself is never kept as a key.
func tokenKey(token string) [sha256.Size]byte {
	// A read-only view of the string's bytes: []byte(token) would copy the token to the heap on
	// every request — one more copy of a secret, and the only allocation of a cache hit.
	// sha256.Sum256 neither keeps nor modifies its argument.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// validatedTokens remembers tokens that passed every check of [Validator.Validate], so that a
// token presented again skips the signature check and the claim decoding (docs/security.md,
// "Validated-token cache"). Only the outcome of checks whose result cannot change while the
// Validator lives is reused; the time checks are applied again on every use, and a key that
// Entra no longer publishes takes the entries validated with it away.
//
// Safe for concurrent use. simplelru is not, hence the mutex: it is held for a map lookup and a
// list move, never across validation.
type validatedTokens struct {
	mu  sync.Mutex
	lru *simplelru.LRU[[sha256.Size]byte, *validatedToken]
	// kids are the key ids Entra publishes now (all JWKS URIs together), replaced on every key
	// refresh; an entry is only stored while its kid is among them.
	kids map[string]struct{}

	hits, misses, keyEvictions atomic.Uint64
}

// validatedToken is what a successful validation established about one token.
type validatedToken struct {
	principal Principal
	lifetime  lifetime // exp, nbf, iat: checked again on every use
	kid       string   // the key that verified the signature
}

// lifetime holds a token's time claims in the form golang-jwt's validator reads, so that a cache
// hit applies exactly the rule (and leeway) of a fresh validation.
type lifetime struct{ exp, nbf, iat *jwt.NumericDate }

func (l *lifetime) GetExpirationTime() (*jwt.NumericDate, error) { return l.exp, nil }
func (l *lifetime) GetNotBefore() (*jwt.NumericDate, error)      { return l.nbf, nil }
func (l *lifetime) GetIssuedAt() (*jwt.NumericDate, error)       { return l.iat, nil }
func (l *lifetime) GetIssuer() (string, error)                   { return "", nil }
func (l *lifetime) GetSubject() (string, error)                  { return "", nil }
func (l *lifetime) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

func newValidatedTokens(size int) (*validatedTokens, error) {
	lru, err := simplelru.NewLRU[[sha256.Size]byte, *validatedToken](size, nil)
	if err != nil {
		return nil, err
	}
	return &validatedTokens{lru: lru}, nil
}

// get returns the entry of key if there is one (and counts a hit or a miss). The caller still
// checks its lifetime.
func (c *validatedTokens) get(key [sha256.Size]byte) (*validatedToken, bool) {
	c.mu.Lock()
	ent, ok := c.lru.Get(key)
	c.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return ent, ok
}

// remove forgets key (a token whose lifetime check failed on a hit).
func (c *validatedTokens) remove(key [sha256.Size]byte) {
	c.mu.Lock()
	c.lru.Remove(key)
	c.mu.Unlock()
}

// add remembers a validated token, unless its principal is over maxCachedClaimBytes or the key
// that verified it has been withdrawn since (a key refresh that ran during the validation).
func (c *validatedTokens) add(key [sha256.Size]byte, ent *validatedToken) {
	if principalBytes(&ent.principal)+len(ent.kid) > maxCachedClaimBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, published := c.kids[ent.kid]; !published {
		return
	}
	c.lru.Add(key, ent)
}

// keysChanged is called with the key ids Entra publishes after every refresh of the key set; it
// drops every entry validated with a key that is no longer among them. Holding the lock for the
// sweep makes it atomic with add's check: no entry of a withdrawn key can be stored after it.
func (c *validatedTokens) keysChanged(kids map[string]struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kids = kids
	for _, key := range c.lru.Keys() {
		if ent, ok := c.lru.Peek(key); ok {
			if _, published := kids[ent.kid]; !published {
				c.lru.Remove(key)
				c.keyEvictions.Add(1)
			}
		}
	}
}

func (c *validatedTokens) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// principalBytes is the size of the text a Principal holds (its strings and slice headers).
func principalBytes(p *Principal) int {
	n := len(p.ObjectID) + len(p.TenantID) + len(p.Name) + len(p.AppID) + len(p.TokenVersion)
	for _, s := range p.Scopes {
		n += len(s) + int(unsafe.Sizeof(s))
	}
	for _, s := range p.Roles {
		n += len(s) + int(unsafe.Sizeof(s))
	}
	return n
}
