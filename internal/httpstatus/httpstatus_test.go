package httpstatus

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestStatus(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec)
	if w.Status() != 0 {
		t.Fatalf("before any write: %d, want 0", w.Status())
	}
	w.WriteHeader(http.StatusTeapot)
	w.WriteHeader(http.StatusOK)
	if w.Status() != http.StatusTeapot {
		t.Errorf("after two WriteHeaders: %d, want the first, %d", w.Status(), http.StatusTeapot)
	}

	w = NewWriter(httptest.NewRecorder())
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if w.Status() != http.StatusOK {
		t.Errorf("after a bare Write: %d, want 200", w.Status())
	}
}

func TestFlushReachesTheConnection(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(unwrapOnly{rec})
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	w.Flush()
	if !rec.Flushed {
		t.Error("the recorder was not flushed")
	}
}

// unwrapOnly offers no Flush of its own, only Unwrap, as a middleware's
// wrapper might.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }
