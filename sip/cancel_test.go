package sip

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
)

// chunkConn is a connection whose reads return the given chunks, then
// io.EOF, and whose writes are kept.
type chunkConn struct {
	net.Conn
	chunks  [][]byte
	written bytes.Buffer
	remote  net.Addr
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}
func (c *chunkConn) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *chunkConn) RemoteAddr() net.Addr        { return c.remote }

// screenB2BUA is a B2BUA with no call and the adversarial ACL: enough for
// screenCancel.
func screenB2BUA(t testing.TB) *B2BUA {
	cfg := DefaultConfig()
	adversarialACL(&cfg)
	live, err := newLiveConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &B2BUA{inbound: map[string]*bridge{}, outbound: map[string]*bridge{}, log: slog.New(slog.DiscardHandler)}
	b.live.Store(live)
	return b
}

// screen passes chunks from remote through a screenedConn and returns what
// sipgo would read, and what was answered on the connection.
func screen(b *B2BUA, remote string, chunks ...[]byte) (read, answered []byte) {
	cc := &chunkConn{remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(remote))}
	for _, c := range chunks {
		cc.chunks = append(cc.chunks, bytes.Clone(c))
	}
	conn := &screenedConn{Conn: cc, b: b, par: newStreamParser()}
	var out bytes.Buffer
	buf := make([]byte, 7) // small reads, as sipgo's may be
	for range 1 << 20 {
		n, err := conn.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return out.Bytes(), cc.written.Bytes()
}

func forgedBytes(f forged, from string) []byte {
	return f.bytes(netip.MustParseAddrPort(from), netip.MustParseAddrPort("127.0.0.1:5060"), "TCP")
}

func TestScreenedConnRefusesOnlyACancelItMustNot(t *testing.T) {
	b := screenB2BUA(t)
	// A ringing call whose caller is at 127.0.0.1, tag "caller-tag".
	br := &bridge{acl: b.live.Load().acl, callerPeer: &legPeer{localTag: "ours", remoteTag: "caller-tag", remoteTagKnown: true,
		addrs: []netip.Addr{netip.MustParseAddr(peerIP)}}}
	b.inbound["call-1"] = br
	options := forgedBytes(forged{method: "OPTIONS", callID: "probe", fromTag: "p", cseq: 1}, "127.0.0.2:5000")
	info := forgedBytes(forged{method: "INFO", callID: "call-1", fromTag: "caller-tag", toTag: "ours", cseq: 2,
		contentType: "application/dtmf-relay", body: "Signal=5\r\n"}, "127.0.0.2:5000")
	cancel := forgedBytes(forged{method: "CANCEL", callID: "call-1", fromTag: "caller-tag", cseq: 1}, "127.0.0.2:5000")
	stream := bytes.Join([][]byte{options, cancel, info}, nil)
	for _, split := range []int{1, 3, 50, len(options) + 2, len(options) + len(cancel), len(stream)} {
		var chunks [][]byte
		for rest := stream; len(rest) > 0; {
			n := min(split, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		// From outside the ACL: the CANCEL is answered 403 here and
		// never read by sipgo; the other messages pass unchanged (admit
		// refuses them after sipgo has parsed them).
		read, answered := screen(b, "127.0.0.2:5000", chunks...)
		if want := bytes.Join([][]byte{options, info}, nil); !bytes.Equal(read, want) {
			t.Errorf("split %d: sipgo reads\n%q\nwant\n%q", split, read, want)
		}
		if !bytes.HasPrefix(answered, []byte("SIP/2.0 403 ")) {
			t.Errorf("split %d: answered %q, want a 403", split, answered)
		}
	}
	// From the caller's own address, the same stream passes whole.
	if read, answered := screen(b, "127.0.0.1:5000", stream); !bytes.Equal(read, stream) || len(answered) != 0 {
		t.Errorf("the caller's own CANCEL: sipgo reads %q, answered %q", read, answered)
	}
	// Keep-alives read alone are handed on alone, for sipgo to answer.
	if read, _ := screen(b, "127.0.0.2:5000", []byte("\r\n\r\n"), options); !bytes.Equal(read, append([]byte("\r\n\r\n"), options...)) {
		t.Errorf("keep-alive and OPTIONS: sipgo reads %q", read)
	}
}

func TestScreenedConnHandsOnWhatDoesNotParse(t *testing.T) {
	// Bytes sipgo's parser refuses are handed on as they are (sipgo then
	// refuses them and closes the connection): the screen never hides or
	// invents a message.
	b := screenB2BUA(t)
	garbage := []byte("NOT SIP AT ALL\r\n\r\nCANCEL sip:x SIP/2.0\r\n\r\n")
	if read, _ := screen(b, "127.0.0.2:5000", garbage); !bytes.Equal(read, garbage) {
		t.Errorf("sipgo reads %q, want the bytes unchanged", read)
	}
}

func FuzzScreenedConn(f *testing.F) {
	// With no call to protect, the screen hands sipgo exactly the bytes
	// it read, however they are split and whatever they hold.
	f.Add(forgedBytes(forged{method: "CANCEL", callID: "c", fromTag: "t", cseq: 1}, "127.0.0.2:5000"), uint8(5))
	f.Add(forgedBytes(forged{method: "INFO", callID: "c", fromTag: "t", toTag: "u", cseq: 1, contentType: "application/dtmf", body: "5"}, "127.0.0.2:5000"), uint8(1))
	f.Add([]byte("\r\n\r\nOPTIONS sip:x SIP/2.0\r\nContent-Length: 3\r\n\r\nabc"), uint8(9))
	f.Add([]byte("CANCEL sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"), uint8(2))
	b := screenB2BUA(f)
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		n := int(split%64) + 1
		var chunks [][]byte
		for rest := data; len(rest) > 0; {
			k := min(n, len(rest))
			chunks = append(chunks, rest[:k])
			rest = rest[k:]
		}
		read, answered := screen(b, "127.0.0.1:5000", chunks...)
		if !bytes.Equal(read, data) || len(answered) != 0 {
			t.Fatalf("read %q answered %q, want %q unchanged", read, answered, data)
		}
	})
}
