package relay

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// rawTURN is a TURN client written out message by message, to send what
// pion's client would not (a ChannelBind or a Send indication to a peer
// without asking for a permission first).
type rawTURN struct {
	t     *testing.T
	conn  *net.UDPConn
	nonce stun.Nonce
	realm stun.Realm
}

type setter func(*stun.Message) error

func (f setter) AddTo(m *stun.Message) error { return f(m) }

func peerAddr(a *net.UDPAddr) stun.Setter {
	return setter(func(m *stun.Message) error {
		return stun.XORMappedAddress{IP: a.IP, Port: a.Port}.AddToAs(m, stun.AttrXORPeerAddress)
	})
}

func (r *rawTURN) do(typ stun.MessageType, attrs ...stun.Setter) *stun.Message {
	r.t.Helper()
	all := append([]stun.Setter{stun.TransactionID, typ}, attrs...)
	if r.nonce != nil {
		all = append(all, stun.NewUsername("u"), r.realm, r.nonce, stun.NewLongTermIntegrity("u", r.realm.String(), "p"))
	}
	m, err := stun.Build(append(all, stun.Fingerprint)...)
	if err != nil {
		r.t.Fatal(err)
	}
	if typ.Class == stun.ClassIndication {
		r.conn.Write(m.Raw)
		return nil
	}
	for range 5 {
		r.conn.Write(m.Raw)
		r.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		b := make([]byte, 1500)
		n, err := r.conn.Read(b)
		if err != nil {
			continue
		}
		res := &stun.Message{Raw: b[:n]}
		if res.Decode() == nil && res.TransactionID == m.TransactionID {
			return res
		}
	}
	r.t.Fatalf("no reply to %v", typ)
	return nil
}

// allocate makes an authenticated UDP allocation.
func rawAllocate(t *testing.T, s *Server) *rawTURN {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, s.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawTURN{t: t, conn: c}
	udp := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	res := r.do(stun.NewType(stun.MethodAllocate, stun.ClassRequest), udp)
	if err := r.nonce.GetFrom(res); err != nil {
		t.Fatalf("no nonce: %v", err)
	}
	r.realm.GetFrom(res)
	if res = r.do(stun.NewType(stun.MethodAllocate, stun.ClassRequest), udp); res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("Allocate: %v", res)
	}
	return r
}

// ChannelBind and Send indications to a loopback service are refused and
// never reach it, even sent without a CreatePermission first; with
// AllowPeers they do.
func TestRelayRefusesChannelBindAndSend(t *testing.T) {
	t.Parallel()
	svc, got := udpService(t, "127.0.0.2:0")
	for _, open := range []bool{false, true} {
		cfg := Config{}
		if open {
			cfg.AllowPeers = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		}
		r := rawAllocate(t, testRelay(t, cfg))
		ch := stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0x00, 0, 0}}
		res := r.do(stun.NewType(stun.MethodChannelBind, stun.ClassRequest), ch, peerAddr(svc))
		if ok := res.Type.Class == stun.ClassSuccessResponse; ok != open {
			t.Errorf("AllowPeers %v: ChannelBind to %v: %v", open, svc, res)
		}
		// ChannelData on that channel, and a Send indication.
		r.conn.Write(append([]byte{0x40, 0x00, 0, 4}, "chan"...))
		r.do(stun.NewType(stun.MethodSend, stun.ClassIndication), peerAddr(svc), stun.RawAttribute{Type: stun.AttrData, Value: []byte("send")})
		var arrived []string
		timeout := time.After(time.Second)
	wait:
		for {
			select {
			case m := <-got:
				arrived = append(arrived, m)
				if len(arrived) == 2 {
					break wait
				}
			case <-timeout:
				break wait
			}
		}
		if open && len(arrived) != 2 || !open && len(arrived) != 0 {
			t.Errorf("AllowPeers %v: %q arrived", open, arrived)
		}
	}
}
