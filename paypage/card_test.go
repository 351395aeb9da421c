package paypage

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Test cards: the sandbox's approve and decline numbers.
const (
	goodCard     = "4242424242424242"
	declinedCard = "4000000000000002"
)

func TestParseCard(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		fields map[string]string
		holder string
	}{
		{"the page's", `{"fields":{"card_number":"4242424242424242","expiry":"1230","security_code":"123"},"cardholder_name":"A N Other"}`,
			map[string]string{"card_number": goodCard, "expiry": "1230", "security_code": "123"}, "A N Other"},
		{"spaces in a number", `{"fields":{"card_number":" 4242 4242 4242 4242 "}}`, map[string]string{"card_number": goodCard}, ""},
		{"white space everywhere", " \t\r\n{ \"fields\" : { \"postcode\" : \"123\" , \"expiry\":\"0130\" } , \"cardholder_name\" : null }\n ",
			map[string]string{"postcode": "123", "expiry": "0130"}, ""},
		{"name first", `{"cardholder_name":"Zoë \"Z\" O'Neil \u00e9","fields":{"x-1_y":""}}`, map[string]string{"x-1_y": ""}, `Zoë "Z" O'Neil é`},
		{"sixteen fields", `{"fields":{` + manyFields(16) + `}}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			card, err := parseCard(body)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.fields != nil {
				if len(card.Fields) != len(tt.fields) {
					t.Errorf("%d fields, want %d", len(card.Fields), len(tt.fields))
				}
				for id, want := range tt.fields {
					if got, ok := card.Fields[id]; !ok || string(got) != want {
						t.Errorf("%s: %q, want %q", id, got, want)
					}
				}
			}
			if card.CardholderName != tt.holder {
				t.Errorf("name %q, want %q", card.CardholderName, tt.holder)
			}
			// The digits are the card's own: zeroing the body changes
			// nothing of them.
			before := map[string]string{}
			for id, d := range card.Fields {
				before[id] = string(d)
			}
			clear(body)
			for id, d := range card.Fields {
				if string(d) != before[id] {
					t.Errorf("%s shares the body's memory", id)
				}
			}
		})
	}
}

func manyFields(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, `"f`+string(rune('a'+i))+`":"1"`)
	}
	return strings.Join(parts, ",")
}

func TestParseCardRefuses(t *testing.T) {
	tests := []struct{ body, code string }{
		{`{"fields":{` + manyFields(17) + `}}`, "too_many_fields"},
		{`{"fields":{"a":"1",}}`, "bad_json"},
		{`{"fields":{"a":"1"},}`, "bad_json"},
		{`{"fields":{"a":"1"}`, "bad_json"},
		{`{"fields":{"a":"1"}}}`, "bad_json"},
		{`{"fields":{"a":"1"} "cardholder_name":"x"}`, "bad_json"},
		{`{"fields":{"a":"1"},"cardholder_name":nul}`, "bad_cardholder_name"},
		{`{"fields":{"a":"1"},"cardholder_name":"a` + "\x01" + `"}`, "bad_cardholder_name"},
		{`{"fields":{"a":"1"},"cardholder_name":"\x"}`, "bad_cardholder_name"},
		{`{"fields":{"a":"1"},"cardholder_name":"` + "\xff" + `"}`, "bad_cardholder_name"},
		{`{"fields":{"a":"1"},"cardholder_name":"\"}`, "bad_json"},
		{`{"fi\u0065lds":{"a":"1"}}`, "bad_json"},
		{`{"fields":{"a":"1` + "\n" + `"}}`, "field_not_digits"},
		{`{"fields":{"a":"１２"}}`, "field_not_digits"},
		{`{"fields":{"a":null}}`, "field_not_digits"},
		{`{"fields":{"a":"12"`, "bad_json"},
		{`{"fields":{"a"`, "bad_json"},
		{`{"fields":{"a":`, "field_not_digits"},
		{`{"fields"`, "bad_json"},
		{`{`, "bad_json"},
		{`{}`, "missing_fields"},
		{`null`, "bad_json"},
	}
	for _, tt := range tests {
		card, err := parseCard([]byte(tt.body))
		if err == nil {
			t.Errorf("%q accepted: %v", tt.body, card)
			continue
		}
		if err.Code != tt.code {
			t.Errorf("%q: code %s, want %s", tt.body, err.Code, tt.code)
		}
		if card.Fields != nil {
			t.Errorf("%q: refused, with fields left", tt.body)
		}
	}
}

// FuzzParseCard: any body is a card or a 400 *bodyError, never a panic.
// A card is what encoding/json reads from the same body (the scanner
// accepts nothing JSON would not, and reads it the same), its digits are
// ASCII digits in slices of their own, and an error never repeats a value:
// it names at most a field id that passed validFieldID, and holds no
// other digit than its own text's.
func FuzzParseCard(f *testing.F) {
	f.Add([]byte(`{"fields":{"card_number":"4242424242424242","expiry":"1230","security_code":"123","postcode":"12345"},"cardholder_name":"A N Other"}`))
	f.Add([]byte(`{"fields":{"card_number":"4242 4242 4242 4242"}}`))
	f.Add([]byte(`{"cardholder_name":null,"fields":{"a":""}}`))
	f.Add([]byte(`{"fields":{"card_number":4242424242424242}}`))
	f.Add([]byte(`{"fields":{"card_number":"4242\u00344242"}}`))
	f.Add([]byte(`{"fields":{"x":"1","x":"2"}}`))
	f.Add([]byte(`{"fields":{"a":"1"},"cardholder_name":"\ud83d\ude00 \"q\""}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		card, err := parseCard(body)
		if !bytes.Equal(body, orig) {
			t.Fatal("parseCard changed the body")
		}
		if err != nil {
			if err.Status != 400 || err.Code == "" || err.Message == "" {
				t.Fatalf("error %+v", err)
			}
			if err.Field != "" && !validFieldID(err.Field) {
				t.Fatalf("error names the field %q", err.Field)
			}
			msg := strings.ReplaceAll(err.Message, "64", "")
			if err.Field != "" {
				msg = strings.ReplaceAll(msg, err.Field, "")
			}
			if strings.ContainsAny(msg, "0123456789") {
				t.Fatalf("error %q holds a digit", err.Message)
			}
			return
		}
		var ref struct {
			Fields         map[string]string `json:"fields"`
			CardholderName *string           `json:"cardholder_name"`
		}
		if jerr := json.Unmarshal(body, &ref); jerr != nil {
			t.Fatalf("scanner accepted what encoding/json refuses (%v)", jerr)
		}
		if len(ref.Fields) != len(card.Fields) || len(card.Fields) == 0 || len(card.Fields) > maxFields {
			t.Fatalf("%d fields, encoding/json reads %d", len(card.Fields), len(ref.Fields))
		}
		name := ""
		if ref.CardholderName != nil {
			name = *ref.CardholderName
		}
		if card.CardholderName != name {
			t.Fatalf("name %q, encoding/json reads %q", card.CardholderName, name)
		}
		clear(body) // as the handler does: the card must not share it
		for id, d := range card.Fields {
			if !validFieldID(id) {
				t.Fatalf("field id %q", id)
			}
			if want := strings.ReplaceAll(ref.Fields[id], " ", ""); string(d) != want {
				t.Fatalf("%s: %q, encoding/json reads %q", id, d, want)
			}
			if len(d) > maxDigits {
				t.Fatalf("%s: %d digits", id, len(d))
			}
			for _, c := range d {
				if c < '0' || c > '9' {
					t.Fatalf("%s holds %q", id, c)
				}
			}
		}
	})
}
