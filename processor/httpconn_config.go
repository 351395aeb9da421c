package processor

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
)

// Limits of the HTTP connector's configuration.
const (
	// MinSigningSecretLen is the shortest signing secret accepted, in
	// bytes: 256 bits, the HMAC-SHA256 key size that brute force cannot
	// reach.
	MinSigningSecretLen = 32
	// MinBearerTokenLen is the shortest bearer token accepted, as for the
	// API's own keys: shorter ones are guessable.
	MinBearerTokenLen = 16
)

// connectorSettings is what the HTTP connector's keys resolve to.
type connectorSettings struct {
	// authorization is the Authorization header's value.
	authorization string
	// secret keys the request signature.
	secret []byte
	// tls is the client's TLS configuration, nil for the transport's own
	// (the system's roots, no client certificate).
	tls *tls.Config
}

// httpKeysSet names the HTTP connector's keys that are set, in the
// order of the documentation.
func (c Config) httpKeysSet() []string {
	var set []string
	for _, k := range []struct {
		name string
		on   bool
	}{
		{"url", c.URL != ""}, {"username", c.Username != ""}, {"password", c.Password != ""},
		{"password_env", c.PasswordEnv != ""}, {"bearer_token", c.BearerToken != ""},
		{"bearer_token_env", c.BearerTokenEnv != ""}, {"signing_secret", c.SigningSecret != ""},
		{"signing_secret_env", c.SigningSecretEnv != ""}, {"tls_client_cert", c.TLSClientCert != ""},
		{"tls_client_key", c.TLSClientKey != ""}, {"tls_ca", c.TLSCA != ""},
	} {
		if k.on {
			set = append(set, k.name)
		}
	}
	return set
}

// connectorSettings checks the HTTP connector's keys and resolves them.
// Each error starts with its key's name ("signing_secret: …") and never
// holds a secret.
func (c Config) connectorSettings() (connectorSettings, []error) {
	var s connectorSettings
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	plain := false
	switch {
	case c.URL == "":
		bad("url", "missing: the connector's https endpoint")
	default:
		if err := checkBaseURL(c.URL); err != nil {
			bad("url", "%v", err)
		} else if u, _ := url.Parse(c.URL); u.Scheme == "http" {
			plain = true
		}
	}
	auth, err := c.authorization()
	errs = append(errs, err...)
	s.authorization = auth

	secret, set, e := secretFrom("signing_secret", c.SigningSecret, "signing_secret_env", c.SigningSecretEnv)
	switch {
	case e != nil:
		errs = append(errs, e)
	case !set:
		bad("signing_secret", "missing (or signing_secret_env): every request is signed")
	case len(secret) < MinSigningSecretLen:
		bad("signing_secret", "shorter than %d bytes", MinSigningSecretLen)
	default:
		s.secret = []byte(secret)
	}

	tc, e2 := c.clientTLS(plain)
	errs = append(errs, e2...)
	s.tls = tc
	return s, errs
}

// authorization checks the credentials and returns the Authorization
// header's value: HTTP Basic (username and password) or a bearer token,
// exactly one.
func (c Config) authorization() (string, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	password, hasPassword, err := secretFrom("password", c.Password, "password_env", c.PasswordEnv)
	if err != nil {
		errs = append(errs, err)
	}
	token, hasToken, err := secretFrom("bearer_token", c.BearerToken, "bearer_token_env", c.BearerTokenEnv)
	if err != nil {
		errs = append(errs, err)
	}
	basic := c.Username != "" || hasPassword || c.Password != "" || c.PasswordEnv != ""
	bearer := hasToken || c.BearerToken != "" || c.BearerTokenEnv != ""
	switch {
	case basic && bearer:
		bad("bearer_token", "set together with username and password; choose one")
	case !basic && !bearer:
		bad("username", "missing: set username and password (HTTP Basic) or bearer_token")
	case bearer:
		if !hasToken {
			return "", errs
		}
		if len(token) < MinBearerTokenLen || !tokenChars(token) {
			bad("bearer_token", "not a token of at least %d letters, digits and -._~+/=", MinBearerTokenLen)
			return "", errs
		}
		return "Bearer " + token, errs
	default:
		if c.Username == "" {
			bad("username", "missing (a password is set)")
		} else if !printableASCII(c.Username, false) {
			// RFC 7617: the user-id cannot hold a colon.
			bad("username", "not printable ASCII without ':'")
		}
		switch {
		case !hasPassword && c.Password == "" && c.PasswordEnv == "":
			bad("password", "missing (or password_env)")
		case hasPassword && !printableASCII(password, true):
			bad("password", "not printable ASCII")
		}
		if len(errs) == 0 {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+password)), nil
		}
	}
	return "", errs
}

// clientTLS loads the client certificate and the trusted CAs, if set.
func (c Config) clientTLS(plain bool) (*tls.Config, []error) {
	if c.TLSClientCert == "" && c.TLSClientKey == "" && c.TLSCA == "" {
		return nil, nil
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if plain {
		bad("url", "plain http with tls_client_cert, tls_client_key or tls_ca: the TLS settings would not be used")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case c.TLSClientCert != "" && c.TLSClientKey == "":
		bad("tls_client_key", "missing (tls_client_cert is set)")
	case c.TLSClientKey != "" && c.TLSClientCert == "":
		bad("tls_client_cert", "missing (tls_client_key is set)")
	case c.TLSClientCert != "":
		pair, err := tls.LoadX509KeyPair(c.TLSClientCert, c.TLSClientKey)
		if err != nil {
			bad("tls_client_cert", "%s with %s: %v", truncate(c.TLSClientCert, 128), truncate(c.TLSClientKey, 128), err)
		} else {
			tc.Certificates = []tls.Certificate{pair}
		}
	}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		switch {
		case err != nil:
			bad("tls_ca", "%v", err)
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				bad("tls_ca", "%s holds no PEM certificate", truncate(c.TLSCA, 128))
			}
			tc.RootCAs = pool
		}
	}
	return tc, errs
}

// secretFrom returns a secret given as field or in the environment
// variable envField names; set reports whether either gave one. The error
// names the field, never the value.
func secretFrom(field string, value Secret, envField, env string) (secret string, set bool, err error) {
	switch {
	case value != "" && env != "":
		return "", false, fmt.Errorf("%s: set together with %s; choose one", field, envField)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", false, fmt.Errorf("%s: %s is not set", envField, truncate(env, 64))
		}
		return v, true, nil
	case value != "":
		return string(value), true, nil
	}
	return "", false, nil
}

// printableASCII reports whether s is printable ASCII (spaces allowed),
// with or without a colon.
func printableASCII(s string, colon bool) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' || s[i] == ':' && !colon {
			return false
		}
	}
	return true
}

// tokenChars reports whether s is an RFC 6750 b64token: letters, digits,
// "-._~+/", then any "=".
func tokenChars(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
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
