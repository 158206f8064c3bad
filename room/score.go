package room

import (
	"math"
	"time"
)

// ScoreParams weigh what a neighbour does into its score. Scores are local
// (never shared), kept per identity for a while after a disconnect, and
// decay towards zero. SECURITY.md ("Rooms", "Scoring") gives the defaults
// and the reasons.
type ScoreParams struct {
	// FirstDeliveryWeight rewards each message a neighbour delivered
	// first (default 0.5), counted up to FirstDeliveryCap (default 40),
	// so a long-lived neighbour cannot bank unbounded credit.
	FirstDeliveryWeight float64
	FirstDeliveryCap    float64
	// InvalidWeight (default -10) multiplies the square of the invalid
	// messages a neighbour sent (bad signature, non-member or removed
	// origin, replay, out-of-window time, malformed frame).
	InvalidWeight float64
	// RateWeight (default -1) multiplies the rate-limit violations: the
	// messages beyond its own budget a neighbour published.
	RateWeight float64
	// BrokenPromiseWeight (default -4) multiplies the broken promises:
	// the IWANTs for IDs a neighbour announced in an IHAVE that were not
	// answered in full (one per IWANT however many of its IDs are
	// missing, as gossipsub tracks one promise per IWANT: a neighbour
	// that is slow under load is not disconnected for one late answer).
	BrokenPromiseWeight float64
	// RTTWeight (default -1) multiplies each RTTUnit (default 100 ms) of
	// round trip above RTTThreshold (default 500 ms), up to -5 in all.
	RTTWeight    float64
	RTTThreshold time.Duration
	RTTUnit      time.Duration
	// Decay is the factor the counters keep per second (default 0.9:
	// half-life 6.6 s); InvalidDecay is the invalid-message counter's
	// (default 0.99: half-life 69 s).
	Decay, InvalidDecay float64
	// PruneThreshold (default -10): a mesh neighbour below it is pruned
	// (it stays connected, and gets IHAVEs only). GossipThreshold
	// (default -20): a neighbour's IHAVEs below it are ignored.
	// DisconnectThreshold (default -50): a neighbour below it is
	// disconnected and refused for BanDuration (default 1 minute).
	PruneThreshold, GossipThreshold, DisconnectThreshold float64
	BanDuration                                          time.Duration
	// PromiseTimeout is how long an IWANT waits for its message before
	// the promise counts as broken (default 3 s).
	PromiseTimeout time.Duration
}

func (p ScoreParams) withDefaults() ScoreParams {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.FirstDeliveryWeight, 0.5)
	def(&p.FirstDeliveryCap, 40)
	def(&p.InvalidWeight, -10)
	def(&p.RateWeight, -1)
	def(&p.BrokenPromiseWeight, -4)
	def(&p.RTTWeight, -1)
	def(&p.Decay, 0.9)
	def(&p.InvalidDecay, 0.99)
	def(&p.PruneThreshold, -10)
	def(&p.GossipThreshold, -20)
	def(&p.DisconnectThreshold, -50)
	if p.RTTThreshold <= 0 {
		p.RTTThreshold = 500 * time.Millisecond
	}
	if p.RTTUnit <= 0 {
		p.RTTUnit = 100 * time.Millisecond
	}
	if p.BanDuration <= 0 {
		p.BanDuration = time.Minute
	}
	if p.PromiseTimeout <= 0 {
		p.PromiseTimeout = 3 * time.Second
	}
	return p
}

// score is one identity's counters.
type score struct {
	first, invalid, rate, broken float64
	rtt                          time.Duration
	banned                       time.Time // refused until then
	touched                      time.Time
}

func (s *score) value(p *ScoreParams) float64 {
	v := math.Min(s.first, p.FirstDeliveryCap) * p.FirstDeliveryWeight
	v += s.invalid * s.invalid * p.InvalidWeight
	v += s.rate * p.RateWeight
	v += s.broken * p.BrokenPromiseWeight
	if s.rtt > p.RTTThreshold {
		v += math.Max(float64(s.rtt-p.RTTThreshold)/float64(p.RTTUnit)*p.RTTWeight, -5)
	}
	return v
}

func (s *score) decay(p *ScoreParams, dt time.Duration) {
	sec := dt.Seconds()
	k, ki := math.Pow(p.Decay, sec), math.Pow(p.InvalidDecay, sec)
	s.first *= k
	s.rate *= k
	s.broken *= k
	s.invalid *= ki
	for _, v := range []*float64{&s.first, &s.rate, &s.broken, &s.invalid} {
		if math.Abs(*v) < 0.01 {
			*v = 0
		}
	}
}

func (s *score) idle() bool {
	return s.first == 0 && s.invalid == 0 && s.rate == 0 && s.broken == 0
}
