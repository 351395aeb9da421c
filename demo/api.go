package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// paymentJSON is the part of the API's payment the demo reads.
type paymentJSON struct {
	ID         string `json:"id"`
	CallID     string `json:"call_id"`
	State      string `json:"state"`
	Attributes struct {
		Reference string `json:"reference"`
	} `json:"attributes"`
	Result *resultJSON `json:"result"`
}

// resultJSON is a payment's result (payment.Result): no card data, the
// last four digits only.
type resultJSON struct {
	State              string `json:"state"`
	ProcessorReference string `json:"processor_reference"`
	DeclineCode        string `json:"decline_code"`
	Brand              string `json:"brand"`
	Last4              string `json:"last4"`
	Amount             int64  `json:"amount"`
	Currency           string `json:"currency"`
}

// eventJSON is the part of a payment.Event the demo prints: lengths,
// validity, brand, the masked card number, states, the result.
type eventJSON struct {
	Type      string      `json:"type"`
	Field     string      `json:"field"`
	Length    int         `json:"length"`
	Complete  bool        `json:"complete"`
	Valid     bool        `json:"valid"`
	Brand     string      `json:"brand"`
	MaskedPAN string      `json:"masked_pan"`
	State     string      `json:"state"`
	Secure    bool        `json:"secure"`
	Result    *resultJSON `json:"result"`
	Link      *struct {
		State   string `json:"state"`
		Present bool   `json:"present"`
	} `json:"link"`
}

// finalState reports whether a payment state is one it never leaves
// (payment.State.Final, by name).
func finalState(s string) bool {
	switch s {
	case "approved", "declined", "failed", "cancelled", "timed_out":
		return true
	}
	return false
}

// createdJSON is POST /v1/payments's answer.
type createdJSON struct {
	Payment paymentJSON `json:"payment"`
	FormURL string      `json:"form_url"`
}

// apiClient is a back end's view of the API: bearer key, JSON.
type apiClient struct {
	base, key string
	client    *http.Client
}

// apiError is the API's error body.
type apiError struct {
	Error struct{ Code, Message string } `json:"error"`
}

// do sends a JSON request and decodes a 2xx answer into out.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	return sendJSON(ctx, c.client, method, c.base+path, http.Header{"Authorization": {"Bearer " + c.key}}, b, out)
}

// sendJSON sends body (none when nil) as JSON to url with hdr, and
// decodes a 2xx answer into out (if not nil); another answer is an error
// with the API's code and message.
func sendJSON(ctx context.Context, client *http.Client, method, url string, hdr http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		var e apiError
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%s %s: %s %s: %s", method, req.URL.Path, res.Status, e.Error.Code, e.Error.Message)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// sseStream reads a payment's Server-Sent Events (the WHATWG HTML event
// stream format) on a goroutine of its own.
type sseStream struct {
	events chan eventJSON
	errc   chan error
}

// events subscribes to a payment's events; the stream ends with ctx.
func (c *apiClient) events(ctx context.Context, id string) (*sseStream, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/payments/"+id+"/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "text/event-stream")
	res, err := (&http.Client{}).Do(req) // no timeout: it streams until ctx ends
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("GET events: %s", res.Status)
	}
	s := &sseStream{events: make(chan eventJSON, 256), errc: make(chan error, 1)}
	go s.read(ctx, res.Body)
	return s, nil
}

// read parses the stream: "event:" and "data:" lines, dispatched at a
// blank line; comments (keepalives) are skipped. The snapshot is passed on
// as an Event of type 0.
func (s *sseStream) read(ctx context.Context, body io.ReadCloser) {
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var typ string
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if typ == "" && len(data) == 0 {
				continue
			}
			var ev eventJSON
			if typ != "snapshot" && typ != "reset" {
				if err := json.Unmarshal(data, &ev); err != nil {
					s.errc <- fmt.Errorf("event %q: %w", typ, err)
					return
				}
			}
			select {
			case s.events <- ev:
			case <-ctx.Done():
				return
			}
			typ, data = "", data[:0]
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			typ = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
		}
	}
	err := sc.Err()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	s.errc <- fmt.Errorf("the payment's event stream ended: %w", err)
}

// next returns the next event.
func (s *sseStream) next(ctx context.Context) (eventJSON, error) {
	return s.nextOrKeyed(ctx, nil)
}

// nextOrKeyed returns the next event, or the keying's error if it fails.
func (s *sseStream) nextOrKeyed(ctx context.Context, keyed <-chan error) (eventJSON, error) {
	for {
		select {
		case ev := <-s.events:
			return ev, nil
		case err := <-s.errc:
			return eventJSON{}, err
		case err := <-keyed:
			if err != nil {
				return eventJSON{}, fmt.Errorf("the simulated caller's keys: %w", err)
			}
			keyed = nil
		case <-ctx.Done():
			return eventJSON{}, fmt.Errorf("waiting for the payment's progress: %w", ctx.Err())
		}
	}
}
