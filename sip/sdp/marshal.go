package sdp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	pion "github.com/pion/sdp/v3"
)

// Origin is an SDP o= line (RFC 4566 §5.2). In a parsed Media it
// is the peer's. Kept per leg, it is ours: Marshal writes it into every
// SDP we send on that leg, with a random session id chosen on first use
// and the version incremented whenever the SDP differs from the last one
// sent (RFC 3264 §8). The zero value is ready to use. An Origin is not
// safe for concurrent use.
type Origin struct {
	// Username is the o= username, "-" when empty.
	Username string
	// SessionID is the numeric session id; 0 is replaced by a random one
	// on first use.
	SessionID uint64
	// Version is the session version.
	Version uint64
	// Addr is the o= address; when invalid, the media address is used.
	Addr netip.Addr

	last string // the last SDP marshalled, o= line excluded; "" before
}

// Marshal returns the SDP of md with this origin (RFC 4566, RFC 3264 §5
// for offers, §6 for answers): our o= line, s=-, one c= line with md.Addr,
// t=0 0, and the audio m= line with an a=rtpmap for every format (static
// ones too), a=fmtp where there are parameters, telephone-event, a=ptime
// when set and the direction. An answer built by AnswerToCaller or
// AnswerToAgent also lists every other offered stream, rejected with port
// 0 (RFC 3264 §6). It increments o.Version when the SDP differs from the
// last one marshalled, and leaves it otherwise (RFC 3264 §8: an unchanged
// session description keeps its version).
func (o *Origin) Marshal(md *Media) ([]byte, error) {
	if err := md.check(); err != nil {
		return nil, err
	}
	if o.SessionID == 0 {
		o.SessionID = randomSessionID()
	}
	sd := md.session(o)
	body, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sip: marshal SDP: %w", err)
	}
	rest := withoutOrigin(body)
	if o.last != "" && rest != o.last {
		o.Version++
		sd.Origin.SessionVersion = o.Version
		if body, err = sd.Marshal(); err != nil {
			return nil, fmt.Errorf("sip: marshal SDP: %w", err)
		}
	}
	o.last = rest
	return body, nil
}

// withoutOrigin returns body without its o= line (the second line).
func withoutOrigin(body []byte) string {
	s := string(body)
	i := strings.Index(s, "\r\no=")
	if i < 0 {
		return s
	}
	j := strings.Index(s[i+2:], "\r\n")
	if j < 0 {
		return s[:i]
	}
	return s[:i] + s[i+2+j:]
}

// randomSessionID returns a random non-zero session id below 2^62, so that
// it fits peers that read it as a signed 64-bit number.
func randomSessionID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])>>2 | 1
}

// check refuses what would make an invalid SDP: Marshal writes only what
// it checked, so no field can inject a line.
func (m *Media) check() error {
	if m == nil {
		return errors.New("sip: no media description")
	}
	if !m.Addr.IsValid() || m.Addr.Port() == 0 || m.Addr.Addr().Zone() != "" {
		return errors.New("sip: SDP needs a media address and port")
	}
	if len(m.Formats) == 0 || len(m.Formats) > maxFormats {
		return errors.New("sip: SDP needs 1 to 64 audio formats")
	}
	if m.Ptime < 0 || m.Ptime > maxPtime || m.Direction > Inactive {
		return errors.New("sip: bad ptime or direction")
	}
	used := map[uint8]bool{}
	all := m.Formats
	if m.Event != nil {
		all = append(all[:len(all):len(all)], *m.Event)
	}
	for _, f := range all {
		if f.PT > 127 || used[f.PT] {
			return fmt.Errorf("sip: payload type %d out of range or used twice", f.PT)
		}
		used[f.PT] = true
		if !isToken(f.Name, false) || strings.Contains(f.Name, "/") || f.ClockRate <= 0 || f.Channels < 0 || f.Channels > 255 {
			return fmt.Errorf("sip: bad format for payload type %d", f.PT)
		}
		if len(f.Fmtp) > maxFmtpLen || hasControl(f.Fmtp) || strings.TrimSpace(f.Fmtp) != f.Fmtp {
			return fmt.Errorf("sip: bad fmtp for payload type %d", f.PT)
		}
	}
	if m.lines != nil && (m.index < 0 || m.index >= len(m.lines)) {
		return errors.New("sip: bad media index")
	}
	return nil
}

// session builds the pion/sdp description Marshal writes.
func (m *Media) session(o *Origin) *pion.SessionDescription {
	addr := m.Addr.Addr()
	oaddr := o.Addr
	if !oaddr.IsValid() || oaddr.Zone() != "" {
		oaddr = addr
	}
	user := o.Username
	if !isToken(user, false) {
		user = "-"
	}
	sd := &pion.SessionDescription{
		Origin: pion.Origin{
			Username:       user,
			SessionID:      o.SessionID,
			SessionVersion: o.Version,
			NetworkType:    "IN",
			AddressType:    addrType(oaddr),
			UnicastAddress: oaddr.String(),
		},
		// RFC 3264 §5: s= carries nothing for a unicast session.
		SessionName: "-",
		ConnectionInformation: &pion.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType(addr),
			Address:     &pion.Address{Address: addr.String()},
		},
		// RFC 3264 §5: t=0 0, the session is not bounded in time.
		TimeDescriptions: []pion.TimeDescription{{}},
	}
	if m.lines == nil {
		sd.MediaDescriptions = []*pion.MediaDescription{m.audioSection()}
		return sd
	}
	for i, l := range m.lines {
		if i == m.index {
			sd.MediaDescriptions = append(sd.MediaDescriptions, m.audioSection())
			continue
		}
		sd.MediaDescriptions = append(sd.MediaDescriptions, &pion.MediaDescription{
			MediaName: pion.MediaName{
				Media:   l.media,
				Port:    pion.RangedPort{Value: 0},
				Protos:  strings.Split(l.proto, "/"),
				Formats: []string{l.fmt},
			},
		})
	}
	return sd
}

func (m *Media) audioSection() *pion.MediaDescription {
	proto := m.proto
	if proto == "" {
		proto = "RTP/AVP"
	}
	md := &pion.MediaDescription{
		MediaName: pion.MediaName{
			Media:  "audio",
			Port:   pion.RangedPort{Value: int(m.Addr.Port())},
			Protos: strings.Split(proto, "/"),
		},
	}
	all := m.Formats
	if m.Event != nil {
		all = append(all[:len(all):len(all)], *m.Event)
	}
	for _, f := range all {
		pt := strconv.Itoa(int(f.PT))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes, pion.NewAttribute("rtpmap", f.String()))
		if f.Fmtp != "" {
			md.Attributes = append(md.Attributes, pion.NewAttribute("fmtp", pt+" "+f.Fmtp))
		}
	}
	if m.Ptime > 0 {
		md.Attributes = append(md.Attributes, pion.NewAttribute("ptime", strconv.Itoa(m.Ptime)))
	}
	md.Attributes = append(md.Attributes, pion.NewPropertyAttribute(m.Direction.String()))
	return md
}

func addrType(a netip.Addr) string {
	if a.Is4() {
		return "IP4"
	}
	return "IP6"
}
