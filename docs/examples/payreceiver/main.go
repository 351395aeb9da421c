// Command payreceiver is an example of the endpoint dtmfgw's HTTP
// connector (a processor of type http, docs/processor.md) posts cards to:
// the receiving side, which a merchant or a card vault runs and which
// would hand the card to a real processor. This one moves no money: it
// answers from the sandbox's test cards.
//
// It checks what every receiver must check, in this order: the
// credentials (HTTP Basic or a bearer token), the Dtmfgw-Signature header
// (an HMAC-SHA256 of the timestamp and the raw body, at most five minutes
// old), and the transaction_id: a repeated one gets the first answer
// again, from a ledger kept in memory, so that dtmfgw's retries and its
// status calls never charge twice.
//
//	PAYRECEIVER_USERNAME=dtmfgw PAYRECEIVER_PASSWORD=... \
//	PAYRECEIVER_SIGNING_SECRET=... \
//	go run ./docs/examples/payreceiver -listen 127.0.0.1:8099
//
// and in dtmfgw's configuration file:
//
//	processors:
//	  receiver:
//	    type: http
//	    url: http://127.0.0.1:8099/pay
//	    username: dtmfgw
//	    password_env: PAYRECEIVER_PASSWORD
//	    signing_secret_env: PAYRECEIVER_SIGNING_SECRET
//
// Plain HTTP is served on a loopback address only; anywhere else give
// -tls-cert and -tls-key (and -client-ca to require dtmfgw's client
// certificate). PAYRECEIVER_BEARER_TOKEN replaces the username and
// password with a bearer token.
//
// The card number and security code are decoded into byte slices of the
// receiver's own, never strings, and zeroed with the request body once
// the answer is written; the log says the transaction, the method and the
// outcome, never a digit of the card.
package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8099", "address to listen on")
	certFile := flag.String("tls-cert", "", "PEM certificate: serve HTTPS")
	keyFile := flag.String("tls-key", "", "PEM key of -tls-cert")
	clientCA := flag.String("client-ca", "", "PEM CA certificates: require a client certificate they sign (mutual TLS)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *listen, *certFile, *keyFile, *clientCA); err != nil {
		log.Error("payreceiver stopped", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, listen, certFile, keyFile, clientCA string) error {
	if certFile == "" {
		// The card would cross the network in clear.
		host, _, err := net.SplitHostPort(listen)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return errors.New("plain HTTP is served on a loopback address only: give -tls-cert and -tls-key")
		}
	}
	rc, err := newReceiver(os.Getenv, log)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: listen, Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	if certFile == "" {
		log.Info("payreceiver listening", "url", "http://"+listen+"/pay")
		return srv.ListenAndServe()
	}
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", clientCA)
		}
		srv.TLSConfig.ClientCAs = pool
		srv.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
	}
	log.Info("payreceiver listening", "url", "https://"+listen+"/pay", "mutual_tls", clientCA != "")
	return srv.ListenAndServeTLS(certFile, keyFile)
}

// Limits of the receiver.
const (
	// maxBody bounds a request body: dtmfgw's are under a kilobyte.
	maxBody = 16 << 10
	// tolerance is how far a signature's timestamp may be from the
	// receiver's clock: enough for skew, short enough that a captured
	// request replayed later is refused.
	tolerance = 5 * time.Minute
	// maxLedger bounds the ledger; the oldest answers are forgotten.
	maxLedger = 100_000
	// minSecret is the shortest signing secret: dtmfgw's own minimum.
	minSecret = 32
)

// receiver is the endpoint: its credentials and its ledger.
type receiver struct {
	authorization string // the Authorization header it expects
	secret        []byte
	now           func() time.Time
	log           *slog.Logger

	mu     sync.Mutex
	ledger map[string]*entry
	order  []string // keys, oldest first
}

// entry is the ledger's memory of one transaction_id: what a repeat must
// match, and the first answer. Never card data.
type entry struct {
	fingerprint string // method, amount and currency
	done        bool   // the answer is decided (else: in progress)
	status      int
	answer      []byte
}

// newReceiver reads the credentials from the environment.
func newReceiver(getenv func(string) string, log *slog.Logger) (*receiver, error) {
	user, pass, token := getenv("PAYRECEIVER_USERNAME"), getenv("PAYRECEIVER_PASSWORD"), getenv("PAYRECEIVER_BEARER_TOKEN")
	rc := &receiver{secret: []byte(getenv("PAYRECEIVER_SIGNING_SECRET")), now: time.Now, log: log, ledger: map[string]*entry{}}
	switch {
	case token != "" && (user != "" || pass != ""):
		return nil, errors.New("set PAYRECEIVER_BEARER_TOKEN or PAYRECEIVER_USERNAME and PAYRECEIVER_PASSWORD, not both")
	case token != "":
		rc.authorization = "Bearer " + token
	case user != "" && pass != "":
		rc.authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	default:
		return nil, errors.New("set PAYRECEIVER_USERNAME and PAYRECEIVER_PASSWORD (or PAYRECEIVER_BEARER_TOKEN)")
	}
	if len(rc.secret) < minSecret {
		return nil, fmt.Errorf("PAYRECEIVER_SIGNING_SECRET: set it to the processor's signing_secret, at least %d bytes", minSecret)
	}
	return rc, nil
}

// payRequest is a request body. The card fields are digits of their own.
type payRequest struct {
	Method        string      `json:"method"`
	TransactionID string      `json:"transaction_id"`
	CardNumber    digits      `json:"cardnumber"`
	CVV           digits      `json:"cvv"`
	ExpiryMonth   string      `json:"expiry_month"`
	ExpiryYear    string      `json:"expiry_year"`
	PostalCode    string      `json:"postal_code"`
	Description   string      `json:"description"`
	Amount        json.Number `json:"amount"`
	AmountMinor   *int64      `json:"amount_minor"`
	CurrencyCode  string      `json:"currency_code"`
}

// digits is a JSON string of ASCII digits, decoded into bytes of its own
// so that it can be zeroed (a string cannot).
type digits []byte

// UnmarshalJSON implements json.Unmarshaler. Its error quotes nothing.
func (d *digits) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("not a string of digits")
	}
	in := b[1 : len(b)-1]
	for _, c := range in {
		if c < '0' || c > '9' {
			return errors.New("not a string of digits")
		}
	}
	*d = append((*d)[:0], in...)
	return nil
}

// answer is a response body in the connector's shape.
type answer struct {
	ChargeID     *string `json:"charge_id"`
	TokenID      *string `json:"token_id,omitempty"`
	ErrorCode    *string `json:"error_code"`
	ErrorMessage *string `json:"error_message"`
}

// ServeHTTP implements http.Handler.
func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, failure("invalid_request", "POST only"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	defer clear(body) // it holds the card
	switch {
	case err != nil:
		return
	case len(body) > maxBody:
		reply(w, http.StatusRequestEntityTooLarge, failure("invalid_request", "body too large"))
		return
	}
	// Credentials first, then the signature, then the body: nothing of
	// an unauthenticated request is parsed.
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(rc.authorization)) != 1 {
		rc.log.Warn("request refused: bad credentials", "remote", r.RemoteAddr)
		reply(w, http.StatusUnauthorized, failure("authentication_error", "bad credentials"))
		return
	}
	if err := verify(rc.secret, r.Header.Get("Dtmfgw-Signature"), body, rc.now()); err != nil {
		rc.log.Warn("request refused: bad signature", "remote", r.RemoteAddr, "error", err)
		reply(w, http.StatusUnauthorized, failure("authentication_error", "bad signature"))
		return
	}
	var req payRequest
	defer func() { clear(req.CardNumber); clear(req.CVV) }()
	if err := json.Unmarshal(body, &req); err != nil || req.TransactionID == "" {
		rc.log.Warn("request refused: not a payment request", "remote", r.RemoteAddr)
		reply(w, http.StatusBadRequest, failure("invalid_request", "not a payment request"))
		return
	}
	switch req.Method {
	case "status":
		rc.status(w, req.TransactionID)
	case "charge", "tokenize":
		rc.pay(w, r, &req)
	default:
		reply(w, http.StatusBadRequest, failure("invalid_request", "method is not charge, tokenize or status"))
	}
}

// status answers the status call: the first answer under the key.
func (rc *receiver) status(w http.ResponseWriter, key string) {
	rc.mu.Lock()
	e, ok := rc.ledger[key]
	rc.mu.Unlock()
	switch {
	case !ok:
		rc.log.Info("status", "transaction_id", key, "outcome", "not_found")
		reply(w, http.StatusNotFound, failure("not_found", "no transaction under this id"))
	case !e.done:
		reply(w, http.StatusConflict, failure("in_progress", "the transaction is still being processed"))
	default:
		rc.log.Info("status", "transaction_id", key, "http_status", e.status)
		reply(w, e.status, e.answer)
	}
}

// pay charges or tokenizes once per transaction_id.
func (rc *receiver) pay(w http.ResponseWriter, r *http.Request, req *payRequest) {
	if req.Method == "charge" && (req.AmountMinor == nil || *req.AmountMinor <= 0) {
		reply(w, http.StatusBadRequest, failure("invalid_request", "amount_minor is not a positive number of minor units"))
		return
	}
	fp := req.Method + " " + strings.ToUpper(req.CurrencyCode)
	if req.AmountMinor != nil {
		fp += " " + strconv.FormatInt(*req.AmountMinor, 10)
	}
	rc.mu.Lock()
	if e, ok := rc.ledger[req.TransactionID]; ok {
		rc.mu.Unlock()
		switch {
		case e.fingerprint != fp:
			reply(w, http.StatusUnprocessableEntity, failure("idempotency_mismatch", "transaction_id used before with other parameters"))
		case !e.done:
			reply(w, http.StatusConflict, failure("in_progress", "the transaction is still being processed"))
		default:
			rc.log.Info("payment replayed", "transaction_id", req.TransactionID, "method", req.Method)
			reply(w, e.status, e.answer)
		}
		return
	}
	e := &entry{fingerprint: fp}
	rc.record(req.TransactionID, e)
	rc.mu.Unlock()

	out := decide(req, rc.now())
	status, body := out.reply(req.Method)
	rc.mu.Lock()
	if out.lost {
		// The request "never arrived": nothing to remember.
		delete(rc.ledger, req.TransactionID)
	} else {
		e.done, e.status, e.answer = true, status, body
	}
	rc.mu.Unlock()
	rc.log.Info("payment", "transaction_id", req.TransactionID, "method", req.Method, "outcome", out.outcome())
	if out.hang {
		// Charged (or lost), but the answer never comes: dtmfgw gives up
		// at its deadline and asks with the status call. Aborting, not
		// returning: a handler that returns answers 200 with no body, which
		// a client whose request the transport sent again on a fresh
		// connection would read as an answer.
		<-r.Context().Done()
		panic(http.ErrAbortHandler)
	}
	reply(w, status, body)
}

// record adds an entry, forgetting the oldest beyond maxLedger. rc.mu is
// held.
func (rc *receiver) record(key string, e *entry) {
	rc.ledger[key] = e
	rc.order = append(rc.order, key)
	if n := len(rc.order) - maxLedger; n > 0 {
		for _, k := range rc.order[:n] {
			delete(rc.ledger, k)
		}
		rc.order = append(rc.order[:0], rc.order[n:]...)
	}
}

// outcome is what a test card makes the receiver do.
type outcome struct {
	code, message string // error_code and error_message; none: approved
	hang          bool   // the answer never comes
	lost          bool   // nothing is recorded (with hang)
}

func (o outcome) outcome() string {
	switch {
	case o.lost:
		return "lost"
	case o.code != "":
		return o.code
	}
	return "approved"
}

// reply is the answer an outcome gives: HTTP 200 in every case, as the
// connector's contract has it (a decline is an answer, not an error).
func (o outcome) reply(method string) (int, []byte) {
	var a answer
	switch {
	case o.code != "":
		a.ErrorCode, a.ErrorMessage = &o.code, &o.message
	case method == "tokenize":
		id := newID("tok_")
		a.TokenID = &id
	default:
		id := newID("ch_")
		a.ChargeID = &id
	}
	b, _ := json.Marshal(a)
	return http.StatusOK, b
}

// The test cards: those of dtmfgw's sandbox (docs/processor.md).
const (
	cardDoNotHonor        = "4000000000000002"
	cardInsufficientFunds = "4000000000009995"
	cardTimeoutCharged    = "4000000000004087"
	cardTimeoutLost       = "4000000000005043"
	cardProcessingError   = "4000000000005001"
)

// decide is the receiver's card logic. It reads the card and keeps
// nothing of it.
func decide(req *payRequest, now time.Time) outcome {
	declined := func(code, msg string) outcome { return outcome{code: code, message: msg} }
	pan := req.CardNumber
	if len(pan) < 12 || len(pan) > 19 || !luhn(pan) {
		return declined("incorrect_number", "The card number is not valid.")
	}
	month, err1 := strconv.Atoi(req.ExpiryMonth)
	year, err2 := strconv.Atoi(req.ExpiryYear)
	y, m, _ := now.UTC().Date()
	if err1 != nil || err2 != nil || month < 1 || month > 12 || year < y || year == y && month < int(m) {
		return declined("expired_card", "The card has expired.")
	}
	wantCVV := 3
	if pan[0] == '3' && (pan[1] == '4' || pan[1] == '7') {
		wantCVV = 4 // American Express
	}
	if len(req.CVV) != wantCVV {
		return declined("incorrect_cvc", "The security code is not valid for this card.")
	}
	// string(b) == constant compares without making a string.
	switch {
	case string(pan) == cardDoNotHonor:
		return declined("do_not_honor", "Declined by the issuer.")
	case string(pan) == cardInsufficientFunds:
		return declined("insufficient_funds", "Insufficient funds.")
	case string(pan) == cardProcessingError:
		// A failure, not a decline: dtmfgw reads processing_error so.
		return outcome{code: "processing_error", message: "The processor could not process the payment."}
	case string(pan) == cardTimeoutCharged:
		return outcome{hang: true}
	case string(pan) == cardTimeoutLost:
		return outcome{hang: true, lost: true}
	}
	return outcome{}
}

// luhn reports whether the digits pass the Luhn check.
func luhn(pan []byte) bool {
	sum := 0
	for i := range pan {
		d := int(pan[len(pan)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// verify checks a Dtmfgw-Signature header: "t=<unix>,v1=<hex>[,v1=…]",
// the HMAC-SHA256 under secret of the timestamp, ".", and the body as
// received, within tolerance of now.
func verify(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("no t=<unix>,v1=<hex> signature")
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return errors.New("the signature's timestamp is too far from now")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("the signature does not match")
}

// failure is an answer with an error code.
func failure(code, message string) []byte {
	b, _ := json.Marshal(answer{ErrorCode: &code, ErrorMessage: &message})
	return b
}

// reply writes a JSON answer.
func reply(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// idAlphabet spells ids in letters only, so that no id ever holds a run
// of digits that dtmfgw would withhold as a possible card number.
const idAlphabet = "abcdefghjkmnpqrstuvwxyz"

// newID returns prefix and 24 random letters.
func newID(prefix string) string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return prefix + string(b[:])
}
