package ratelimit

import (
	"sync"
	"time"
)

// DefaultMaxPenalties is how many penalised peers a Penalties remembers at
// once by default.
const DefaultMaxPenalties = 16384

// Penalties remembers which peers serve a penalty (are refused for a
// cool-down). One Penalties can be shared by many Limiters, so that a peer
// penalised in one session is refused by every other session, invitation
// and group of the process that shares it, whatever their budgets. Memory
// is bounded: when full, expired penalties are dropped first, then the one
// that would end soonest. It is safe for concurrent use.
type Penalties[K comparable] struct {
	max int
	now func() time.Time

	mu    sync.Mutex
	until map[K]time.Time
}

// NewPenalties returns an empty record of at most max penalties (0 means
// DefaultMaxPenalties) with the given clock (nil means time.Now).
func NewPenalties[K comparable](max int, now func() time.Time) *Penalties[K] {
	if max <= 0 {
		max = DefaultMaxPenalties
	}
	if now == nil {
		now = time.Now
	}
	return &Penalties[K]{max: max, now: now, until: map[K]time.Time{}}
}

// Penalize refuses k for d from now (or longer, if k already serves a
// longer penalty).
func (p *Penalties[K]) Penalize(k K, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	end := now.Add(d)
	if old, ok := p.until[k]; ok {
		if end.After(old) {
			p.until[k] = end
		}
		return
	}
	if len(p.until) >= p.max {
		p.makeRoom(now)
	}
	p.until[k] = end
}

// makeRoom drops expired penalties, or else the one that ends soonest.
// p.mu must be held.
func (p *Penalties[K]) makeRoom(now time.Time) {
	var soonest K
	var soonestEnd time.Time
	first := true
	for k, end := range p.until {
		if !now.Before(end) {
			delete(p.until, k)
			continue
		}
		if first || end.Before(soonestEnd) {
			soonest, soonestEnd, first = k, end, false
		}
	}
	if len(p.until) >= p.max && !first {
		delete(p.until, soonest)
	}
}

// Until reports whether k serves a penalty now, and until when.
func (p *Penalties[K]) Until(k K) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	end, ok := p.until[k]
	if !ok {
		return time.Time{}, false
	}
	if !p.now().Before(end) {
		delete(p.until, k)
		return time.Time{}, false
	}
	return end, true
}

// Len returns how many penalties are remembered (some may have expired).
func (p *Penalties[K]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.until)
}
