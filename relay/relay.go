// Package relay runs a TURN relay (pion/turn) for sp2p peers that cannot
// reach each other directly, for instance both behind symmetric NATs. It
// is meant for a few friends; a relay for many users is coturn (README).
//
// # Security
//
// The relay is untrusted by design: it forwards DTLS packets that carry
// sp2p's own sealed records, so it sees addresses, timing and sizes, never
// content, and anything it alters or replays is rejected by DTLS or by the
// record layer. Access is by long-term credentials so that strangers
// cannot use the relay's bandwidth; per-user quotas bound allocations,
// atomically.
//
// The relay is no door into its own network: allocations are UDP only
// (RFC 6062 TCP allocations and Connect are refused), and peers on
// loopback, private, link-local (cloud metadata), CGNAT, multicast,
// broadcast, documentation and benchmark ranges, and the relay host's own
// addresses are refused (Config.AllowPeers opens a range). Packets to the
// relay's public address go only to its live allocations, so two peers on
// the same relay still reach each other relay to relay.
//
// The relay serves TURN over UDP and over TCP on the same port: TCP is for
// peers behind firewalls that block UDP. Relayed traffic to the other peer
// is UDP either way. TCP connections are bounded in total and per source
// address, and closed when they make no allocation in time or fall silent.
// Unauthenticated UDP requests get small, rate-limited replies or none
// (SECURITY.md states the bound).
package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"golang.org/x/net/netutil"
)

// Defaults of Config.
const (
	// MaxTCPConnections bounds the TURN-over-TCP connections served at
	// once; further ones wait to be accepted.
	MaxTCPConnections = 1024
	// DefaultMaxTCPPerSource bounds the TCP connections from one source
	// IP address; further ones are closed at once.
	DefaultMaxTCPPerSource = 16
	// DefaultTCPAuthTimeout is how long a TCP connection may take to make
	// its first authenticated allocation before it is closed.
	DefaultTCPAuthTimeout = 10 * time.Second
	// DefaultTCPIdleTimeout closes a TCP connection that has sent nothing
	// for this long (clients refresh their allocation, permissions and
	// ICE consent far more often).
	DefaultTCPIdleTimeout = 5 * time.Minute
	// DefaultMaxAllocationsPerUser bounds concurrent allocations per user.
	DefaultMaxAllocationsPerUser = 16
)

// Errors of the relay.
var (
	ErrConfig        = errors.New("relay: bad configuration")
	ErrBadPeerRange  = errors.New("bad peer range")
	ErrPeerRefused   = errors.New("relay: peer address refused")
	ErrTCPAllocation = errors.New("relay: TCP allocations (RFC 6062) are not served")
	ErrQuota         = errors.New("relay: allocation quota reached")
)

// Config configures a relay. Zero fields take the defaults above; Realm
// defaults to "sp2p".
type Config struct {
	// Listen is the address to listen on, UDP and TCP, such as
	// "0.0.0.0:3478".
	Listen string
	// RelayIP is the address peers reach the relay's allocations at: the
	// machine's public address.
	RelayIP net.IP
	// MinPort and MaxPort bound the relayed ports (default 49152-65535).
	MinPort, MaxPort uint16
	Realm            string
	// Users maps user names to passwords.
	Users map[string]string
	// MaxAllocationsPerUser bounds concurrent allocations per user.
	MaxAllocationsPerUser int
	// AllowPeers opens peer ranges that are refused by default (loopback,
	// private, link-local, CGNAT, multicast, documentation and benchmark
	// ranges, the relay host's own addresses): for labs and tests, or a
	// relay meant to serve a private network.
	AllowPeers []netip.Prefix
	// MaxTCPConnections bounds TURN-over-TCP connections at once;
	// MaxTCPPerSource those from one source IP address.
	MaxTCPConnections, MaxTCPPerSource int
	// TCPAuthTimeout closes a TCP connection that has made no
	// authenticated allocation this long after it was accepted;
	// TCPIdleTimeout one that has been silent this long.
	TCPAuthTimeout, TCPIdleTimeout time.Duration
	// Logger receives the relay's debug and warning logs (default
	// slog.Default()).
	Logger *slog.Logger
	// wrap, set only in tests, wraps each relayed connection (to drop,
	// duplicate or corrupt packets).
	wrap func(net.PacketConn) net.PacketConn
	// slowSocket, set only in tests, delays making each relayed socket.
	slowSocket time.Duration
}

// Server is a running relay. Close stops it.
type Server struct {
	turn  *turn.Server
	conn  net.PacketConn
	ln    net.Listener
	cfg   Config
	peers *peerPolicy
	log   *slog.Logger

	mu        sync.Mutex
	inUse     map[string]int          // allocations per user, reserved before they are made
	tcp       map[net.Conn]struct{}   // open TURN-over-TCP connections
	byRemote  map[string]*trackedConn // the same, by remote address
	perSource map[netip.Addr]int      // TCP connections per source IP
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.RelayIP == nil || cfg.RelayIP.To4() == nil || cfg.RelayIP.IsUnspecified() {
		return nil, fmt.Errorf("%w: the relay IP (the IPv4 address peers reach) is required", ErrConfig)
	}
	if len(cfg.Users) == 0 {
		return nil, fmt.Errorf("%w: at least one user is required", ErrConfig)
	}
	if cfg.Realm == "" {
		cfg.Realm = "sp2p"
	}
	if cfg.MinPort == 0 && cfg.MaxPort == 0 {
		cfg.MinPort, cfg.MaxPort = 49152, 65535
	}
	if cfg.MinPort > cfg.MaxPort {
		return nil, fmt.Errorf("%w: port range %d-%d is empty", ErrConfig, cfg.MinPort, cfg.MaxPort)
	}
	if cfg.MaxAllocationsPerUser <= 0 {
		cfg.MaxAllocationsPerUser = DefaultMaxAllocationsPerUser
	}
	if cfg.MaxTCPConnections <= 0 {
		cfg.MaxTCPConnections = MaxTCPConnections
	}
	if cfg.MaxTCPPerSource <= 0 {
		cfg.MaxTCPPerSource = DefaultMaxTCPPerSource
	}
	if cfg.TCPAuthTimeout <= 0 {
		cfg.TCPAuthTimeout = DefaultTCPAuthTimeout
	}
	if cfg.TCPIdleTimeout <= 0 {
		cfg.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	keys := map[string][]byte{}
	for u, p := range cfg.Users {
		keys[u] = turn.GenerateAuthKey(u, cfg.Realm, p)
	}
	udp, ln, err := listen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	s := &Server{
		conn: udp, cfg: cfg, log: cfg.Logger, peers: newPeerPolicy(cfg.AllowPeers, cfg.RelayIP),
		inUse: map[string]int{}, tcp: map[net.Conn]struct{}{}, byRemote: map[string]*trackedConn{}, perSource: map[netip.Addr]int{},
	}
	s.ln = &tcpListener{Listener: netutil.LimitListener(ln, cfg.MaxTCPConnections), s: s}
	var base turn.RelayAddressGenerator = &turn.RelayAddressGeneratorPortRange{
		RelayAddress: cfg.RelayIP, Address: "0.0.0.0", MinPort: cfg.MinPort, MaxPort: cfg.MaxPort,
	}
	if cfg.slowSocket > 0 {
		base = slowGenerator{base, cfg.slowSocket}
	}
	gen := &allocGenerator{RelayAddressGenerator: base, s: s, wrap: cfg.wrap}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelError
	s.turn, err = turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: quiet,
		// pion's defaults, stated: RFC 8656's 10-minute allocation
		// (a client may ask for up to an hour), 5-minute permission and
		// 10-minute channel binding.
		AllocationLifetime: 10 * time.Minute,
		PermissionTimeout:  5 * time.Minute,
		ChannelBindTimeout: 10 * time.Minute,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			key, ok := keys[ra.Username]
			return ra.Username, key, ok
		},
		// A first check, answered with 486; the reservation in
		// allocGenerator is the one that cannot be raced.
		QuotaHandler: func(user, realm string, src net.Addr) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.inUse[user] < cfg.MaxAllocationsPerUser
		},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, dst net.Addr, proto, user, realm string, relay net.Addr, port int) {
				if src.Network() != "tcp" {
					return
				}
				s.mu.Lock()
				c := s.byRemote[src.String()]
				s.mu.Unlock()
				if c != nil {
					c.authenticated()
				}
			},
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: &guardedConn{PacketConn: udp, lim: newReplyLimiter()}, RelayAddressGenerator: gen, PermissionHandler: s.peers.permit,
		}},
		ListenerConfigs: []turn.ListenerConfig{{Listener: s.ln, RelayAddressGenerator: gen, PermissionHandler: s.peers.permit}},
	})
	if err != nil {
		udp.Close()
		ln.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	return s, nil
}

// listen opens UDP and TCP on one port. When addr asks for any port (0),
// the port UDP got may be taken for TCP; a few other ports are tried.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for try := 0; ; try++ {
		udp, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("relay: %w", err)
		}
		ln, err := net.Listen("tcp4", udp.LocalAddr().String())
		if err == nil {
			return udp, ln, nil
		}
		udp.Close()
		if port != "0" || try == 9 {
			return nil, nil, fmt.Errorf("relay: TCP: %w", err)
		}
	}
}

// URL returns the value peers pass to --turn for TURN over UDP.
func (s *Server) URL() string { return s.url("udp") }

// TCPURL returns the value peers pass to --turn for TURN over TCP, for a
// peer whose firewall blocks UDP.
func (s *Server) TCPURL() string { return s.url("tcp") }

func (s *Server) url(transport string) string {
	port := s.conn.LocalAddr().(*net.UDPAddr).Port
	return "turn:" + net.JoinHostPort(s.cfg.RelayIP.String(), strconv.Itoa(port)) + "?transport=" + transport
}

// Allocations returns the number of open allocations per user.
func (s *Server) Allocations() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for u, n := range s.inUse {
		out[u] = n
	}
	return out
}

// Close stops the relay, closing its sockets and every TCP connection.
func (s *Server) Close() error {
	err := s.turn.Close()
	s.mu.Lock()
	open := make([]net.Conn, 0, len(s.tcp))
	for c := range s.tcp {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
	return err
}
