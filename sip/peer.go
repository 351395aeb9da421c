package sip

import (
	"net/netip"
	"slices"
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Refusal is why a request was refused before it could act on a call. The
// set is fixed, so that a peer sending made-up requests cannot grow the
// refusals metric's label set.
type Refusal int

// The reasons a request is refused.
const (
	// RefusedACL: the source is outside sip.acl, and not the agent's peer
	// of the dialog the request names (403).
	RefusedACL Refusal = iota
	// RefusedNoDialog: an in-dialog request whose Call-ID names no call
	// (481).
	RefusedNoDialog
	// RefusedWrongTag: the Call-ID names a call, but the From and To tags
	// are not that dialog's, seen from the side the request comes from
	// (481, RFC 3261 §12.2.2).
	RefusedWrongTag
	// RefusedWrongSource: the Call-ID names a call, and the source is
	// inside the ACL but is not that dialog's peer (403).
	RefusedWrongSource
	numRefusals
)

// RefusalReasons names each Refusal, indexed by its value: the reason
// label of dtmfgw_sip_requests_refused_total.
var RefusalReasons = [numRefusals]string{
	RefusedACL:         "acl",
	RefusedNoDialog:    "no_dialog",
	RefusedWrongTag:    "wrong_tag",
	RefusedWrongSource: "wrong_source",
}

func (r Refusal) String() string { return RefusalReasons[r] }

// status is the response a refusal gets: 403 when the source may not
// speak to us at all, 481 when the dialog it names is not its own.
func (r Refusal) status() (int, string) {
	switch r {
	case RefusedACL, RefusedWrongSource:
		return 403, "Forbidden"
	}
	return 481, "Call/Transaction Does Not Exist"
}

// legPeer is who may send requests in one of a call's two dialogs: the
// dialog's tags (RFC 3261 §12: a dialog is its Call-ID, local tag and
// remote tag) and the addresses the peer's requests may come from. The
// Call-ID is the B2BUA's map key, so it is not kept here.
//
// The caller's leg is fixed when its INVITE arrives. The agent's grows as
// the agent answers: its tag comes with its first response that has one,
// and its addresses are the target's (when an IP literal), each
// response's source and the agent's Contact; a proxy in front of the
// agent that record-routes sends the agent's requests itself, and is the
// source of the agent's responses too.
type legPeer struct {
	mu sync.Mutex
	// localTag is our tag in the dialog: the To tag of requests the peer
	// sends us. remoteTag is the peer's: their From tag; empty for the
	// agent until it has answered with one, and for an RFC 2543 caller
	// that sent none.
	localTag, remoteTag string
	remoteTagKnown      bool
	addrs               []netip.Addr
}

// maxPeerAddrs bounds the addresses a leg learns from the agent's
// responses: a target, a proxy, a Contact, and room for failover.
const maxPeerAddrs = 8

// newCallerPeer is the caller leg of an INVITE whose dialog sipgo has
// built (in): its tags, the INVITE's source and the caller's Contact.
func newCallerPeer(invite *sipmsg.Request, src netip.Addr) *legPeer {
	p := &legPeer{
		localTag:       tagOf(invite.To()),
		remoteTag:      tagOf(invite.From()),
		remoteTagKnown: true,
	}
	p.addAddr(src)
	if c := invite.Contact(); c != nil {
		p.addHost(c.Address.Host)
	}
	return p
}

// newAgentPeer is the agent leg of our INVITE to target, before the agent
// has answered: our From tag, and the target's address when it is an IP.
func newAgentPeer(invite *sipmsg.Request, target sipmsg.Uri) *legPeer {
	p := &legPeer{localTag: tagOf(invite.From())}
	p.addHost(target.Host)
	return p
}

// learn takes what an agent's response says of the agent: where it came
// from, its tag (the first one given; a forking proxy's other branches
// do not replace it), and its Contact.
func (p *legPeer) learn(res *sipmsg.Response) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ap, err := netip.ParseAddrPort(res.MessageData.Source()); err == nil {
		p.addAddrLocked(ap.Addr())
	}
	if to := res.To(); to != nil && !p.remoteTagKnown {
		if tag := tagOf(to); tag != "" {
			p.remoteTag, p.remoteTagKnown = tag, true
		}
	}
	if res.IsSuccess() {
		if c := res.Contact(); c != nil {
			p.addHostLocked(c.Address.Host)
		}
	}
}

func (p *legPeer) addAddr(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addAddrLocked(a)
}

func (p *legPeer) addHost(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addHostLocked(host)
}

// addHostLocked adds host when it is an IP literal; a name is not
// resolved here (the responses' sources show where it led).
func (p *legPeer) addHostLocked(host string) {
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		p.addAddrLocked(a)
	}
}

func (p *legPeer) addAddrLocked(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	a = a.Unmap().WithZone("")
	if slices.Contains(p.addrs, a) || len(p.addrs) >= maxPeerAddrs {
		return
	}
	p.addrs = append(p.addrs, a)
}

// from reports whether src is one of the peer's addresses.
func (p *legPeer) from(src netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return src.IsValid() && slices.Contains(p.addrs, src.Unmap().WithZone(""))
}

// tagsMatch reports whether req carries this dialog's tags as the peer
// sends them (RFC 3261 §12.2.2): our tag in To, theirs in From. A CANCEL
// carries the INVITE's To, without our tag (§9.1), so only its From tag
// is compared.
func (p *legPeer) tagsMatch(req *sipmsg.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remoteTagKnown && tagOf(req.From()) != p.remoteTag {
		return false
	}
	if req.Method == sipmsg.CANCEL {
		return true
	}
	return tagOf(req.To()) == p.localTag
}

// tagOf returns the tag parameter of a From or To header, or "".
func tagOf(h interface{ Value() string }) string {
	switch h := h.(type) {
	case *sipmsg.FromHeader:
		if h != nil {
			tag, _ := h.Params.Get("tag")
			return tag
		}
	case *sipmsg.ToHeader:
		if h != nil {
			tag, _ := h.Params.Get("tag")
			return tag
		}
	}
	return ""
}
