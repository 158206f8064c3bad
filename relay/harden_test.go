package relay

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

func testRelay(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.RelayIP == nil {
		cfg.RelayIP = net.IPv4(127, 0, 0, 1)
	}
	if cfg.Users == nil {
		cfg.Users = map[string]string{"u": "p"}
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quietLogs() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f
}

// newClient returns a TURN client of s over conn (UDP, or a TCP connection
// wrapped by turn.NewSTUNConn).
func newClient(t *testing.T, s *Server, conn net.PacketConn) *turn.Client {
	t.Helper()
	addr := s.conn.LocalAddr().String()
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: "u", Password: "p", Realm: s.cfg.Realm, LoggerFactory: quietLogs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func udpClient(t *testing.T, s *Server) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return newClient(t, s, conn)
}

func dialTCP(t *testing.T, s *Server, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp4", s.conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tcpClient(t *testing.T, s *Server, from string) *turn.Client {
	t.Helper()
	return newClient(t, s, turn.NewSTUNConn(dialTCP(t, s, from)))
}

// udpService listens on addr and reports what arrives.
func udpService(t *testing.T, addr string) (*net.UDPAddr, <-chan string) {
	t.Helper()
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	got := make(chan string, 16)
	go func() {
		b := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(b)
			if err != nil {
				return
			}
			got <- string(b[:n])
		}
	}()
	return c.LocalAddr().(*net.UDPAddr), got
}

// arrives writes msg through the allocation a few times and reports
// whether it reached the service.
func arrives(rc net.PacketConn, to net.Addr, got <-chan string, msg string) bool {
	for range 5 {
		rc.WriteTo([]byte(msg), to)
		select {
		case m := <-got:
			if m == msg {
				return true
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every refused range, the IPv4-mapped, NAT64 and 6to4 forms that embed
// one, and the relay host's own addresses are refused; public addresses
// are permitted; AllowPeers opens a range.
func TestPeerPolicy(t *testing.T) {
	t.Parallel()
	p := newPeerPolicy(nil, net.IPv4(192, 0, 2, 10))
	refused := []string{
		"127.0.0.1", "127.1.2.3", "0.0.0.0", "0.1.2.3", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254", "224.0.0.1", "239.255.255.250",
		"255.255.255.255", "240.0.0.1", "192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1", "198.19.255.1",
		"192.0.0.1", "::", "::1", "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
		"64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:0a00:0001::",
		"fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "2001:db8::1", "2001::1", "100::1",
	}
	for _, s := range refused {
		if p.permit(nil, net.ParseIP(s)) {
			t.Errorf("%s is permitted", s)
		}
		if p.sendTo(&net.UDPAddr{IP: net.ParseIP(s), Port: 53}) {
			t.Errorf("a packet to %s would be sent", s)
		}
	}
	for _, o := range p.own {
		if p.permit(nil, o.AsSlice()) {
			t.Errorf("the relay host's own address %s is permitted", o)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:0808:0808::1", "64:ff9b::808:808", "::ffff:8.8.8.8"} {
		if !p.permit(nil, net.ParseIP(s)) || !p.sendTo(&net.UDPAddr{IP: net.ParseIP(s), Port: 53}) {
			t.Errorf("%s is refused", s)
		}
	}
	// The relay's own public address: permitted, but packets only to its
	// live allocation ports.
	if !p.permit(nil, net.IPv4(192, 0, 2, 10)) || p.sendTo(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 22}) {
		t.Error("the relay address: want permission, and no packet to a port that is not an allocation")
	}
	p.addPort(50000, 1)
	if !p.sendTo(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 50000}) {
		t.Error("a packet to another allocation on the relay is refused")
	}
	open := newPeerPolicy([]netip.Prefix{netip.MustParsePrefix("10.77.0.0/16")}, net.IPv4(192, 0, 2, 10))
	if !open.permit(nil, net.ParseIP("10.77.1.2")) || open.permit(nil, net.ParseIP("10.78.1.2")) {
		t.Error("AllowPeers 10.77.0.0/16 does not open exactly that range")
	}
}

func TestParsePeerRange(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"10.0.0.0/8": "10.0.0.0/8", "10.1.2.3/8": "10.0.0.0/8", "127.0.0.1": "127.0.0.1/32", "fd00::/8": "fd00::/8", "::ffff:10.0.0.1": "10.0.0.1/32"} {
		if p, err := ParsePeerRange(in); err != nil || p.String() != want {
			t.Errorf("%q: %v %v, want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/33", "ten", "10.0.0.0/8/8"} {
		if _, err := ParsePeerRange(in); !errors.Is(err, ErrBadPeerRange) {
			t.Errorf("%q: %v, want ErrBadPeerRange", in, err)
		}
	}
}

// A service on the relay's loopback is not reachable through the relay by
// default: a permission for another loopback address is refused, and
// packets to the relay's own address reach only its allocations, not a
// service there. Two allocations on the relay still reach each other. With
// AllowPeers 127.0.0.0/8 both services are reached.
func TestRelayRefusesLoopbackPeers(t *testing.T) {
	t.Parallel()
	svc1, got1 := udpService(t, "127.0.0.1:0") // the relay's own address
	svc2, got2 := udpService(t, "127.0.0.2:0")

	s := testRelay(t, Config{})
	rc, err := udpClient(t, s).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	c2 := udpClient(t, s)
	rc2, err := c2.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	if err := c2.CreatePermission(svc2); err == nil {
		t.Error("CreatePermission to 127.0.0.2 was granted")
	}
	if arrives(rc, svc2, got2, "to 127.0.0.2") {
		t.Error("a packet reached a service on 127.0.0.2")
	}
	if arrives(rc, svc1, got1, "to 127.0.0.1") {
		t.Error("a packet reached a service on the relay's own address")
	}
	// Relay to relay on the same server works by default.
	peerGot := make(chan string, 16)
	go func() {
		b := make([]byte, 1500)
		for {
			n, _, err := rc2.ReadFrom(b)
			if err != nil {
				return
			}
			peerGot <- string(b[:n])
		}
	}()
	rc2.WriteTo([]byte("open"), rc.LocalAddr()) // permission for rc's address
	if !arrives(rc, rc2.LocalAddr(), peerGot, "relay to relay") {
		t.Error("an allocation cannot reach another allocation on the same relay")
	}

	open := testRelay(t, Config{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	orc, err := udpClient(t, open).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer orc.Close()
	if !arrives(orc, svc2, got2, "allowed 127.0.0.2") || !arrives(orc, svc1, got1, "allowed 127.0.0.1") {
		t.Error("with AllowPeers 127.0.0.0/8, the loopback services are not reached")
	}
}

// A TCP allocation (RFC 6062, REQUESTED-TRANSPORT TCP) is refused over
// either transport, and nothing is allocated.
func TestRelayRefusesTCPAllocation(t *testing.T) {
	t.Parallel()
	s := testRelay(t, Config{})
	for name, c := range map[string]*turn.Client{"UDP": udpClient(t, s), "TCP": tcpClient(t, s, "127.0.0.1")} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a, err := c.AllocateTCPWithContext(ctx)
		cancel()
		if err == nil {
			a.Close()
			t.Errorf("a TCP allocation over %s was granted", name)
		}
	}
	if n := len(s.Allocations()); n != 0 {
		t.Errorf("%d allocations after refused TCP allocations", n)
	}
}

// A flood of idle TCP connections from one source takes at most
// MaxTCPPerSource of the relay's TCP connections, and a TURN-over-TCP
// client from elsewhere still gets its allocation.
func TestRelayTCPFloodFromOneSource(t *testing.T) {
	t.Parallel()
	s := testRelay(t, Config{MaxTCPConnections: 32, MaxTCPPerSource: 16, TCPAuthTimeout: time.Minute})
	for range 100 {
		dialTCP(t, s, "127.0.0.2")
	}
	count := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.tcp)
	}
	waitUntil(t, "the flood to be accepted", func() bool { return count() >= 16 })
	time.Sleep(200 * time.Millisecond) // let any further accepts happen
	if n := count(); n > 16 {
		t.Errorf("%d connections from one source held, want at most 16", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := tcpClient(t, s, "127.0.0.1").AllocateWithContext(ctx)
	if err != nil {
		t.Fatalf("a legitimate TCP client during the flood: %v", err)
	}
	rc.Close()
}

// A TCP connection that makes no authenticated allocation within
// TCPAuthTimeout is closed, silent or sending unauthenticated requests;
// one that allocated stays open past it, and is closed after
// TCPIdleTimeout of silence.
func TestRelayTCPTimeouts(t *testing.T) {
	t.Parallel()
	s := testRelay(t, Config{TCPAuthTimeout: 300 * time.Millisecond, TCPIdleTimeout: 3 * time.Second})
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1500))
		for err == nil {
			_, err = c.Read(make([]byte, 1500))
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	silent := dialTCP(t, s, "127.0.0.1")
	talker := dialTCP(t, s, "127.0.0.1")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				talker.Write(unauthAllocate(true))
			}
		}
	}()
	if !closed(silent) {
		t.Error("a silent unauthenticated TCP connection stayed open")
	}
	if !closed(talker) {
		t.Error("a TCP connection sending only unauthenticated requests stayed open")
	}

	conn := dialTCP(t, s, "127.0.0.1")
	c := newClient(t, s, turn.NewSTUNConn(conn))
	rc, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	time.Sleep(time.Second) // past TCPAuthTimeout, within TCPIdleTimeout
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
		t.Fatalf("an authenticated TCP connection after the handshake timeout: %v", err)
	}
	waitUntil(t, "the idle connection to be closed", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.tcp) == 0
	})
	waitUntil(t, "its allocation to go", func() bool { return len(s.Allocations()) == 0 })
}

// Racing allocation requests never exceed the per-user quota: 50 TCP
// clients (each served by its own goroutine in pion/turn) allocate at
// once, 20 times over, with relayed sockets made slowly (as on a loaded
// host) so that a check that is not atomic with the allocation is seen.
func TestRelayQuotaIsAtomic(t *testing.T) {
	t.Parallel()
	const limit, clients, rounds = 4, 50, 20
	s := testRelay(t, Config{MaxAllocationsPerUser: limit, MaxTCPPerSource: clients, slowSocket: 20 * time.Millisecond})
	for round := range rounds {
		var granted atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		var mu sync.Mutex
		var open []net.PacketConn
		var conns []net.Conn
		for range clients {
			conn := dialTCP(t, s, "127.0.0.1")
			conns = append(conns, conn)
			c := newClient(t, s, turn.NewSTUNConn(conn))
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if rc, err := c.AllocateWithContext(ctx); err == nil {
					granted.Add(1)
					mu.Lock()
					open = append(open, rc)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if g, n := granted.Load(), s.Allocations()["u"]; g > limit || n > limit || g == 0 {
			t.Fatalf("round %d: %d allocations granted, %d counted, limit %d", round, g, n, limit)
		}
		for _, c := range conns {
			c.Close()
		}
		waitUntil(t, "the allocations to close", func() bool { return len(s.Allocations()) == 0 })
	}
}

// stunMsg builds a STUN message of the given type with attributes
// (type, value) and, when fingerprint is set, a (dummy) FINGERPRINT.
func stunMsg(typ uint16, attrs ...[]byte) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, typ)
	binary.BigEndian.PutUint32(b[4:], stunMagicCookie)
	copy(b[8:], "0123456789ab")
	for _, a := range attrs {
		b = append(b, a...)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)-20))
	return b
}

func attr(typ uint16, v []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return append(b, make([]byte, (4-len(v)%4)%4)...)
}

// unauthAllocate is an unauthenticated Allocate request for a UDP
// allocation: 28 bytes, or 36 with FINGERPRINT (as pion's client sends).
func unauthAllocate(fingerprint bool) []byte {
	attrs := [][]byte{attr(attrRequestedTransp, []byte{17, 0, 0, 0})}
	if fingerprint {
		attrs = append(attrs, attr(0x8028, []byte{0, 0, 0, 0}))
	}
	return stunMsg(0x0003, attrs...)
}

// MaxUnauthReplyFactor is the largest reply-to-request size ratio for an
// unauthenticated request with the default realm: a 68-byte 401 to a
// 28-byte Allocate (SECURITY.md).
const maxUnauthReplyFactor = 68.0 / 28.0

// Unauthenticated requests over UDP get a reply of at most 68 bytes (a
// 401 with only ERROR-CODE without a reason phrase, NONCE and REALM "sp2p")
// to a request of at least 28 bytes; other unauthenticated requests get no
// reply at all.
func TestUnauthenticatedReplySize(t *testing.T) {
	t.Parallel()
	s := testRelay(t, Config{})
	c, err := net.DialUDP("udp4", nil, s.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reply := func(req []byte) []byte {
		c.Write(req)
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		b := make([]byte, 1500)
		n, err := c.Read(b)
		if err != nil {
			return nil
		}
		return b[:n]
	}
	for _, req := range [][]byte{unauthAllocate(false), unauthAllocate(true)} {
		r := reply(req)
		class, method, attrs, _, ok := stunMessage(r)
		if !ok || class != classErrorResponse || method != methodAllocate || len(attrs[0x0009]) != 4 || attrs[0x0009][3] != 1 {
			t.Fatalf("reply to a %d-byte Allocate: %x, want a 401 with no reason phrase", len(req), r)
		}
		f := float64(len(r)) / float64(len(req))
		t.Logf("unauthenticated Allocate: %d-byte request, %d-byte reply (factor %.2f)", len(req), len(r), f)
		if len(r) > 68 || f > maxUnauthReplyFactor {
			t.Errorf("a %d-byte request got a %d-byte reply (factor %.2f), want at most 68 bytes, factor %.2f", len(req), len(r), f, maxUnauthReplyFactor)
		}
	}
	if r := reply(stunMsg(0x0001)); len(r) == 0 || len(r) > 40 {
		t.Errorf("Binding: a 20-byte request got %d bytes, want 1 to 40", len(r))
	}
	for name, req := range map[string][]byte{
		"Allocate without REQUESTED-TRANSPORT": stunMsg(0x0003),
		"Refresh":                              stunMsg(0x0004),
		"CreatePermission":                     stunMsg(0x0008, attr(0x0012, []byte{0, 1, 0, 0, 1, 2, 3, 4})),
		"ChannelBind":                          stunMsg(0x0009),
		"Connect":                              stunMsg(0x000a),
		"an unknown method":                    stunMsg(0x0033),
	} {
		if r := reply(req); r != nil {
			t.Errorf("unauthenticated %s (%d bytes) got a %d-byte reply, want none", name, len(req), len(r))
		}
	}
}

// Replies to unauthenticated requests are rate-limited per address: a
// burst of 200 requests from one address gets at most UnauthReplyBurst
// replies plus what the rate refills meanwhile.
func TestUnauthenticatedRepliesRateLimited(t *testing.T) {
	t.Parallel()
	s := testRelay(t, Config{})
	c, err := net.DialUDP("udp4", nil, s.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	var replies atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 1500)
		for {
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(b); err != nil {
				return
			}
			replies.Add(1)
		}
	}()
	for range 200 {
		c.Write(unauthAllocate(true))
	}
	<-done
	el := time.Since(start).Seconds()
	limit := UnauthReplyBurst + int(el*UnauthRepliesPerSecond) + 1
	t.Logf("200 unauthenticated requests: %d replies in %.2fs (limit %d)", replies.Load(), el, limit)
	if n := int(replies.Load()); n == 0 || n > limit {
		t.Fatalf("%d replies, want 1 to %d", n, limit)
	}
}

// Per-source limits count an IPv6 source by its /64: one host with a /64
// cannot take every slot by changing its low 64 bits.
func TestSourceKeyAggregatesIPv6(t *testing.T) {
	t.Parallel()
	a := sourceKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := sourceKey(netip.MustParseAddr("2001:db8:1:2:bbbb::2"))
	c := sourceKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Fatalf("keys %v %v %v: want the /64 2001:db8:1:2:: for the first two only", a, b, c)
	}
	if k := sourceKey(netip.MustParseAddr("::ffff:192.0.2.7")); k != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("IPv4-mapped: %v", k)
	}
	if k := sourceKey(netip.MustParseAddr("192.0.2.7")); k != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("IPv4: %v", k)
	}
}
