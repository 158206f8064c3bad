// Package ratelimit holds per-peer budgets: messages and bytes per second
// with bursts (golang.org/x/time/rate), a violation counter with a penalty
// (the peer is disconnected and refused for a cool-down), and bounded
// memory however many peers come and go.
//
// A [Limiter] is keyed by any comparable peer key (sp2p uses identity IDs).
// Receivers call [Limiter.Wait] before processing each incoming record, so a
// peer over its budget is slowed down by backpressure rather than dropped,
// and [Limiter.Violation] for each record that fails to open or breaks the
// protocol. Sessions call [Limiter.Admit] before accepting a peer.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Errors of the limiter.
var (
	ErrPenalized    = errors.New("ratelimit: peer is refused for a cool-down after protocol violations")
	ErrTooManyPeers = errors.New("ratelimit: too many peers tracked")
	ErrTooLarge     = errors.New("ratelimit: message larger than the byte burst")
)

// Limits are per-peer budgets. The zero value takes the defaults.
type Limits struct {
	MessagesPerSecond float64       // default 200,000
	MessageBurst      int           // default 100,000
	BytesPerSecond    float64       // default 256 MiB/s
	ByteBurst         int           // default 16 MiB; must hold the largest record
	MaxViolations     int           // violations before the penalty; default 8
	Penalty           time.Duration // cool-down after MaxViolations; default 10 minutes
	IdleTimeout       time.Duration // idle peers are forgotten after this; default 10 minutes
	MaxPeers          int           // peers tracked at once; default 4096
}

// Defaults of Limits.
const (
	DefaultMessagesPerSecond = 200_000
	DefaultMessageBurst      = 100_000
	DefaultBytesPerSecond    = 256 << 20
	DefaultByteBurst         = 16 << 20
	DefaultMaxViolations     = 8
	DefaultPenalty           = 10 * time.Minute
	DefaultIdleTimeout       = 10 * time.Minute
	DefaultMaxPeers          = 4096
)

func (l Limits) withDefaults() Limits {
	if l.MessagesPerSecond <= 0 {
		l.MessagesPerSecond = DefaultMessagesPerSecond
	}
	if l.MessageBurst <= 0 {
		l.MessageBurst = DefaultMessageBurst
	}
	if l.BytesPerSecond <= 0 {
		l.BytesPerSecond = DefaultBytesPerSecond
	}
	if l.ByteBurst <= 0 {
		l.ByteBurst = DefaultByteBurst
	}
	if l.MaxViolations <= 0 {
		l.MaxViolations = DefaultMaxViolations
	}
	if l.Penalty <= 0 {
		l.Penalty = DefaultPenalty
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxPeers <= 0 {
		l.MaxPeers = DefaultMaxPeers
	}
	return l
}

// Limiter tracks the budgets of many peers. It is safe for concurrent use.
type Limiter[K comparable] struct {
	limits    Limits
	now       func() time.Time
	penalties *Penalties[K]

	mu        sync.Mutex
	peers     map[K]*entry
	lastSweep time.Time
}

type entry struct {
	msgs, bytes *rate.Limiter
	violations  int
	lastSeen    time.Time
}

// New returns a Limiter with the given limits (zero fields take the
// defaults) and clock (nil means time.Now), with a record of penalties of
// its own.
func New[K comparable](limits Limits, now func() time.Time) *Limiter[K] {
	return NewShared[K](limits, now, nil)
}

// NewShared is New with a record of penalties shared with other Limiters
// (nil means one of its own): a peer penalised through any of them is
// refused by all.
func NewShared[K comparable](limits Limits, now func() time.Time, penalties *Penalties[K]) *Limiter[K] {
	if now == nil {
		now = time.Now
	}
	if penalties == nil {
		penalties = NewPenalties[K](0, now)
	}
	return &Limiter[K]{limits: limits.withDefaults(), now: now, penalties: penalties, peers: map[K]*entry{}}
}

// Penalties returns the record of penalties the Limiter uses.
func (l *Limiter[K]) Penalties() *Penalties[K] { return l.penalties }

// Limits returns the limits in force.
func (l *Limiter[K]) Limits() Limits { return l.limits }

// get returns k's entry, creating it if needed. l.mu must be held.
func (l *Limiter[K]) get(k K, now time.Time) (*entry, error) {
	if now.Sub(l.lastSweep) > l.limits.IdleTimeout/4 {
		l.sweep(now)
	}
	e := l.peers[k]
	if e == nil {
		if len(l.peers) >= l.limits.MaxPeers && !l.evictOne(now) {
			return nil, fmt.Errorf("%w: %d", ErrTooManyPeers, l.limits.MaxPeers)
		}
		e = &entry{
			msgs:  rate.NewLimiter(rate.Limit(l.limits.MessagesPerSecond), l.limits.MessageBurst),
			bytes: rate.NewLimiter(rate.Limit(l.limits.BytesPerSecond), l.limits.ByteBurst),
		}
		l.peers[k] = e
	}
	e.lastSeen = now
	return e, nil
}

// sweep forgets idle peers. Penalties are kept apart (in l.penalties), so
// forgetting a peer's budget never lifts its penalty.
func (l *Limiter[K]) sweep(now time.Time) {
	l.lastSweep = now
	for k, e := range l.peers {
		if now.Sub(e.lastSeen) > l.limits.IdleTimeout {
			delete(l.peers, k)
		}
	}
}

// evictOne forgets the least recently seen peer's budget.
func (l *Limiter[K]) evictOne(now time.Time) bool {
	var victim K
	var oldest time.Time
	found := false
	for k, e := range l.peers {
		if !found || e.lastSeen.Before(oldest) {
			victim, oldest, found = k, e.lastSeen, true
		}
	}
	if found {
		delete(l.peers, victim)
	}
	return found
}

// Admit reports whether peer k may connect: ErrPenalized while it serves a
// penalty, ErrTooManyPeers when no room can be made.
func (l *Limiter[K]) Admit(k K) error {
	if until, ok := l.penalties.Until(k); ok {
		return fmt.Errorf("%w (until %s)", ErrPenalized, until.UTC().Format(time.RFC3339))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.get(k, l.now())
	return err
}

// Reserve accounts for one message of n bytes from k and returns how long
// the receiver must wait before processing it to stay within k's budget.
func (l *Limiter[K]) Reserve(k K, n int) (time.Duration, error) {
	if _, ok := l.penalties.Until(k); ok {
		return 0, ErrPenalized
	}
	l.mu.Lock()
	now := l.now()
	e, err := l.get(k, now)
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if n > l.limits.ByteBurst {
		return 0, fmt.Errorf("%w: %d bytes, burst %d", ErrTooLarge, n, l.limits.ByteBurst)
	}
	rm := e.msgs.ReserveN(now, 1)
	rb := e.bytes.ReserveN(now, n)
	return max(rm.DelayFrom(now), rb.DelayFrom(now)), nil
}

// Wait blocks until a message of n bytes from k fits its budget, or ctx
// ends. This is the backpressure: a receiver that waits stops reading, and
// the sender's writes block in turn.
func (l *Limiter[K]) Wait(ctx context.Context, k K, n int) error {
	d, err := l.Reserve(k, n)
	if err != nil || d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Violation counts a record from k that failed to open or broke the
// protocol. It returns true when k has reached MaxViolations: the caller
// disconnects k, and Admit refuses k for the Penalty.
func (l *Limiter[K]) Violation(k K) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e, err := l.get(k, now)
	if err != nil {
		l.penalties.Penalize(k, l.limits.Penalty)
		return true // cannot track it: treat as over the limit
	}
	e.violations++
	if e.violations >= l.limits.MaxViolations {
		e.violations = 0
		l.penalties.Penalize(k, l.limits.Penalty)
		return true
	}
	return false
}

// Violations returns k's violation count since its last penalty.
func (l *Limiter[K]) Violations(k K) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.peers[k]; e != nil {
		return e.violations
	}
	return 0
}

// Len returns how many peers are tracked.
func (l *Limiter[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}
