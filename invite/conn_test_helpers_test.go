package invite

import (
	"net/netip"
	"testing"
)

func netipAddrPort(ip string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), port)
}

func mdnsName(t testing.TB, s string) MDNSName {
	t.Helper()
	n, ok := ParseMDNSName(s)
	if !ok {
		t.Fatalf("%q is not an mDNS name", s)
	}
	return n
}
