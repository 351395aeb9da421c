package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 64 << 10

// decodeBody reads the request's JSON body into v: application/json
// only, at most MaxBodyBytes, one value, no unknown fields, nothing after
// it. A body-less action (v is nil) takes an empty body, or {} as JSON.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := readBody(w, r)
	if err != nil {
		return err
	}
	if v == nil && len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := checkJSONType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if v == nil {
		v = &struct{}{}
	}
	return decodeJSON(data, v)
}

// checkJSONType refuses a content type other than application/json
// (parameters such as charset=utf-8 allowed).
func checkJSONType(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
	}
	return nil
}

// decodeJSON decodes exactly one JSON value from data into v, refusing
// unknown fields and trailing data. Its errors are *apiError and never
// quote the body.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "invalid_json", "the body holds data after the JSON value")
	}
	return nil
}

// jsonError classifies a decoding error. encoding/json's messages quote
// the offending field name, which is the client's text: only a name made
// of the characters our field names use is repeated.
func jsonError(err error) *apiError {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if i := strings.LastIndexByte(field, '.'); i >= 0 {
			field = field[i+1:]
		}
		if field == "" || !fieldName(field) {
			return errorf(http.StatusBadRequest, "invalid_json", "the body is not the expected JSON object")
		}
		return errorf(http.StatusBadRequest, "invalid_"+field, "the value of "+field+" has the wrong type")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "unknown_field", "the body has a field this endpoint does not take")
	}
	return errorf(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
}

// fieldName reports whether s looks like one of our JSON field names.
func fieldName(s string) bool {
	if len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// readBody reads the request's body, at most MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes))
		}
		return nil, errorf(http.StatusBadRequest, "bad_request", "the body could not be read")
	}
	return data, nil
}
