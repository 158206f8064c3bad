//go:build !js

package session

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
)

// delayedNets puts two virtual hosts on a pion vnet LAN whose router
// delays every packet by delay plus up to jitter.
func delayedNets(t *testing.T, delay, jitter time.Duration) (*vnet.Net, *vnet.Net) {
	t.Helper()
	r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", MinDelay: delay, MaxJitter: jitter,
		LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	var nets [2]*vnet.Net
	for i, ip := range []string{"10.0.0.2", "10.0.0.3"} {
		if nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}}); err != nil {
			t.Fatal(err)
		}
		if err := r.AddNet(nets[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	return nets[0], nets[1]
}

// Over a link with 40 ms of delay each way and up to 10 ms of jitter (pion's
// virtual network), a session connects and a 2 MiB stream arrives intact.
func TestDelayedLinkIntact(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 MiB over an 80 ms round trip")
	}
	t.Parallel() // slow: with the other slow real-network tests (TestMain checks goroutines)
	na, nb := delayedNets(t, 40*time.Millisecond, 10*time.Millisecond)
	o, a := Options{UDP4Only: true, testNet: na}, Options{UDP4Only: true, testNet: nb}
	start := time.Now()
	p := connect(t, o, a)
	connected := time.Since(start)
	data := make([]byte, 2<<20)
	rand.Read(data)
	got, el := lossyStream(t, p, data)
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, not the %d sent", len(got), len(data))
	}
	t.Logf("80 ms round trip, 10 ms jitter: connected in %v; %d KiB in %v: %.0f KiB/s",
		connected.Round(time.Millisecond), len(data)>>10, el.Round(time.Millisecond), float64(len(data))/1024/el.Seconds())
}
