// Package tlstest makes throwaway certificates for tests of TLS listeners:
// a self-signed ECDSA P-256 certificate for 127.0.0.1, written as PEM
// files in a directory the test owns, and the pool a client trusts it
// with.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert is a certificate written by SelfSigned.
type Cert struct {
	// CertFile and KeyFile are the PEM certificate and its PKCS #8
	// private key.
	CertFile, KeyFile string
	// Pool trusts the certificate (and nothing else): a client's RootCAs.
	Pool *x509.CertPool
}

// SelfSigned writes a certificate for the IP address 127.0.0.1 (a SAN:
// Go's verifier ignores the common name), valid from an hour ago for a
// day, into dir (t.TempDir(), say). Any failure fails the test.
func SelfSigned(t testing.TB, dir string) Cert {
	t.Helper()
	return SelfSignedFor(t, dir, 24*time.Hour)
}

// SelfSignedFor is SelfSigned with a certificate valid for validFor from
// now: a renewed certificate, say, that expires later than the first.
func SelfSignedFor(t testing.TB, dir string, validFor time.Duration) Cert {
	t.Helper()
	return selfSigned(t, dir, "", validFor, x509.ExtKeyUsageServerAuth)
}

// SelfSignedClient writes a client certificate (extended key usage
// client authentication, which a TLS server's verification requires) as
// client.pem and client-key.pem into dir, valid from an hour ago for a
// day: the certificate of a mutual-TLS client, its Pool the server's
// ClientCAs.
func SelfSignedClient(t testing.TB, dir string) Cert {
	t.Helper()
	return selfSigned(t, dir, "client", 24*time.Hour, x509.ExtKeyUsageClientAuth)
}

// selfSigned writes a certificate for usage as name.pem and name-key.pem
// ("cert.pem" and "key.pem" for no name).
func selfSigned(t testing.TB, dir, name string, validFor time.Duration, usage x509.ExtKeyUsage) Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "dtmfgw test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validFor),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		// Its own issuer: a CA, so a pool holding it verifies it.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certName, keyName := "cert.pem", "key.pem"
	if name != "" {
		certName, keyName = name+".pem", name+"-key.pem"
	}
	c := Cert{CertFile: filepath.Join(dir, certName), KeyFile: filepath.Join(dir, keyName), Pool: x509.NewCertPool()}
	c.Pool.AddCert(cert)
	write := func(path, typ string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(c.CertFile, "CERTIFICATE", der)
	write(c.KeyFile, "PRIVATE KEY", keyDER)
	return c
}
