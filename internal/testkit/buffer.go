package testkit

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for a writer (a logger, a child process's
// output) and the test reading it at once. Its zero value keeps
// everything; NewLimitedBuffer's keeps a bounded start.
type Buffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int // bytes kept at most; 0: no bound
}

// NewLimitedBuffer returns a Buffer that keeps the first max bytes written
// to it and discards the rest, so that a runaway child cannot fill memory.
// Its writes never fail, which would kill a child with SIGPIPE.
func NewLimitedBuffer(max int) *Buffer { return &Buffer{max: max} }

// Write appends p, or the part of it the bound leaves room for; it always
// reports all of p written.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.max <= 0 {
		return b.b.Write(p)
	}
	if room := b.max - b.b.Len(); room > 0 {
		b.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// String returns everything kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bytes returns a copy of everything kept so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// Len returns how many bytes are kept.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}
