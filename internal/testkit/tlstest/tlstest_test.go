package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

// The files are a key pair crypto/tls loads, and the pool verifies the
// certificate for 127.0.0.1.
func TestSelfSignedLoadsAndVerifies(t *testing.T) {
	c := SelfSigned(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.Pool, DNSName: "127.0.0.1", CurrentTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("localhost"); err == nil {
		t.Error("the certificate names more than 127.0.0.1")
	}
}

// A client certificate verifies for client authentication, and its files
// sit beside a server certificate's in one directory.
func TestSelfSignedClientVerifiesForClientAuth(t *testing.T) {
	dir := t.TempDir()
	server, client := SelfSigned(t, dir), SelfSignedClient(t, dir)
	if client.CertFile == server.CertFile || client.KeyFile == server.KeyFile {
		t.Fatalf("the client certificate overwrote the server's: %+v", client)
	}
	pair, err := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: client.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
}
