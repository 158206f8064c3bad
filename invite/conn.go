package invite

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Limits of the connection description.
const (
	MaxCandidates = 16
	MinUfragLen   = 4  // RFC 8839: at least 24 bits of randomness
	MaxUfragLen   = 32 // sp2p's own limit
	MinPwdLen     = 22 // RFC 8839: at least 128 bits of randomness
	MaxPwdLen     = 64 // sp2p's own limit

	// DataChannelMid is the media id of the one data-channel section; both
	// sides use it, so it is not carried in tokens.
	DataChannelMid = "0"
	sctpPort       = 5000
)

// DTLSRole is the DTLS role in the SDP "setup" attribute.
type DTLSRole uint8

// DTLS roles. An offer is always actpass; an answer active or passive.
const (
	RoleActPass DTLSRole = 0
	RoleActive  DTLSRole = 1
	RolePassive DTLSRole = 2
)

func (r DTLSRole) String() string {
	switch r {
	case RoleActPass:
		return "actpass"
	case RoleActive:
		return "active"
	case RolePassive:
		return "passive"
	}
	return "DTLSRole(" + strconv.Itoa(int(r)) + ")"
}

// CandidateType is an ICE candidate type.
type CandidateType uint8

// ICE candidate types.
const (
	Host            CandidateType = 0
	ServerReflexive CandidateType = 1
	PeerReflexive   CandidateType = 2
	Relay           CandidateType = 3
)

var candidateTypeNames = [...]string{"host", "srflx", "prflx", "relay"}

func (t CandidateType) String() string {
	if int(t) < len(candidateTypeNames) {
		return candidateTypeNames[t]
	}
	return "CandidateType(" + strconv.Itoa(int(t)) + ")"
}

// TCPType is the ICE-TCP candidate type (RFC 6544); TCPNone for UDP.
type TCPType uint8

// ICE-TCP types.
const (
	TCPNone         TCPType = 0
	TCPActive       TCPType = 1
	TCPPassive      TCPType = 2
	TCPSimultaneous TCPType = 3
)

var tcpTypeNames = [...]string{"", "active", "passive", "so"}

// Candidate is one ICE candidate in its compact form: what ICE needs to
// pair it. Foundation and priority are recomputed from the type and the
// order in the list; related addresses are not carried (they would only
// reveal the private address behind a NAT).
type Candidate struct {
	Type    CandidateType
	TCP     bool
	TCPType TCPType
	Addr    netip.AddrPort
}

func (c Candidate) String() string {
	proto := "udp"
	if c.TCP {
		proto = "tcp/" + tcpTypeNames[c.TCPType]
	}
	return fmt.Sprintf("%s %s %s", c.Type, proto, c.Addr)
}

func (c Candidate) check() error {
	switch {
	case c.Type > Relay:
		return fmt.Errorf("unknown candidate type %d", c.Type)
	case !c.Addr.Addr().IsValid() || c.Addr.Addr().Zone() != "":
		return errors.New("candidate address is not a plain IP address")
	case c.Addr.Addr().Is4In6():
		return errors.New("IPv4-mapped IPv6 candidate address")
	case c.Addr.Addr().IsUnspecified() || c.Addr.Addr().IsMulticast():
		return fmt.Errorf("candidate address %s is unspecified or multicast", c.Addr.Addr())
	case !c.TCP && c.TCPType != TCPNone:
		return errors.New("UDP candidate with a TCP type")
	case c.TCP && (c.TCPType == TCPNone || c.TCPType > TCPSimultaneous):
		return errors.New("TCP candidate without a valid TCP type")
	case c.Addr.Port() == 0 && !(c.TCP && c.TCPType == TCPActive):
		return errors.New("candidate port 0")
	}
	return nil
}

// ConnDesc is the compact connection description: everything the remote
// side needs to reach this PeerConnection and authenticate its DTLS.
type ConnDesc struct {
	ICEUfrag    string
	ICEPwd      string
	Fingerprint [32]byte // SHA-256 of the DTLS certificate
	Role        DTLSRole
	Candidates  []Candidate
}

func isICEChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// check enforces the limits every ConnDesc must meet.
func (d *ConnDesc) check() error {
	switch {
	case len(d.ICEUfrag) < MinUfragLen || len(d.ICEUfrag) > MaxUfragLen || !isICEChars(d.ICEUfrag):
		return fmt.Errorf("%w: ICE ufrag must be %d to %d characters of [A-Za-z0-9+/]", ErrLimit, MinUfragLen, MaxUfragLen)
	case len(d.ICEPwd) < MinPwdLen || len(d.ICEPwd) > MaxPwdLen || !isICEChars(d.ICEPwd):
		return fmt.Errorf("%w: ICE password must be %d to %d characters of [A-Za-z0-9+/]", ErrLimit, MinPwdLen, MaxPwdLen)
	case d.Role > RolePassive:
		return fmt.Errorf("%w: unknown DTLS role %d", ErrMalformed, d.Role)
	case len(d.Candidates) == 0:
		return fmt.Errorf("%w: no ICE candidates", ErrMalformed)
	case len(d.Candidates) > MaxCandidates:
		return fmt.Errorf("%w: %d candidates, at most %d", ErrLimit, len(d.Candidates), MaxCandidates)
	}
	for i, c := range d.Candidates {
		if err := c.check(); err != nil {
			return fmt.Errorf("%w: candidate %d: %v", ErrMalformed, i, err)
		}
		for _, prev := range d.Candidates[:i] {
			if prev == c {
				return fmt.Errorf("%w: candidate %d repeats an earlier one", ErrMalformed, i)
			}
		}
	}
	return nil
}

// FromSDP extracts the compact description from an SDP that pion produced
// after gathering (non-trickle): exactly one data-channel media section with
// mid "0", ICE credentials, a SHA-256 DTLS fingerprint and the candidates.
// Candidates of component 2 are dropped (one component suffices with
// rtcp-mux and a data channel), as are duplicates and those whose address is
// a host name (mDNS); if more than MaxCandidates remain, the ones with the
// highest priority are kept. dropped counts the candidates left out.
func FromSDP(raw string) (desc *ConnDesc, dropped int, err error) {
	if len(raw) > maxSDPSize {
		return nil, 0, fmt.Errorf("%w: SDP of %d bytes, at most %d", ErrLimit, len(raw), maxSDPSize)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, 0, fmt.Errorf("%w: SDP: %v", ErrMalformed, err)
	}
	if len(sd.MediaDescriptions) != 1 || sd.MediaDescriptions[0].MediaName.Media != "application" {
		return nil, 0, fmt.Errorf("%w: SDP must have exactly one data-channel (application) section", ErrMalformed)
	}
	m := sd.MediaDescriptions[0]
	attr := func(key string) (string, bool) {
		if v, ok := m.Attribute(key); ok {
			return v, true
		}
		return sd.Attribute(key)
	}
	if mid, _ := m.Attribute("mid"); mid != DataChannelMid {
		return nil, 0, fmt.Errorf("%w: SDP data-channel mid %q, want %q", ErrMalformed, mid, DataChannelMid)
	}
	d := &ConnDesc{}
	d.ICEUfrag, _ = attr("ice-ufrag")
	d.ICEPwd, _ = attr("ice-pwd")
	fp, _ := attr("fingerprint")
	alg, hexfp, _ := strings.Cut(fp, " ")
	if asciiLower(alg) != "sha-256" {
		return nil, 0, fmt.Errorf("%w: SDP has no sha-256 DTLS fingerprint", ErrMalformed)
	}
	fpBytes, err := hex.DecodeString(strings.ReplaceAll(hexfp, ":", ""))
	if err != nil || len(fpBytes) != 32 {
		return nil, 0, fmt.Errorf("%w: SDP DTLS fingerprint is not 32 hex bytes", ErrMalformed)
	}
	copy(d.Fingerprint[:], fpBytes)
	switch setup, _ := attr("setup"); setup {
	case "actpass":
		d.Role = RoleActPass
	case "active":
		d.Role = RoleActive
	case "passive":
		d.Role = RolePassive
	default:
		return nil, 0, fmt.Errorf("%w: SDP setup attribute %q", ErrMalformed, setup)
	}
	type prioritized struct {
		c        Candidate
		priority uint32
	}
	var cands []prioritized
	for _, a := range m.Attributes {
		if a.Key != "candidate" {
			continue
		}
		c, component, priority, err := parseCandidate(a.Value)
		if err != nil {
			if errors.Is(err, errSkipCandidate) {
				dropped++
				continue
			}
			return nil, 0, fmt.Errorf("%w: SDP candidate %q: %v", ErrMalformed, a.Value, err)
		}
		if component != 1 || slices.ContainsFunc(cands, func(p prioritized) bool { return p.c == c }) {
			dropped++
			continue
		}
		cands = append(cands, prioritized{c, priority})
	}
	slices.SortStableFunc(cands, func(a, b prioritized) int {
		switch {
		case a.priority > b.priority:
			return -1
		case a.priority < b.priority:
			return 1
		}
		return 0
	})
	if len(cands) > MaxCandidates {
		dropped += len(cands) - MaxCandidates
		cands = cands[:MaxCandidates]
	}
	for _, p := range cands {
		d.Candidates = append(d.Candidates, p.c)
	}
	if err := d.check(); err != nil {
		return nil, 0, err
	}
	return d, dropped, nil
}

const maxSDPSize = 64 << 10

var errSkipCandidate = errors.New("candidate not representable")

// parseCandidate parses the value of an SDP "candidate" attribute
// (RFC 8839 section 5.1):
// foundation component transport priority address port "typ" type
// [raddr a rport p] *(extension-name extension-value).
func parseCandidate(v string) (Candidate, int, uint32, error) {
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return Candidate{}, 0, 0, errors.New("too few fields")
	}
	component, err := strconv.Atoi(f[1])
	if err != nil {
		return Candidate{}, 0, 0, fmt.Errorf("component: %v", err)
	}
	priority, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return Candidate{}, 0, 0, fmt.Errorf("priority: %v", err)
	}
	var c Candidate
	switch asciiLower(f[2]) {
	case "udp":
	case "tcp":
		c.TCP = true
	default:
		return Candidate{}, 0, 0, errSkipCandidate
	}
	addr, err := netip.ParseAddr(f[4])
	if err != nil {
		return Candidate{}, 0, 0, errSkipCandidate // a host name (mDNS)
	}
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil {
		return Candidate{}, 0, 0, fmt.Errorf("port: %v", err)
	}
	c.Addr = netip.AddrPortFrom(addr.Unmap(), uint16(port))
	typ := slices.Index(candidateTypeNames[:], f[7])
	if typ < 0 {
		return Candidate{}, 0, 0, errSkipCandidate
	}
	c.Type = CandidateType(typ)
	for i := 8; i+1 < len(f); i += 2 {
		if f[i] == "tcptype" {
			t := slices.Index(tcpTypeNames[1:], f[i+1])
			if t < 0 {
				return Candidate{}, 0, 0, errSkipCandidate
			}
			c.TCPType = TCPType(t + 1)
		}
	}
	if err := c.check(); err != nil {
		return Candidate{}, 0, 0, errSkipCandidate
	}
	return c, component, uint32(priority), nil
}

// typePreference follows RFC 8445 section 5.1.2.2's recommended values.
var typePreference = [...]uint32{Host: 126, PeerReflexive: 110, ServerReflexive: 100, Relay: 0}

// SDP renders d as a session description that pion accepts as the remote
// description. Priorities follow RFC 8445's type preferences but always
// decrease along the list (the first candidate is preferred); foundations
// are the candidates' positions.
func (d *ConnDesc) SDP() (string, error) {
	if err := d.check(); err != nil {
		return "", err
	}
	fp := make([]string, len(d.Fingerprint))
	for i, b := range d.Fingerprint {
		fp[i] = fmt.Sprintf("%02X", b)
	}
	m := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:   "application",
			Port:    sdp.RangedPort{Value: 9},
			Protos:  []string{"UDP", "DTLS", "SCTP"},
			Formats: []string{"webrtc-datachannel"},
		},
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN", AddressType: "IP4", Address: &sdp.Address{Address: "0.0.0.0"},
		},
	}
	m.WithValueAttribute("setup", d.Role.String())
	m.WithValueAttribute("mid", DataChannelMid)
	m.WithValueAttribute("sctp-port", strconv.Itoa(sctpPort))
	m.WithICECredentials(d.ICEUfrag, d.ICEPwd)
	m.WithValueAttribute("fingerprint", "sha-256 "+strings.Join(fp, ":"))
	prev := uint32(1<<32 - 1)
	for i, c := range d.Candidates {
		proto := "udp"
		if c.TCP {
			proto = "tcp"
		}
		// RFC 8445 priorities, kept strictly decreasing so that the list
		// order (the sender's preference) survives a round trip.
		priority := min(typePreference[c.Type]<<24|uint32(65535-i)<<8|255, prev-1)
		prev = priority
		v := fmt.Sprintf("%d 1 %s %d %s %d typ %s", i+1, proto, priority, c.Addr.Addr(), c.Addr.Port(), c.Type)
		if c.TCP {
			v += " tcptype " + tcpTypeNames[c.TCPType]
		}
		m.WithValueAttribute("candidate", v)
	}
	m.WithPropertyAttribute("end-of-candidates")
	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: "-", SessionID: 1 + uint64(d.Fingerprint[0])<<8 | uint64(d.Fingerprint[1]), SessionVersion: 2,
			NetworkType: "IN", AddressType: "IP4", UnicastAddress: "0.0.0.0",
		},
		SessionName:      "-",
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
	sd.WithValueAttribute("group", "BUNDLE "+DataChannelMid)
	sd.WithMedia(m)
	b, err := sd.Marshal()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// equal reports whether two descriptions are the same.
func (d *ConnDesc) equal(o *ConnDesc) bool {
	return d.ICEUfrag == o.ICEUfrag && d.ICEPwd == o.ICEPwd && bytes.Equal(d.Fingerprint[:], o.Fingerprint[:]) &&
		d.Role == o.Role && slices.Equal(d.Candidates, o.Candidates)
}
