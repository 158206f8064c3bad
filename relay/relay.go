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
package relay

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// Config configures a relay. Realm defaults to "sp2p"; MaxAllocationsPerUser
// to 16.
type Config struct {
	// Listen is the UDP address to listen on, such as "0.0.0.0:3478".
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
	cfg  Config

	mu    sync.Mutex
	inUse map[string]int
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
	s := &Server{conn: conn, cfg: cfg, inUse: map[string]int{}}
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
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	return s, nil
}

// URL returns the value peers pass to --turn.
func (s *Server) URL() string {
	port := s.conn.LocalAddr().(*net.UDPAddr).Port
	return "turn:" + net.JoinHostPort(s.cfg.RelayIP.String(), strconv.Itoa(port)) + "?transport=udp"
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

// Close stops the relay.
func (s *Server) Close() error { return s.turn.Close() }

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
