package api

import (
	"crypto/tls"
	"fmt"

	"dtmfgw/internal/certfile"
)

// MinTLSVersion is the oldest TLS version the public listener speaks:
// TLS 1.0 and 1.1 are deprecated (RFC 8996), and the listener carries API
// keys and form tokens.
const MinTLSVersion = tls.VersionTLS12

// Load reads the certificate chain and its private key (nil, nil when TLS
// is not configured). Each error names the key of the file at fault, so
// a gateway with a missing or unreadable file is refused at start, not at
// its first handshake. No error holds key material. The listener takes
// the certificate from the pair at each handshake, so Pair.Reload renews
// it while serving.
func (t TLSConfig) Load() (*certfile.Pair, error) {
	if !t.Enabled() {
		return nil, nil
	}
	p, err := certfile.Load(t.CertFile, t.KeyFile, "http.tls.cert_file", "http.tls.key_file")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return p, nil
}
