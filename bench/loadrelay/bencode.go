package main

// Bencode (BEP 3), what rtpengine's ng control protocol speaks: byte
// strings ("4:spam"), integers ("i42e"), lists ("l…e") and dictionaries
// ("d…e", keys sorted as raw strings).

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// appendBencode appends v encoded: a string or []byte, an int or int64,
// a []any of these, or a map[string]any of these.
func appendBencode(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		b = strconv.AppendInt(b, int64(len(v)), 10)
		return append(append(b, ':'), v...), nil
	case []byte:
		b = strconv.AppendInt(b, int64(len(v)), 10)
		return append(append(b, ':'), v...), nil
	case int:
		return append(strconv.AppendInt(append(b, 'i'), int64(v), 10), 'e'), nil
	case int64:
		return append(strconv.AppendInt(append(b, 'i'), v, 10), 'e'), nil
	case []string:
		b = append(b, 'l')
		for _, e := range v {
			b, _ = appendBencode(b, e)
		}
		return append(b, 'e'), nil
	case []any:
		b = append(b, 'l')
		for _, e := range v {
			var err error
			if b, err = appendBencode(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, 'd')
		for _, k := range keys {
			b, _ = appendBencode(b, k)
			var err error
			if b, err = appendBencode(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	default:
		return nil, fmt.Errorf("bencode: cannot encode %T", v)
	}
}

// errBencode wraps every reason a text is not bencode.
var errBencode = errors.New("bencode: malformed")

// maxBencodeDepth bounds the nesting of lists and dictionaries decoded.
const maxBencodeDepth = 32

// decodeBencode decodes one value that makes up the whole of b: strings
// as string, integers as int64, lists as []any, dictionaries as
// map[string]any.
func decodeBencode(b []byte) (any, error) {
	v, rest, err := decodeValue(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the value", errBencode, len(rest))
	}
	return v, nil
}

func decodeValue(b []byte, depth int) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: unexpected end", errBencode)
	}
	if depth > maxBencodeDepth {
		return nil, nil, fmt.Errorf("%w: nested deeper than %d", errBencode, maxBencodeDepth)
	}
	switch c := b[0]; {
	case c == 'i':
		end := indexByte(b, 'e')
		if end < 2 {
			return nil, nil, fmt.Errorf("%w: integer", errBencode)
		}
		n, err := strconv.ParseInt(string(b[1:end]), 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: integer %q", errBencode, b[1:end])
		}
		return n, b[end+1:], nil
	case c >= '0' && c <= '9':
		colon := indexByte(b, ':')
		if colon < 1 {
			return nil, nil, fmt.Errorf("%w: string length", errBencode)
		}
		n, err := strconv.Atoi(string(b[:colon]))
		if err != nil || n < 0 || n > len(b)-colon-1 {
			return nil, nil, fmt.Errorf("%w: string length %q", errBencode, b[:colon])
		}
		return string(b[colon+1 : colon+1+n]), b[colon+1+n:], nil
	case c == 'l':
		list := []any{}
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			v, rest, err := decodeValue(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			list, b = append(list, v), rest
		}
		if len(b) == 0 {
			return nil, nil, fmt.Errorf("%w: unterminated list", errBencode)
		}
		return list, b[1:], nil
	case c == 'd':
		dict := map[string]any{}
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			k, rest, err := decodeValue(b, depth+1)
			if err != nil {
				return nil, nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, nil, fmt.Errorf("%w: dictionary key is not a string", errBencode)
			}
			v, rest, err := decodeValue(rest, depth+1)
			if err != nil {
				return nil, nil, err
			}
			dict[key], b = v, rest
		}
		if len(b) == 0 {
			return nil, nil, fmt.Errorf("%w: unterminated dictionary", errBencode)
		}
		return dict, b[1:], nil
	default:
		return nil, nil, fmt.Errorf("%w: unexpected %q", errBencode, c)
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
