package sms

import "testing"

// testTo is the recipient of the tests' messages.
const testTo = "+447700900123"

// linkText is the text of a payment link SMS with token in its link.
func linkText(token string) string {
	return "Pay £12.50 to Example Ltd: https://pay.example.com/p/" + token + " (valid 15 min)"
}

// linkMessage returns a message to testTo for payment paymentID whose
// link holds token.
func linkMessage(t *testing.T, paymentID, token string) Message {
	t.Helper()
	m, err := NewMessage(testTo, paymentID, linkText(token), token)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
