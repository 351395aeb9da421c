package sipptest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Netstrings (D. J. Bernstein, "Netstrings", 1997) frame baresip's ctrl_tcp
// messages: the length in decimal ASCII, ':', the bytes, ','.

// maxNetstring bounds a frame readNetstring accepts: ctrl_tcp's messages are
// a few hundred bytes of JSON; a long command output is a few kilobytes.
const maxNetstring = 1 << 20

// errNetstring is wrapped by readNetstring's framing errors.
var errNetstring = errors.New("sipptest: bad netstring")

// appendNetstring appends data as one netstring to dst.
func appendNetstring(dst, data []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	dst = append(dst, ':')
	dst = append(dst, data...)
	return append(dst, ',')
}

// readNetstring reads one netstring from r. It returns io.EOF only when r
// ends before a frame begins, io.ErrUnexpectedEOF when it ends inside one.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	n := 0
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ':' {
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%w: length byte %q", errNetstring, c)
		}
		if digits > 0 && n == 0 {
			return nil, fmt.Errorf("%w: length with a leading zero", errNetstring)
		}
		digits++
		n = n*10 + int(c-'0')
		if n > maxNetstring {
			return nil, fmt.Errorf("%w: frame longer than %d bytes", errNetstring, maxNetstring)
		}
	}
	if digits == 0 {
		return nil, fmt.Errorf("%w: no length", errNetstring)
	}
	data := make([]byte, n+1)
	if _, err := io.ReadFull(r, data); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if data[n] != ',' {
		return nil, fmt.Errorf("%w: frame not ended by ','", errNetstring)
	}
	return data[:n], nil
}
