// Package sdp converts between pion's session descriptions and sp2p's
// compact connection description (invite.ConnDesc), which tokens carry.
// Only the pion links need it; keeping it here keeps pion's SDP package
// out of invite.
package sdp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/sp2p/sp2p/invite"
)

// FromSDP extracts the compact description from an SDP that pion produced
// after gathering (non-trickle): exactly one data-channel media section with
// mid "0", ICE credentials, a SHA-256 DTLS fingerprint and the candidates.
// Candidates of component 2 are dropped (one component suffices with
// rtcp-mux and a data channel), as are duplicates and those whose address is
// a host name other than a browser's mDNS name (a canonical lower-case UUID
// then ".local", UDP host candidates only: those are kept as
// invite.MDNSName); if more than invite.MaxCandidates remain, the ones with
// the highest priority are kept. dropped counts the candidates left out.
func FromSDP(raw string) (desc *invite.ConnDesc, dropped int, err error) {
	if len(raw) > maxSDPSize {
		return nil, 0, fmt.Errorf("%w: SDP of %d bytes, at most %d", invite.ErrLimit, len(raw), maxSDPSize)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, 0, fmt.Errorf("%w: SDP: %v", invite.ErrMalformed, err)
	}
	if len(sd.MediaDescriptions) != 1 || sd.MediaDescriptions[0].MediaName.Media != "application" {
		return nil, 0, fmt.Errorf("%w: SDP must have exactly one data-channel (application) section", invite.ErrMalformed)
	}
	m := sd.MediaDescriptions[0]
	attr := func(key string) (string, bool) {
		if v, ok := m.Attribute(key); ok {
			return v, true
		}
		return sd.Attribute(key)
	}
	if mid, _ := m.Attribute("mid"); mid != invite.DataChannelMid {
		return nil, 0, fmt.Errorf("%w: SDP data-channel mid %q, want %q", invite.ErrMalformed, mid, invite.DataChannelMid)
	}
	d := &invite.ConnDesc{}
	d.ICEUfrag, _ = attr("ice-ufrag")
	d.ICEPwd, _ = attr("ice-pwd")
	fp, _ := attr("fingerprint")
	alg, hexfp, _ := strings.Cut(fp, " ")
	if asciiLower(alg) != "sha-256" {
		return nil, 0, fmt.Errorf("%w: SDP has no sha-256 DTLS fingerprint", invite.ErrMalformed)
	}
	fpBytes, err := hex.DecodeString(strings.ReplaceAll(hexfp, ":", ""))
	if err != nil || len(fpBytes) != 32 {
		return nil, 0, fmt.Errorf("%w: SDP DTLS fingerprint is not 32 hex bytes", invite.ErrMalformed)
	}
	copy(d.Fingerprint[:], fpBytes)
	switch setup, _ := attr("setup"); setup {
	case "actpass":
		d.Role = invite.RoleActPass
	case "active":
		d.Role = invite.RoleActive
	case "passive":
		d.Role = invite.RolePassive
	default:
		return nil, 0, fmt.Errorf("%w: SDP setup attribute %q", invite.ErrMalformed, setup)
	}
	type prioritized struct {
		c        invite.Candidate
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
			return nil, 0, fmt.Errorf("%w: SDP candidate %q: %v", invite.ErrMalformed, a.Value, err)
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
	if len(cands) > invite.MaxCandidates {
		dropped += len(cands) - invite.MaxCandidates
		cands = cands[:invite.MaxCandidates]
	}
	for _, p := range cands {
		d.Candidates = append(d.Candidates, p.c)
	}
	if err := d.Check(); err != nil {
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
func parseCandidate(v string) (invite.Candidate, int, uint32, error) {
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return invite.Candidate{}, 0, 0, errors.New("too few fields")
	}
	component, err := strconv.Atoi(f[1])
	if err != nil {
		return invite.Candidate{}, 0, 0, fmt.Errorf("component: %v", err)
	}
	priority, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return invite.Candidate{}, 0, 0, fmt.Errorf("priority: %v", err)
	}
	var c invite.Candidate
	switch asciiLower(f[2]) {
	case "udp":
	case "tcp":
		c.TCP = true
	default:
		return invite.Candidate{}, 0, 0, errSkipCandidate
	}
	addr, addrErr := netip.ParseAddr(f[4])
	name, isName := invite.ParseMDNSName(f[4])
	if addrErr != nil && !isName {
		return invite.Candidate{}, 0, 0, errSkipCandidate // another host name
	}
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil {
		return invite.Candidate{}, 0, 0, fmt.Errorf("port: %v", err)
	}
	if isName {
		// A browser's mDNS host name; the checks below keep it only as a
		// UDP host candidate.
		c.Name, c.Addr = name, netip.AddrPortFrom(netip.Addr{}, uint16(port))
	} else {
		c.Addr = netip.AddrPortFrom(addr.Unmap(), uint16(port))
	}
	typ := slices.Index(candidateTypes, f[7])
	if typ < 0 {
		return invite.Candidate{}, 0, 0, errSkipCandidate
	}
	c.Type = invite.CandidateType(typ)
	for i := 8; i+1 < len(f); i += 2 {
		if f[i] == "tcptype" {
			t := slices.Index(tcpTypes, f[i+1])
			if t < 0 {
				return invite.Candidate{}, 0, 0, errSkipCandidate
			}
			c.TCPType = invite.TCPType(t + 1)
		}
	}
	if err := c.Check(); err != nil {
		return invite.Candidate{}, 0, 0, errSkipCandidate
	}
	return c, component, uint32(priority), nil
}

// typePreference follows RFC 8445 section 5.1.2.2's recommended values.
var typePreference = [...]uint32{invite.Host: 126, invite.PeerReflexive: 110, invite.ServerReflexive: 100, invite.Relay: 0}

// candidateTypes are the candidate type names, in the order of
// invite.Host, ServerReflexive, PeerReflexive and Relay.
var candidateTypes = []string{invite.Host.String(), invite.ServerReflexive.String(), invite.PeerReflexive.String(), invite.Relay.String()}

// asciiLower lowers ASCII letters only (SDP tokens are ASCII; Unicode
// folding would read other characters as letters).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// tcpTypes are the ICE-TCP type names, in the order of invite.TCPActive,
// TCPPassive and TCPSimultaneous.
var tcpTypes = []string{invite.TCPActive.Name(), invite.TCPPassive.Name(), invite.TCPSimultaneous.Name()}

// ToSDP renders d as a session description that pion accepts as the remote
// description. Priorities follow RFC 8445's type preferences but always
// decrease along the list (the first candidate is preferred); foundations
// are the candidates' positions.
func ToSDP(d *invite.ConnDesc) (string, error) {
	if err := d.Check(); err != nil {
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
	m.WithValueAttribute("mid", invite.DataChannelMid)
	m.WithValueAttribute("sctp-port", strconv.Itoa(invite.SCTPPort))
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
		addr := c.Addr.Addr().String()
		if c.IsMDNS() {
			addr = c.Name.String()
		}
		v := fmt.Sprintf("%d 1 %s %d %s %d typ %s", i+1, proto, priority, addr, c.Addr.Port(), c.Type)
		if c.TCP {
			v += " tcptype " + c.TCPType.Name()
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
	sd.WithValueAttribute("group", "BUNDLE "+invite.DataChannelMid)
	sd.WithMedia(m)
	b, err := sd.Marshal()
	if err != nil {
		return "", err
	}
	return string(b), nil
}
