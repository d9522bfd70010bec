// Package pki is the local stack's private certificate authority: it issues the TLS
// certificates of the fake cloud services (MSAL Go and azidentity refuse authorities
// that are not https) and hands out the CA certificate so that clients can trust them,
// either in-process (Pool) or through SSL_CERT_FILE (WritePEM).
//
// It is test infrastructure: keys live in memory only and certificates are short-lived.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Validity is how long the CA and the leaf certificates it issues are valid.
const Validity = 7 * 24 * time.Hour

// clockSkew back-dates NotBefore so that a client whose clock is slightly behind
// still accepts freshly issued certificates.
const clockSkew = time.Hour

// CA is an in-memory certificate authority. It is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// NewCA creates a self-signed ECDSA P-256 CA valid for Validity.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"flowbricks devstack"},
			CommonName:   "flowbricks devstack CA " + serial.Text(16)[:8],
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{
		cert: cert,
		key:  key,
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// Certificate returns the CA certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// PEM returns the CA certificate, PEM encoded (a copy).
func (c *CA) PEM() []byte { return append([]byte(nil), c.pem...) }

// Pool returns a new certificate pool that contains only the CA certificate.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// ClientTLSConfig returns a client TLS configuration that trusts only this CA.
func (c *CA) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: c.Pool(), MinVersion: tls.VersionTLS12}
}

// WritePEM writes the CA certificate to path (mode 0644, directories created as
// needed), e.g. for SSL_CERT_FILE. The file is written atomically.
func (c *CA) WritePEM(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pki: create directory for CA file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ca-*.pem")
	if err != nil {
		return fmt.Errorf("pki: write CA file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(c.pem); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write CA file: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write CA file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: write CA file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pki: write CA file: %w", err)
	}
	return nil
}

// ServerTLSConfig issues a server certificate for 127.0.0.1, ::1, localhost and the
// given extra hosts (IP addresses or DNS names) and returns a TLS configuration that
// serves it.
func (c *CA) ServerTLSConfig(hosts ...string) (*tls.Config, error) {
	leaf, err := c.IssueServerCertificate(hosts...)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{leaf},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// IssueServerCertificate issues a server (leaf) certificate, signed by the CA, for
// 127.0.0.1, ::1, localhost and hosts. The chain in the result contains the leaf and
// the CA certificate.
func (c *CA) IssueServerCertificate(hosts ...string) (tls.Certificate, error) {
	var ips []net.IP
	var names []string
	seen := map[string]bool{}
	for _, h := range append([]string{"127.0.0.1", "::1", "localhost"}, hosts...) {
		h = strings.TrimSpace(h)
		if h == "" {
			return tls.Certificate{}, errors.New("pki: empty host name")
		}
		if ip := net.ParseIP(h); ip != nil {
			if !seen[ip.String()] {
				seen[ip.String()] = true
				ips = append(ips, ip)
			}
			continue
		}
		h = strings.ToLower(h)
		if !seen[h] {
			seen[h] = true
			names = append(names, h)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: generate server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	notAfter := now.Add(Validity)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"flowbricks devstack"}, CommonName: names[0]},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: create server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: parse server certificate: %w", err)
	}
	return tls.Certificate{
		Certificate: [][]byte{der, c.cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil // never zero
}

// ClientCertificate is a self-signed RSA certificate as an admin uploads it to an app
// registration, for a confidential client that signs its assertions with the key.
type ClientCertificate struct {
	Cert    *x509.Certificate
	Key     *rsa.PrivateKey
	CertPEM string // "CERTIFICATE" block
	KeyPEM  string // PKCS#8 "PRIVATE KEY" block
}

// NewClientCertificate creates a ClientCertificate for commonName, valid for Validity. It is
// RSA because Entra ID's client assertions are RS256 (or PS256).
func NewClientCertificate(commonName string) (ClientCertificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return ClientCertificate{}, fmt.Errorf("pki: client key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return ClientCertificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return ClientCertificate{}, fmt.Errorf("pki: create client certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return ClientCertificate{}, fmt.Errorf("pki: parse client certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ClientCertificate{}, fmt.Errorf("pki: encode client key: %w", err)
	}
	return ClientCertificate{
		Cert:    cert,
		Key:     key,
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
	}, nil
}
