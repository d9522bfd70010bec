package fakeentra

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- x5t is defined as the SHA-1 thumbprint (RFC 7517 §4.8)
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// SigningKey is one token signing key with the self-signed certificate Entra publishes
// for it in x5c. kid and x5t are both the base64url SHA-1 thumbprint of the certificate,
// as on Entra's keys. Tests that must sign what Entra never would (another algorithm, a
// critical header, look-alike claims) create one, hand it to the fake (Config.SigningKey,
// RotateKeysTo) and sign with PrivateKey under KeyID.
type SigningKey struct {
	priv    *rsa.PrivateKey
	certDER []byte
	kid     string
}

// keySet is the current signing key and, after a rotation, the previous one, which
// stays published and trusted until the next rotation (as during Entra's rollover).
type keySet struct {
	current, previous *SigningKey
}

func (k keySet) all() []*SigningKey {
	if k.previous == nil {
		return []*SigningKey{k.current}
	}
	return []*SigningKey{k.current, k.previous}
}

func (k keySet) byKID(kid string) *SigningKey {
	for _, sk := range k.all() {
		if sk.kid == kid {
			return sk
		}
	}
	return nil
}

// NewSigningKey generates a 2048-bit RSA signing key, as Entra's, with its certificate.
func NewSigningKey() (*SigningKey, error) { return newSigningKey(time.Now()) }

// KeyID is the key's kid (and x5t) in the JWKS and in the header of the tokens it signs.
func (k *SigningKey) KeyID() string { return k.kid }

// PrivateKey is the key's RSA private key.
func (k *SigningKey) PrivateKey() *rsa.PrivateKey { return k.priv }

func newSigningKey(now time.Time) (*SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("fakeentra: generate signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("fakeentra: signing certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		// Entra's token signing certificates are self-signed with this subject.
		Subject:   pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore: now.Add(-24 * time.Hour),
		NotAfter:  now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("fakeentra: signing certificate: %w", err)
	}
	sum := sha1.Sum(der) // #nosec G401 -- thumbprint, not a security decision
	return &SigningKey{priv: priv, certDER: der, kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// RotateKeys makes a new signing key current. The previous current key stays published
// in the JWKS and trusted by Verify until the next rotation; the one before is dropped.
func (s *Server) RotateKeys() {
	k, err := newSigningKey(s.now())
	if err != nil {
		// Unreachable: RSA key generation only fails if crypto/rand fails, and since
		// Go 1.24 crypto/rand.Reader never returns an error.
		panic(err)
	}
	s.RotateKeysTo(k)
}

// RotateKeysTo is RotateKeys with a key the caller made (NewSigningKey), so that a test
// can sign a token with the next key before Entra publishes it.
func (s *Server) RotateKeysTo(k *SigningKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys.previous, s.keys.current = s.keys.current, k
}

func (s *Server) currentKey() *SigningKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys.current
}

func (s *Server) keyByKID(kid string) *SigningKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys.byKID(kid)
}

// jwk is one entry of an Entra JWKS. Entra's keys carry no "alg".
type jwk struct {
	KTY               string   `json:"kty"`
	Use               string   `json:"use"`
	KID               string   `json:"kid"`
	X5T               string   `json:"x5t"`
	N                 string   `json:"n"`
	E                 string   `json:"e"`
	X5C               []string `json:"x5c"`
	CloudInstanceName string   `json:"cloud_instance_name"`
	Issuer            string   `json:"issuer,omitempty"` // v2 only
}

func (s *Server) jwks(version int) map[string][]jwk {
	s.mu.RLock()
	keys := s.keys.all()
	s.mu.RUnlock()
	out := make([]jwk, 0, len(keys))
	for _, k := range keys {
		j := jwk{
			KTY:               "RSA",
			Use:               "sig",
			KID:               k.kid,
			X5T:               k.kid,
			N:                 base64.RawURLEncoding.EncodeToString(k.priv.N.Bytes()),
			E:                 base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
			X5C:               []string{base64.StdEncoding.EncodeToString(k.certDER)},
			CloudInstanceName: "microsoftonline.com",
		}
		if version == 2 {
			j.Issuer = s.Issuer(2)
		}
		out = append(out, j)
	}
	return map[string][]jwk{"keys": out}
}

// x509Cert is a certificate registered on the API app with its thumbprints.
type x509Cert struct {
	cert       *x509.Certificate
	sha1, s256 []byte
}

func parseCertificatesPEM(p string) ([]*x509Cert, error) {
	var out []*x509Cert
	rest := []byte(p)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		h1 := sha1.Sum(c.Raw) // #nosec G401 -- thumbprint
		h256 := sha256.Sum256(c.Raw)
		out = append(out, &x509Cert{cert: c, sha1: h1[:], s256: h256[:]})
	}
	if len(out) == 0 {
		return nil, errors.New("no CERTIFICATE block found")
	}
	return out, nil
}

// decodeThumbprint decodes an x5t / x5t#S256 header value. RFC 7515 says base64url;
// MSAL Go sends standard base64, which Entra accepts too.
func decodeThumbprint(v string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, true
		}
	}
	return nil, false
}

func hexThumbprint(b []byte) string { return strings.ToUpper(fmt.Sprintf("%x", b)) }
