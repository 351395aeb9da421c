package api

import (
	"context"
	"net/http"
	"time"

	"dtmfgw/call"
	"dtmfgw/cluster"
	"dtmfgw/payment"
	"dtmfgw/store"
)

// The calls and the configurations a CRM or an agent's form may ask
// about, and the nodes that share the store.

func (s *Server) getConfigurations(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authAPIKey(r); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Configurations []payment.Config `json:"configurations"`
	}{s.payments.Configs()})
}

func (s *Server) getCalls(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authAPIKey(r); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	f := call.ListFilter{AgentID: q.Get("agent_id"), PrimaryCallID: q.Get("primary_call_id")}
	callID := q.Get("call_id")
	for name, v := range map[string]string{"agent_id": f.AgentID, "primary_call_id": f.PrimaryCallID, "call_id": callID} {
		if len(v) > maxSelectorLen {
			writeError(w, errorf(http.StatusBadRequest, "invalid_"+name, name+" is too long"))
			return
		}
	}
	out := []callJSON{}
	for _, c := range s.listCalls(f, callID) {
		out = append(out, s.callJSON(c))
	}
	out = append(out, s.otherNodesCalls(r.Context(), f, callID)...)
	writeJSON(w, http.StatusOK, struct {
		Calls []callJSON `json:"calls"`
	}{out})
}

// otherNodesCalls returns, with several nodes, the calls the other nodes
// hold that f and callID select: what the store knows of them (their ids,
// the agent, the start; the node says where the rest is).
func (s *Server) otherNodesCalls(ctx context.Context, f call.ListFilter, callID string) []callJSON {
	if s.cluster == nil || !s.cluster.Enabled() || s.store == nil {
		return nil
	}
	cs, err := s.store.LiveCalls(ctx, store.CallFilter{ID: callID, PrimaryCallID: f.PrimaryCallID, AgentID: f.AgentID}, maxOtherCalls)
	if err != nil {
		s.log.Warn("cluster: the other nodes' calls not listed", "err", err)
		return nil
	}
	var out []callJSON
	for _, c := range cs {
		if c.NodeID == s.cluster.Self() {
			continue
		}
		dir := call.Inbound
		if c.Outbound {
			dir = call.Outbound
		}
		out = append(out, callJSON{ID: c.ID, InboundCallID: c.InboundCallID, PrimaryCallID: c.PrimaryCallID,
			AgentID: c.AgentID, Started: c.Started.UTC(), Node: c.NodeID, Direction: dir})
	}
	return out
}

// listCalls returns the live calls f selects, and callID (ours, or either
// SIP Call-ID) when given.
func (s *Server) listCalls(f call.ListFilter, callID string) []*call.Call {
	if s.calls == nil {
		return nil
	}
	if callID == "" {
		return s.calls.List(f)
	}
	if c, ok := s.calls.Get(callID); ok {
		corr := c.Correlation()
		if (f.AgentID == "" || f.AgentID == corr.AgentID) && (f.PrimaryCallID == "" || f.PrimaryCallID == corr.PrimaryCallID) {
			return []*call.Call{c}
		}
		return nil
	}
	f.CallID = callID
	return s.calls.List(f)
}

func (s *Server) callJSON(c *call.Call) callJSON {
	corr, times := c.Correlation(), c.Times()
	cj := callJSON{
		ID: c.ID(), InboundCallID: corr.InboundCallID, OutboundCallID: corr.OutboundCallID,
		PrimaryCallID: corr.PrimaryCallID, AgentID: corr.AgentID, CallerNumber: corr.CallerNumber,
		CalledNumber: corr.CalledNumber, Direction: corr.Direction, Secure: c.Secure(),
		Started: times.Created.UTC(), Answered: times.Answered.UTC(),
	}
	if times.Answered.IsZero() {
		cj.Answered = time.Time{}
	}
	cj.PaymentID = s.payments.InProgress(c.ID())
	return cj
}

// getNodes lists the nodes sharing the store, alive or not, the answering
// one marked (API key only).
func (s *Server) getNodes(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authAPIKey(r); err != nil {
		writeError(w, err)
		return
	}
	nodes := []cluster.NodeView{}
	if s.cluster != nil {
		ns, err := s.cluster.Nodes(r.Context())
		if err != nil {
			s.log.Warn("listing the nodes", "err", err)
			writeError(w, errStorage)
			return
		}
		nodes = append(nodes, ns...)
	}
	writeJSON(w, http.StatusOK, struct {
		Nodes []cluster.NodeView `json:"nodes"`
	}{nodes})
}
