package api

// Several nodes on one store (package cluster): a command on a live call
// is carried out by the node that holds the call (its media, its
// payments' capture buffers and its event bus are in that node's memory).
// Any other node hands the request on, as it came (method, path, query,
// body, the client's own credential, which that node checks again), and
// passes the answer back untouched, event streams included: the client
// sees what it would have seen calling that node. A request a node hands
// on carries the node's name and an HMAC under the cluster's shared secret
// (http.form_token_secret): the receiving node serves it itself, never
// hands it on again, and refuses one whose signature does not hold.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"dtmfgw/store"
)

// Node-to-node headers.
const (
	headerNode     = "X-Dtmfgw-Node"
	headerNodeAuth = "X-Dtmfgw-Node-Auth"
	// nodeAuthWindow bounds the age of a forwarded request's signature.
	nodeAuthWindow = time.Minute
)

var (
	errNodeAuth        = errorf(http.StatusUnauthorized, "unauthorized", "the node-to-node signature does not hold")
	errNodeUnreachable = errorf(http.StatusBadGateway, "node_unreachable", "the node that holds the call did not answer")
)

// nodeSignature signs a request handed on by node from, at ts.
func (s *Server) nodeSignature(from string, ts int64, method, uri string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("dtmfgw-node\x00" + from + "\x00" + strconv.FormatInt(ts, 10) + "\x00" + method + " " + uri))
	return strconv.FormatInt(ts, 10) + "." + hex.EncodeToString(m.Sum(nil))
}

// forwarded reports whether r was handed on by another node, and refuses
// (errNodeAuth) one whose signature does not hold.
func (s *Server) forwarded(r *http.Request) (bool, error) {
	from := r.Header.Get(headerNode)
	if from == "" && r.Header.Get(headerNodeAuth) == "" {
		return false, nil
	}
	tsText, _, ok := strings.Cut(r.Header.Get(headerNodeAuth), ".")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if !ok || err != nil || from == "" || len(from) > 64 {
		return true, errNodeAuth
	}
	if age := s.now().Sub(time.Unix(ts, 0)); age > nodeAuthWindow || age < -nodeAuthWindow {
		return true, errNodeAuth
	}
	want := s.nodeSignature(from, ts, r.Method, r.URL.RequestURI())
	if !hmac.Equal([]byte(want), []byte(r.Header.Get(headerNodeAuth))) {
		return true, errNodeAuth
	}
	return true, nil
}

// handOn hands r to node nodeID when it is another live node and r was
// not handed on already, and reports whether it did (the answer is
// written). A refused node signature is answered here too.
func (s *Server) handOn(w http.ResponseWriter, r *http.Request, nodeID string) bool {
	if s.cluster == nil || !s.cluster.Enabled() || nodeID == "" || nodeID == s.cluster.Self() {
		return false
	}
	if fw, err := s.forwarded(r); err != nil {
		writeError(w, err)
		return true
	} else if fw {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	peer, err := s.cluster.Peer(ctx, nodeID)
	cancel()
	if err != nil {
		return false // gone: this node answers as it can
	}
	target, err := url.Parse(peer.APIURL)
	if err != nil || target.Host == "" {
		s.log.Warn("cluster: a node's API URL is not usable", "node", nodeID)
		return false
	}
	self := s.cluster.Self()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header.Set(headerNode, self)
			pr.Out.Header.Set(headerNodeAuth, s.nodeSignature(self, s.now().Unix(), r.Method, pr.Out.URL.RequestURI()))
		},
		// Event streams pass each event on at once.
		FlushInterval: -1,
		// A stream cut by the node's death is the client's to resume: a
		// debug line, not the standard logger's.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn("cluster: handing a request on failed", "node", nodeID, "err", err)
			}
			writeError(w, errNodeUnreachable)
		},
	}
	proxy.ServeHTTP(w, r)
	return true
}

// routeTo returns the node that holds the payment's call, if another node
// recorded it.
func (s *Server) routeTo(ctx context.Context, paymentID string) string {
	if s.cluster == nil || !s.cluster.Enabled() || s.store == nil {
		return ""
	}
	rt, err := s.store.PaymentRouteOf(ctx, paymentID)
	if err != nil {
		return ""
	}
	return rt.NodeID
}

// recordRoute records that this node holds the call of the payment just
// made.
func (s *Server) recordRoute(ctx context.Context, paymentID, callID string) {
	if s.cluster == nil || !s.cluster.Enabled() || s.store == nil {
		return
	}
	if err := s.store.AddPaymentRoute(ctx, store.PaymentRoute{PaymentID: paymentID, NodeID: s.cluster.Self(), CallID: callID}); err != nil {
		s.log.Warn("cluster: payment route not recorded", "payment", paymentID, "err", err)
	}
}
