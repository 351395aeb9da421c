// Package httpstatus remembers the status an HTTP handler answered, for
// the request's log line (the API's and the payment page's).
package httpstatus

import "net/http"

// Writer wraps a ResponseWriter and remembers the first status written.
// It passes Flush on (event streams need it), through any wrapper in
// front of the connection's writer that only offers Unwrap (a middleware
// around a handler): a plain http.Flusher assertion would find none there
// and a stream would sit in the buffer.
type Writer struct {
	http.ResponseWriter
	code int
}

// NewWriter wraps w.
func NewWriter(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// Status returns the status the handler answered: the first WriteHeader's
// code, 200 once a body was written without one, 0 while nothing was.
func (w *Writer) Status() int { return w.code }

// WriteHeader remembers code, the first time, and passes it on.
func (w *Writer) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write remembers the implicit 200 of a body written with no status.
func (w *Writer) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes what was written to the client.
func (w *Writer) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController calls to flush.
func (w *Writer) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
