// Package relay runs a TURN relay (pion/turn) for sp2p peers that cannot
// reach each other directly, for instance both behind symmetric NATs.
//
// # Security
//
// The relay is untrusted by design: it forwards DTLS packets that carry
// sp2p's own sealed records, so it sees addresses, timing and sizes, never
// content, and anything it alters or replays is rejected by DTLS or by the
// record layer. Access is by long-term credentials so that strangers
// cannot use the relay's bandwidth; per-user quotas bound allocations.
//
// The relay serves TURN over UDP and over TCP on the same port: TCP is for
// peers behind firewalls that block UDP. Relayed traffic to the other peer
// is UDP either way.
package relay

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"golang.org/x/net/netutil"
)

// MaxTCPConnections bounds the TURN-over-TCP connections served at once;
// further ones wait to be accepted.
const MaxTCPConnections = 1024

// Config configures a relay. Realm defaults to "sp2p"; MaxAllocationsPerUser
// to 16.
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
	// wrap, set only in tests, wraps each relayed connection (to drop,
	// duplicate or corrupt packets).
	wrap func(net.PacketConn) net.PacketConn
}

// Server is a running relay. Close stops it.
type Server struct {
	turn *turn.Server
	conn net.PacketConn
	ln   net.Listener
	cfg  Config

	mu    sync.Mutex
	inUse map[string]int
	tcp   map[net.Conn]struct{} // open TURN-over-TCP connections
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.RelayIP == nil {
		return nil, errors.New("relay: the relay IP (the address peers reach) is required")
	}
	if len(cfg.Users) == 0 {
		return nil, errors.New("relay: at least one user is required")
	}
	if cfg.Realm == "" {
		cfg.Realm = "sp2p"
	}
	if cfg.MinPort == 0 && cfg.MaxPort == 0 {
		cfg.MinPort, cfg.MaxPort = 49152, 65535
	}
	if cfg.MinPort > cfg.MaxPort {
		return nil, fmt.Errorf("relay: port range %d-%d is empty", cfg.MinPort, cfg.MaxPort)
	}
	if cfg.MaxAllocationsPerUser <= 0 {
		cfg.MaxAllocationsPerUser = 16
	}
	keys := map[string][]byte{}
	for u, p := range cfg.Users {
		keys[u] = turn.GenerateAuthKey(u, cfg.Realm, p)
	}
	conn, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	// TCP on the port UDP got (which matters when Listen asks for port 0).
	ln, err := net.Listen("tcp4", conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("relay: TCP: %w", err)
	}
	s := &Server{conn: conn, cfg: cfg, inUse: map[string]int{}, tcp: map[net.Conn]struct{}{}}
	s.ln = &trackingListener{Listener: netutil.LimitListener(ln, MaxTCPConnections), s: s}
	ln = s.ln
	var gen turn.RelayAddressGenerator = &turn.RelayAddressGeneratorPortRange{
		RelayAddress: cfg.RelayIP, Address: "0.0.0.0", MinPort: cfg.MinPort, MaxPort: cfg.MaxPort,
	}
	if cfg.wrap != nil {
		gen = wrappingGenerator{RelayAddressGenerator: gen, wrap: cfg.wrap}
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelError
	s.turn, err = turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: quiet,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			key, ok := keys[ra.Username]
			return ra.Username, key, ok
		},
		QuotaHandler: func(user, realm string, src net.Addr) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.inUse[user] < cfg.MaxAllocationsPerUser
		},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, dst net.Addr, proto, user, realm string, relay net.Addr, port int) {
				s.mu.Lock()
				s.inUse[user]++
				s.mu.Unlock()
			},
			OnAllocationDeleted: func(src, dst net.Addr, proto, user, realm string) {
				s.mu.Lock()
				s.inUse[user]--
				s.mu.Unlock()
			},
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: conn, RelayAddressGenerator: gen}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: ln, RelayAddressGenerator: gen}},
	})
	if err != nil {
		conn.Close()
		ln.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	return s, nil
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

// trackingListener remembers the connections it accepts until they close,
// so that Close can end them (pion/turn closes only the listener).
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.tcp[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.tcp, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

type wrappingGenerator struct {
	turn.RelayAddressGenerator
	wrap func(net.PacketConn) net.PacketConn
}

func (w wrappingGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	c, a, err := w.RelayAddressGenerator.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	return w.wrap(c), a, nil
}

// StartForTest starts a relay whose relayed connections are wrapped by
// wrap (nil: none). Tests use it to play a hostile relay.
func StartForTest(cfg Config, wrap func(net.PacketConn) net.PacketConn) (*Server, error) {
	cfg.wrap = wrap
	return Start(cfg)
}
