package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"dtmfgw/webhook"
)

// A receiver checks the signature over the raw body before it parses it.
func ExampleVerify() {
	secret := []byte("whsec-example-0123456789abcdef")
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	body := `{"id":"whd_example","type":"payment.result","data":{}}`
	for _, sig := range []string{
		webhook.Sign(secret, time.Now(), []byte(body)),
		webhook.Sign([]byte("not-the-secret-0123456789"), time.Now(), []byte(body)),
		webhook.Sign(secret, time.Now().Add(-time.Hour), []byte(body)),
	} {
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		req.Header.Set(webhook.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 204
	// 401
	// 401
}
