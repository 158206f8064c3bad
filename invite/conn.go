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

// Check enforces what every candidate must meet.
func (c Candidate) Check() error { return c.check() }

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
