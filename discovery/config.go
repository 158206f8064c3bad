package discovery

import (
	"log/slog"
	"net/netip"
	"time"
)

// The fixed group and port (administratively scoped IPv4 multicast,
// RFC 2365; packets are sent with TTL 1 and never leave the link).
var (
	DefaultGroup = netip.MustParseAddr("239.255.112.50")
	// DefaultGroup6 is the IPv6 group (link-local scope; "sp2l" in its
	// last 32 bits).
	DefaultGroup6 = netip.MustParseAddr("ff02::7370:326c")
)

// Defaults of Config.
const (
	DefaultPort         = 41234
	DefaultEpoch        = 60 * time.Second
	DefaultLifetime     = 15 * time.Minute
	DefaultCheckTimeout = 3 * time.Second
	// maxBeaconGap is the longest pause between two rounds of beacons
	// once the host has backed off.
	maxBeaconGap = 30 * time.Second
)

// Config says where and how discovery runs. The zero value takes the
// defaults.
type Config struct {
	Group netip.Addr // IPv4 multicast group; default DefaultGroup
	Port  int        // UDP port of the group; default DefaultPort
	// Group6 is the IPv6 multicast group; default DefaultGroup6. IPv6 is
	// used on the interfaces that have it, next to IPv4.
	Group6 netip.Addr
	// IPv4Only leaves IPv6 out.
	IPv4Only bool
	// Interfaces are the names of the interfaces to use; empty: every
	// interface that is up, can multicast and has an IPv4 address.
	Interfaces []string
	// Epoch is the length of a beacon epoch (tags are bound to it);
	// default DefaultEpoch, at least 1s.
	Epoch time.Duration
	// Lifetime bounds how long a host announces; default DefaultLifetime.
	Lifetime time.Duration
	// CheckTimeout bounds the wait for this host's own first packet to
	// come back from the group before ErrMulticastBlocked; default
	// DefaultCheckTimeout.
	CheckTimeout time.Duration
	Logger       *slog.Logger
}

func (c Config) withDefaults() Config {
	if !c.Group.IsValid() {
		c.Group = DefaultGroup
	}
	if !c.Group6.IsValid() {
		c.Group6 = DefaultGroup6
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Epoch < time.Second {
		c.Epoch = DefaultEpoch
	}
	if c.Lifetime <= 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = DefaultCheckTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c *Config) epochNow() uint32 {
	return epochOf(time.Now().Unix(), int64(c.Epoch/time.Second))
}

// HostParams are what a Host announces and serves.
type HostParams struct {
	// Offer is the signed offer token (binary form) given to whoever
	// proves a key.
	Offer []byte
	// Keys are the keys of the invited parties: one per known peer
	// (PeerKey), and at most one short code (CodeKey).
	Keys []Key
	// OnWrongCode, if not nil, is called (once, from another goroutine)
	// when someone tried a short code and did not prove it: the code is
	// used up, and the host no longer announces it.
	OnWrongCode func()
}
