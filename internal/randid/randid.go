// Package randid makes random identifiers and secrets: bytes from
// crypto/rand written as unpadded base64url, so that they go into URLs,
// headers, JSON and logs as they are. Calls, payments and generated API
// keys take theirs from here.
package randid

import (
	"crypto/rand"
	"encoding/base64"
)

// New returns n random bytes (8n bits) as unpadded base64url text.
func New(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
