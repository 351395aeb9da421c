//go:build !(linux && amd64)

package media

import (
	"errors"
	"net"
	"net/netip"
)

// batchSupported reports whether this platform has a batched reader.
const batchSupported = false

// batchReader is not available here; legs read one datagram per call.
type batchReader struct{}

func newBatchReader(*net.UDPConn, int) (*batchReader, error) {
	return nil, errors.New("media: batched reads need linux/amd64")
}

func (*batchReader) read() (int, error) { return 0, errors.ErrUnsupported }

func (*batchReader) datagram(int) ([]byte, netip.AddrPort) { return nil, netip.AddrPort{} }
