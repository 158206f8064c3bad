package invite

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
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
	// SCTPPort is the data channel's SCTP port; both sides use it, so it
	// is not carried in tokens.
	SCTPPort = 5000
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

// Name is the TCP type's name in an ICE candidate line ("" for TCPNone).
func (t TCPType) Name() string {
	if int(t) < len(tcpTypeNames) {
		return tcpTypeNames[t]
	}
	return ""
}

// Candidate is one ICE candidate in its compact form: what ICE needs to
// pair it. Foundation and priority are recomputed from the type and the
// order in the list; related addresses are not carried (they would only
// reveal the private address behind a NAT).
//
// A candidate whose Name is not zero is an mDNS host-name candidate, as
// browsers make to hide local addresses (draft-ietf-mmusic-mdns-ice-candidates):
// its address is Name's "<uuid>.local", resolved by the peer over
// multicast DNS; Addr then holds only the port (its address is the zero
// netip.Addr), and the candidate is a UDP host candidate.
type Candidate struct {
	Type    CandidateType
	TCP     bool
	TCPType TCPType
	Addr    netip.AddrPort
	Name    MDNSName
}

func (c Candidate) String() string {
	proto := "udp"
	if c.TCP {
		proto = "tcp/" + tcpTypeNames[c.TCPType]
	}
	if !c.Name.IsZero() {
		return fmt.Sprintf("%s %s %s:%d", c.Type, proto, c.Name, c.Addr.Port())
	}
	return fmt.Sprintf("%s %s %s", c.Type, proto, c.Addr)
}

// IsMDNS reports whether c is an mDNS host-name candidate.
func (c Candidate) IsMDNS() bool { return !c.Name.IsZero() }

// MDNSName is the UUID of an mDNS host-name candidate "<uuid>.local", as
// its 16 bytes. The zero value (the nil UUID) is no name.
type MDNSName [16]byte

// MDNSSuffix ends every mDNS candidate name.
const MDNSSuffix = ".local"

// IsZero reports whether n is no name.
func (n MDNSName) IsZero() bool { return n == MDNSName{} }

// String returns the canonical name: the UUID in lower-case hex with
// hyphens after the 4th, 6th, 8th and 10th bytes, then ".local".
func (n MDNSName) String() string {
	const hexDigits = "0123456789abcdef"
	b := make([]byte, 0, 36+len(MDNSSuffix))
	for i, x := range n {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&15])
	}
	return string(append(b, MDNSSuffix...))
}

// ParseMDNSName reads a candidate address that is exactly a canonical
// mDNS name: 36 characters of lower-case UUID
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits 0-9 a-f) then
// ".local", not the nil UUID. Anything else (upper case, other host
// names, no hyphens) is not one: ok is false.
func ParseMDNSName(s string) (n MDNSName, ok bool) {
	if len(s) != 36+len(MDNSSuffix) || s[36:] != MDNSSuffix {
		return MDNSName{}, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return MDNSName{}, false
			}
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return MDNSName{}, false
		}
		n[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	return n, !n.IsZero()
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Check enforces what every candidate must meet.
func (c Candidate) Check() error { return c.check() }

func (c Candidate) check() error {
	if !c.Name.IsZero() {
		switch {
		case c.Type != Host || c.TCP || c.TCPType != TCPNone:
			return errors.New("an mDNS name candidate must be a UDP host candidate")
		case c.Addr.Addr().IsValid():
			return errors.New("an mDNS name candidate with an IP address")
		case c.Addr.Port() == 0:
			return errors.New("candidate port 0")
		}
		return nil
	}
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

// Check enforces the limits every ConnDesc must meet (the ones the token
// encoding checks): credentials, role, candidates.
func (d *ConnDesc) Check() error { return d.check() }

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

// equal reports whether two descriptions are the same.
func (d *ConnDesc) equal(o *ConnDesc) bool {
	return d.ICEUfrag == o.ICEUfrag && d.ICEPwd == o.ICEPwd && bytes.Equal(d.Fingerprint[:], o.Fingerprint[:]) &&
		d.Role == o.Role && slices.Equal(d.Candidates, o.Candidates)
}
