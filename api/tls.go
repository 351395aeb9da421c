package api

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"os"
)

// MinTLSVersion is the oldest TLS version the public listener speaks:
// TLS 1.0 and 1.1 are deprecated (RFC 8996), and the listener carries API
// keys and form tokens.
const MinTLSVersion = tls.VersionTLS12

// Load reads the certificate chain and its private key and returns the
// public listener's TLS configuration (nil, nil when TLS is not
// configured). Each error names the key of the file at fault, so a
// gateway with a missing or unreadable file is refused at start, not at
// its first handshake. No error holds key material.
func (t TLSConfig) Load() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	switch {
	case t.CertFile == "":
		return nil, fmt.Errorf("%w: http.tls.cert_file: required with http.tls.key_file", ErrConfig)
	case t.KeyFile == "":
		return nil, fmt.Errorf("%w: http.tls.key_file: required with http.tls.cert_file", ErrConfig)
	}
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return nil, fmt.Errorf("%w: http.tls.cert_file: %v", ErrConfig, err)
	}
	if !holdsCertificate(certPEM) {
		return nil, fmt.Errorf("%w: http.tls.cert_file: %s holds no PEM CERTIFICATE block", ErrConfig, t.CertFile)
	}
	keyPEM, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: http.tls.key_file: %v", ErrConfig, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		// The certificate parsed above, so the key is at fault: absent,
		// unparsable, or not the certificate's. crypto/tls's message
		// says which, and never quotes the key.
		return nil, fmt.Errorf("%w: http.tls.key_file: not the private key of http.tls.cert_file: %v", ErrConfig, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: MinTLSVersion}, nil
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
