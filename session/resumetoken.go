package session

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
)

// Resume tokens (SECURITY.md, "Resume tokens"). When a moving session
// cannot find its peer where it was (both sides changed networks, or only
// a relay joined them), a person can carry each side's resume token to the
// other: it holds the addresses of the side's next link, tagged under the
// session's resume secret, and the side that takes it tries them first.
//
//	offset size
//	0      1    version, 1
//	1      1    the sender's role (0 offerer, 1 answerer)
//	2      8    resume id (seal.Resumer.ResumeID, the same on both sides)
//	10     8    issued, Unix milliseconds (uint64)
//	18     1    candidates, 1 to 16
//	19     …    each: type (0 host, 1 srflx, 2 prflx, 3 relay), address
//	            length (4 or 16), the address, port (uint16, not 0)
//	…      32   HMAC-SHA256 under the sender's role's token key of all
//	            the bytes before it
//
// Its text is ResumeTokenPrefix followed by the bytes in unpadded
// base64url, at most MaxResumeTokenText characters.
const (
	ResumeTokenPrefix  = "sp2p-resume:"
	MaxResumeTokenText = 1024
	resumeTokenVersion = 1
	resumeTokenHeader  = 19
)

// Errors of resume tokens.
var (
	// ErrResumeToken is a resume token that was refused; the error says
	// why.
	ErrResumeToken = errors.New("session: resume token refused")
	// ErrNotMoving: the session is not resuming now, so it has no resume
	// token to give (or needs none).
	ErrNotMoving = errors.New("session: the session is not resuming")
	// ErrNotResumable: the session does not resume at all.
	ErrNotResumable = errors.New("session: the session does not resume")
)

// ResumeTokenID returns the resume id a resume token names, checking only
// its form, to find the process whose session it is; UseResumeToken checks
// the rest.
func ResumeTokenID(text string) ([8]byte, error) {
	b, err := resumeTokenBytes(text)
	if err != nil {
		return [8]byte{}, err
	}
	return [8]byte(b[2:10]), nil
}

func resumeTokenBytes(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if len(text) > MaxResumeTokenText {
		return nil, fmt.Errorf("%w: %d characters, at most %d", ErrResumeToken, len(text), MaxResumeTokenText)
	}
	rest, ok := strings.CutPrefix(text, ResumeTokenPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: it does not begin with %q", ErrResumeToken, ResumeTokenPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url: %v", ErrResumeToken, err)
	}
	if len(b) < resumeTokenHeader+seal.ResumeMACSize || b[0] != resumeTokenVersion {
		return nil, fmt.Errorf("%w: not a version-%d resume token", ErrResumeToken, resumeTokenVersion)
	}
	return b, nil
}

// ResumeID returns the session's resume id, as its resume tokens carry
// it; false for a session that does not resume.
func (s *Session) ResumeID() ([8]byte, bool) {
	if !s.resumable() {
		return [8]byte{}, false
	}
	return s.res.r.ResumeID(), true
}

// ResumeToken returns this side's resume token while the session is
// moving: the addresses of its next link, for the peer's UseResumeToken.
// It is available once the session has made a link attempt.
func (s *Session) ResumeToken() (string, error) {
	if !s.resumable() {
		return "", ErrNotResumable
	}
	rs := s.res
	rs.mu.Lock()
	moving, cands := rs.moving, rs.localCands
	rs.mu.Unlock()
	if !moving || len(cands) == 0 {
		return "", ErrNotMoving
	}
	id := rs.r.ResumeID()
	b := []byte{resumeTokenVersion, byte(rs.role)}
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(max(time.Now().UnixMilli(), 0)))
	n := 0
	body := []byte{}
	for _, c := range cands {
		if c.TCP || c.Name != (invite.MDNSName{}) || !c.Addr.IsValid() || c.Addr.Port() == 0 || n == invite.MaxCandidates {
			continue
		}
		a := c.Addr.Addr().Unmap()
		body = append(body, byte(c.Type), byte(a.BitLen()/8))
		body = append(body, a.AsSlice()...)
		body = binary.BigEndian.AppendUint16(body, c.Addr.Port())
		n++
	}
	if n == 0 {
		return "", ErrNotMoving
	}
	b = append(append(b, byte(n)), body...)
	tag := rs.r.TokenMAC(rs.role, b)
	return ResumeTokenPrefix + base64.RawURLEncoding.EncodeToString(append(b, tag[:]...)), nil
}

// decodeResumeToken checks a peer's resume token: form, version, role
// (the peer's), resume id, candidates, nothing after them, tag, in that
// order, and returns its issue time and candidates.
func decodeResumeToken(text string, r *seal.Resumer, peer seal.Role) (time.Time, []invite.Candidate, error) {
	b, err := resumeTokenBytes(text)
	if err != nil {
		return time.Time{}, nil, err
	}
	if b[1] != byte(peer) {
		return time.Time{}, nil, fmt.Errorf("%w: it is this side's own, not the peer's", ErrResumeToken)
	}
	id := r.ResumeID()
	if subtle.ConstantTimeCompare(b[2:10], id[:]) != 1 {
		return time.Time{}, nil, fmt.Errorf("%w: it is for another session", ErrResumeToken)
	}
	issued := time.UnixMilli(int64(min(binary.BigEndian.Uint64(b[10:18]), 1<<62)))
	n := int(b[18])
	if n < 1 || n > invite.MaxCandidates {
		return time.Time{}, nil, fmt.Errorf("%w: %d candidates, want 1 to %d", ErrResumeToken, n, invite.MaxCandidates)
	}
	body, end := b[resumeTokenHeader:len(b)-seal.ResumeMACSize], len(b)-seal.ResumeMACSize
	var cands []invite.Candidate
	for range n {
		if len(body) < 2 {
			return time.Time{}, nil, fmt.Errorf("%w: cut short", ErrResumeToken)
		}
		typ, alen := body[0], int(body[1])
		if typ > byte(invite.Relay) || alen != 4 && alen != 16 || len(body) < 2+alen+2 {
			return time.Time{}, nil, fmt.Errorf("%w: a malformed candidate", ErrResumeToken)
		}
		addr, _ := netip.AddrFromSlice(body[2 : 2+alen])
		port := binary.BigEndian.Uint16(body[2+alen:])
		if port == 0 || !addr.IsValid() || addr.IsUnspecified() || addr.Is4In6() {
			return time.Time{}, nil, fmt.Errorf("%w: a candidate with no usable address", ErrResumeToken)
		}
		cands = append(cands, invite.Candidate{Type: invite.CandidateType(typ), Addr: netip.AddrPortFrom(addr, port)})
		body = body[2+alen+2:]
	}
	if len(body) != 0 {
		return time.Time{}, nil, fmt.Errorf("%w: %d bytes after the candidates", ErrResumeToken, len(body))
	}
	want := r.TokenMAC(peer, b[:end])
	if subtle.ConstantTimeCompare(want[:], b[end:]) != 1 {
		return time.Time{}, nil, fmt.Errorf("%w: its tag does not check (not from the peer, or altered)", ErrResumeToken)
	}
	return issued, cands, nil
}

// resumeTokenSkew is how far in the future a token's issue time may be.
const resumeTokenSkew = 2 * time.Minute

// UseResumeToken takes the peer's resume token: its addresses are tried
// first, from a new link attempt that starts at once. A token issued
// before the session began, more than 2 minutes ahead of this side's
// clock, or not after the last token taken is refused (a replay).
func (s *Session) UseResumeToken(text string) error {
	if !s.resumable() {
		return ErrNotResumable
	}
	rs := s.res
	issued, cands, err := decodeResumeToken(text, rs.r, 1-rs.role)
	if err != nil {
		return err
	}
	now := time.Now()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch {
	case issued.Before(s.started.Add(-resumeTokenSkew)) || issued.After(now.Add(resumeTokenSkew)):
		return fmt.Errorf("%w: issued at %v, outside this session's time", ErrResumeToken, issued.UTC().Format(time.RFC3339))
	case !issued.After(rs.hintIssued):
		return fmt.Errorf("%w: not newer than the last one taken (a replay)", ErrResumeToken)
	case !rs.moving:
		return ErrNotMoving
	}
	rs.hints, rs.hintIssued = cands, issued
	if rs.attemptCancel != nil {
		rs.attemptCancel(errHint)
	}
	return nil
}

// errHint ends a link attempt that a resume token made stale.
var errHint = errors.New("the peer's resume token arrived")

// attemptContext is the context of one link attempt, which a resume
// token cuts short.
func (rs *resumption) attemptContext(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	actx, cancel := context.WithTimeout(ctx, wait)
	cctx, ccancel := context.WithCancelCause(actx)
	rs.mu.Lock()
	rs.attemptCancel = ccancel
	rs.mu.Unlock()
	return cctx, func() {
		rs.mu.Lock()
		rs.attemptCancel = nil
		rs.mu.Unlock()
		ccancel(nil)
		cancel()
	}
}

// Moving reports whether the session is moving to a new link now, and
// since when.
func (s *Session) Moving() (since time.Time, moving bool) {
	if s.res == nil {
		return time.Time{}, false
	}
	s.res.mu.Lock()
	defer s.res.mu.Unlock()
	return s.res.since, s.res.moving
}
