package paypage

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"dtmfgw/payment"
)

// Bounds of a card body (POST /pay/api/pay).
const (
	// MaxPayBody bounds the body: a card, a postcode and a name are a few
	// hundred bytes; anything near this is not the page's.
	MaxPayBody = 8 << 10
	// maxFields bounds the fields of one card: the three card fields and
	// a few digits fields of the configuration.
	maxFields = 16
	// maxFieldID bounds a field id, as payment's configurations do.
	maxFieldID = 64
	// maxDigits bounds one field's digits: a card number has 19, a
	// digits field of a configuration far fewer.
	maxDigits = 64
	// maxNameBytes bounds the cardholder's name as it is sent, escapes
	// and all.
	maxNameBytes = 512
)

// bodyError is a refused body or request: a status, a stable snake_case
// code and a sentence for the caller. A field is named by its id (only an
// id that passed validFieldID); a value, which may be card digits, never
// is.
type bodyError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field is the id of the field at fault, when there is one: the
	// page marks it.
	Field string `json:"field,omitempty"`
}

func (e *bodyError) Error() string { return e.Code + ": " + e.Message }

func badBody(code, message string) *bodyError {
	return &bodyError{Status: http.StatusBadRequest, Code: code, Message: message}
}

// badField is badBody about the field id, which must have passed
// validFieldID.
func badField(code, id, message string) *bodyError {
	return &bodyError{Status: http.StatusBadRequest, Code: code, Message: message, Field: id}
}

// errBadJSON is any body that is not the JSON object the page sends.
var errBadJSON = badBody("bad_json", "The body is not the JSON object this endpoint takes.")

// cardScanner reads the one shape of JSON the page sends to pay:
//
//	{"fields":{"<id>":"<digits>",…},"cardholder_name":"<text>"|null}
//
// in place, from the request's buffer. encoding/json would make a string
// of every value, and a string cannot be zeroed; this scanner copies each
// field's digits, and nothing else of them, into a []byte of its own. It
// takes JSON's grammar for this shape only: keys without escapes, field
// values that are strings of digits (spaces between them are dropped, as
// a card number is printed), the name any JSON string or null. Every loop
// moves on by at least one byte of the body, so a scan ends.
type cardScanner struct {
	b []byte
	i int
}

func (s *cardScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is c, taking
// it if so.
func (s *cardScanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// key reads an object key: a string of printable ASCII without escapes
// (the page's keys are ids). The slice is the body's.
func (s *cardScanner) key() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			k := s.b[start:s.i]
			s.i++
			return k, s.next(':')
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// digits reads a field's value: a string of ASCII digits and spaces. It
// returns a fresh slice of the digits alone, or an error naming id.
func (s *cardScanner) digits(id string) ([]byte, *bodyError) {
	s.ws()
	notDigits := func() *bodyError {
		return badField("field_not_digits", id, "The value of "+id+" must be a string of digits.")
	}
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, notDigits()
	}
	s.i++
	start, n := s.i, 0
	for {
		if s.i >= len(s.b) {
			return nil, errBadJSON
		}
		c := s.b[s.i]
		if c == '"' {
			break
		}
		switch {
		case c >= '0' && c <= '9':
			n++
		case c == ' ':
		default:
			// A backslash too: a digit needs no escape, and an escaped
			// one is not what the page sends.
			return nil, notDigits()
		}
		s.i++
	}
	end := s.i
	s.i++
	if n > maxDigits {
		return nil, badField("field_too_long", id, "The value of "+id+" has too many digits.")
	}
	d := make([]byte, 0, n)
	for _, c := range s.b[start:end] {
		if c != ' ' {
			d = append(d, c)
		}
	}
	return d, nil
}

// name reads the cardholder's name: a JSON string (escapes decoded by
// encoding/json, which is fine for a name: it is no card data the desk
// zeroes, and payment.PageCard holds it as a string) or null.
func (s *cardScanner) name() (string, *bodyError) {
	s.ws()
	if s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return "", nil
	}
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", badBody("bad_cardholder_name", "The cardholder name must be a string.")
	}
	start := s.i
	s.i++
	for {
		if s.i >= len(s.b) {
			return "", errBadJSON
		}
		c := s.b[s.i]
		if c == '"' {
			break
		}
		if c == '\\' {
			s.i++ // the escaped byte; encoding/json checks the escape
		}
		s.i++
	}
	s.i++
	raw := s.b[start:s.i]
	if len(raw) > maxNameBytes {
		return "", badBody("cardholder_name_too_long", "The cardholder name is too long.")
	}
	var n string
	if !utf8.Valid(raw) || json.Unmarshal(raw, &n) != nil {
		return "", badBody("bad_cardholder_name", "The cardholder name is not a valid JSON string.")
	}
	return n, nil
}

// parseCard reads a pay body into a PageCard whose digits are fresh
// slices: the body may be zeroed as soon as it returns, and nothing of a
// value stays anywhere but in the card. On an error, any digits already
// copied are zeroed. Errors are *bodyError and never hold a value.
func parseCard(body []byte) (payment.PageCard, *bodyError) {
	card := payment.PageCard{Fields: make(map[string][]byte)}
	err := scanCard(body, &card)
	if err != nil {
		card.Zero()
		return payment.PageCard{}, err
	}
	return card, nil
}

func scanCard(body []byte, card *payment.PageCard) *bodyError {
	s := &cardScanner{b: body}
	if !s.next('{') {
		return errBadJSON
	}
	var sawFields, sawName bool
	if !s.next('}') {
		for {
			k, ok := s.key()
			if !ok {
				return errBadJSON
			}
			switch string(k) {
			case "fields":
				if sawFields {
					return badBody("duplicate_key", "The body has fields twice.")
				}
				sawFields = true
				if err := s.fields(card); err != nil {
					return err
				}
			case "cardholder_name":
				if sawName {
					return badBody("duplicate_key", "The body has cardholder_name twice.")
				}
				sawName = true
				n, err := s.name()
				if err != nil {
					return err
				}
				card.CardholderName = n
			default:
				return badBody("unknown_key", "The body has a key this endpoint does not take.")
			}
			if s.next(',') {
				continue
			}
			if s.next('}') {
				break
			}
			return errBadJSON
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return errBadJSON
	}
	if !sawFields || len(card.Fields) == 0 {
		return badBody("missing_fields", "The body has no card fields.")
	}
	return nil
}

// fields reads the fields object into card.
func (s *cardScanner) fields(card *payment.PageCard) *bodyError {
	if !s.next('{') {
		return badBody("bad_fields", "fields must be an object of field ids and digits.")
	}
	if s.next('}') {
		return nil
	}
	for {
		k, ok := s.key()
		if !ok {
			return errBadJSON
		}
		if !validFieldID(k) {
			return badBody("bad_field_id", "A field id is not valid: lower-case letters, digits, _ and - only, at most 64.")
		}
		id := string(k)
		if _, dup := card.Fields[id]; dup {
			return badField("duplicate_field", id, "The field "+id+" is given twice.")
		}
		if len(card.Fields) == maxFields {
			return badBody("too_many_fields", "The body has too many fields.")
		}
		d, err := s.digits(id)
		if err != nil {
			return err
		}
		card.Fields[id] = d
		if s.next(',') {
			continue
		}
		if s.next('}') {
			return nil
		}
		return errBadJSON
	}
}

// validFieldID reports whether id is a field id as payment's
// configurations make them: 1–64 of [a-z0-9_-].
func validFieldID[T string | []byte](id T) bool {
	if len(id) == 0 || len(id) > maxFieldID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
