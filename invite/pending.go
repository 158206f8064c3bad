package invite

import (
	"crypto/subtle"
	"fmt"
	"sync"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// DefaultMaxPending is how many invitations a Pending keeps by default.
const DefaultMaxPending = 64

// Pending is the inviter's record of the offers it issued. It accepts
// exactly one valid answer per offer, and keeps answered and expired offers
// until a while after they expire so that late or repeated answers get a
// precise error. It is safe for concurrent use.
type Pending struct {
	// Max bounds the offers kept; zero means DefaultMaxPending.
	Max int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ClockSkew is how far in the future an answer's creation time may be;
	// zero means DefaultClockSkew.
	ClockSkew time.Duration

	mu     sync.Mutex
	offers map[[HashSize]byte]*pendingOffer
}

type pendingOffer struct {
	offer      *Offer
	used       bool
	answerHash [HashSize]byte
}

// forgetAfter is how long past its expiry an offer is remembered.
const forgetAfter = 10 * time.Minute

func (p *Pending) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// Add records an offer this side issued.
func (p *Pending) Add(o *Offer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offers == nil {
		p.offers = map[[HashSize]byte]*pendingOffer{}
	}
	now := p.now()
	for h, e := range p.offers {
		if now.After(e.offer.Expires().Add(forgetAfter)) {
			delete(p.offers, h)
		}
	}
	limit := p.Max
	if limit == 0 {
		limit = DefaultMaxPending
	}
	if len(p.offers) >= limit {
		return fmt.Errorf("%w: %d", ErrTooManyPending, limit)
	}
	p.offers[o.Hash()] = &pendingOffer{offer: o}
	return nil
}

// AcceptOptions are the checks of Accept beyond the pending offer's own.
type AcceptOptions struct {
	// Expect, when not zero, is the only answerer accepted (a pinned peer).
	Expect identity.ID
}

// Accept checks an answer against the pending offers: it must answer a
// known offer (ErrUnknownOffer) that has not expired (expired when now >=
// offer created + lifetime: ErrExpired) and has not been answered
// (ErrAlreadyUsed; the same answer again is ErrReplayed); its creation time
// must not be in the future beyond the clock skew (answer created <= now +
// skew, else ErrNotYetValid) nor more than the clock skew before its
// offer's (answer created >= offer created - skew, else ErrMalformed): the
// answerer's clock may be behind the inviter's by as much as an offer may
// be ahead of the answerer's; it must come from the offer's recipient if
// the offer names one (ErrWrongRecipient) and from opts.Expect if set
// (ErrUnexpectedPeer). On success the offer is marked used and returned.
func (p *Pending) Accept(a *Answer, opts AcceptOptions) (*Offer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.offers[a.OfferHash]
	if e == nil {
		return nil, ErrUnknownOffer
	}
	if e.used {
		ah := a.Hash()
		if subtle.ConstantTimeCompare(ah[:], e.answerHash[:]) == 1 {
			return nil, ErrReplayed
		}
		return nil, ErrAlreadyUsed
	}
	now := p.now()
	o := e.offer
	if !now.Before(o.Expires()) {
		return nil, fmt.Errorf("%w at %s", ErrExpired, o.Expires().UTC().Format(time.RFC3339))
	}
	skew := p.ClockSkew
	if skew == 0 {
		skew = DefaultClockSkew
	}
	if a.Created.After(now.Add(skew)) {
		return nil, fmt.Errorf("%w: answer created %s", ErrNotYetValid, a.Created.UTC().Format(time.RFC3339))
	}
	if a.Created.Before(o.Created.Add(-skew)) {
		return nil, fmt.Errorf("%w: answer created %s, more than %v before its invitation (%s; check the clocks)",
			ErrMalformed, a.Created.UTC().Format(time.RFC3339), skew, o.Created.UTC().Format(time.RFC3339))
	}
	if !o.Recipient.IsZero() && !o.Recipient.Equal(a.Answerer) {
		return nil, fmt.Errorf("%w: the invitation is for %s, the answer is signed by %s", ErrWrongRecipient, o.Recipient, a.Answerer)
	}
	if !opts.Expect.IsZero() && !opts.Expect.Equal(a.Answerer) {
		return nil, fmt.Errorf("%w: answer signed by %s (fingerprint %s)", ErrUnexpectedPeer, a.Answerer, a.Answerer.Fingerprint())
	}
	e.used = true
	e.answerHash = a.Hash()
	return o, nil
}

// Len returns how many offers are remembered.
func (p *Pending) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.offers)
}
