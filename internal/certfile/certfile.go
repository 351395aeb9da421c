// Package certfile serves a TLS listener's certificate from PEM files that
// can be read again while the listener runs. Certificates are renewed
// (ACME every 60–90 days, a company PKI on its own schedule) while calls
// are in progress: with the certificate taken from a Pair at each
// handshake, a Reload makes the next handshake use the renewed one
// without a restart, and connections already open keep theirs.
package certfile

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Pair is a certificate chain and its private key, read from two files.
// Safe for concurrent use.
type Pair struct {
	certFile, keyFile string
	// certKey and keyKey are the configuration keys that name the files
	// ("http.tls.cert_file"): every error says which one is at fault.
	certKey, keyKey string

	mu  sync.Mutex // serialises Reload
	cur atomic.Pointer[tls.Certificate]
}

// Load reads the pair. certKey and keyKey name the files' configuration
// keys in errors. No error holds key material.
func Load(certFile, keyFile, certKey, keyKey string) (*Pair, error) {
	p := &Pair{certFile: certFile, keyFile: keyFile, certKey: certKey, keyKey: keyKey}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads the files again. If they do not hold a valid pair (a
// renewal half written, a key that is not the certificate's), the
// certificate in use stays and the error says which file is at fault.
func (p *Pair) Reload() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.certFile == "" {
		return fmt.Errorf("%s: required with %s", p.certKey, p.keyKey)
	}
	if p.keyFile == "" {
		return fmt.Errorf("%s: required with %s", p.keyKey, p.certKey)
	}
	certPEM, err := os.ReadFile(p.certFile)
	if err != nil {
		return fmt.Errorf("%s: %v", p.certKey, err)
	}
	if !holdsCertificate(certPEM) {
		return fmt.Errorf("%s: %s holds no PEM CERTIFICATE block", p.certKey, p.certFile)
	}
	keyPEM, err := os.ReadFile(p.keyFile)
	if err != nil {
		return fmt.Errorf("%s: %v", p.keyKey, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		// The certificate parsed above, so the key is at fault: absent,
		// unparsable, or not the certificate's. crypto/tls's message
		// says which, and never quotes the key.
		return fmt.Errorf("%s: not the private key of %s: %v", p.keyKey, p.certKey, err)
	}
	if cert.Leaf == nil {
		// X509KeyPair fills Leaf unless GODEBUG x509keypairleaf=0; NotAfter
		// needs it.
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("%s: %v", p.certKey, err)
		}
	}
	p.cur.Store(&cert)
	return nil
}

// Certificate returns the certificate in use: a tls.Config's
// GetCertificate.
func (p *Pair) Certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return p.cur.Load(), nil
}

// Config returns a server configuration that takes the certificate in
// use at each handshake and speaks no TLS older than minVersion.
func (p *Pair) Config(minVersion uint16) *tls.Config {
	return &tls.Config{GetCertificate: p.Certificate, MinVersion: minVersion}
}

// NotAfter returns when the leaf certificate in use expires.
func (p *Pair) NotAfter() time.Time {
	if c := p.cur.Load(); c != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}

// holdsCertificate reports whether b has at least one PEM CERTIFICATE
// block (what tls.X509KeyPair takes the chain from).
func holdsCertificate(b []byte) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if blk.Type == "CERTIFICATE" {
			return true
		}
	}
}
