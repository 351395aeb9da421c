package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRun(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok\n"))
		case "/draining":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	// A loopback port with nothing listening: bound, then closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/healthz"
	l.Close()

	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"healthy", []string{srv.URL + "/healthz"}, 0},
		{"503", []string{srv.URL + "/draining"}, 1},
		{"404", []string{srv.URL + "/nothing"}, 1},
		{"refused", []string{closed}, 1},
		{"timeout", []string{"--timeout", "100ms", srv.URL + "/hang"}, 1},
		{"bad URL", []string{"::not a url"}, 1},
		{"two URLs", []string{srv.URL, srv.URL}, 2},
		{"bad flag", []string{"--nope"}, 2},
		{"zero timeout", []string{"--timeout", "0s", srv.URL}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := run(context.Background(), tc.args, &stderr); got != tc.want {
				t.Errorf("run(%q) = %d, want %d; stderr: %s", tc.args, got, tc.want, stderr.String())
			}
		})
	}
}
