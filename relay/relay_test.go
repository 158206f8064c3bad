package relay

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStartRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no relay IP": {Listen: "127.0.0.1:0", Users: map[string]string{"u": "p"}},
		"no users":    {Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1)},
		"empty ports": {Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), Users: map[string]string{"u": "p"}, MinPort: 50000, MaxPort: 40000},
	} {
		if s, err := Start(cfg); err == nil {
			s.Close()
			t.Errorf("%s: started", name)
		}
	}
}

// The relay serves UDP and TCP on one port, says so in its URLs, and
// closing it ends open TCP connections too.
func TestUDPAndTCPOnOnePort(t *testing.T) {
	t.Parallel()
	s, err := Start(Config{Listen: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), Users: map[string]string{"u": "p"}})
	if err != nil {
		t.Fatal(err)
	}
	port := s.conn.LocalAddr().(*net.UDPAddr).Port
	udp, tcp := s.URL(), s.TCPURL()
	if !strings.HasSuffix(udp, "?transport=udp") || !strings.HasSuffix(tcp, "?transport=tcp") ||
		strings.TrimSuffix(udp, "?transport=udp") != strings.TrimSuffix(tcp, "?transport=tcp") {
		t.Fatalf("URLs %q and %q", udp, tcp)
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("no TCP on the UDP port: %v", err)
	}
	defer c.Close()
	// Wait until the relay has accepted the connection, then close it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.tcp)
		s.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay did not accept the TCP connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after Close: %v, want EOF", err)
	}
}
