//go:build linux

package discovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"
)

func testConfig() Config {
	c := Config{Port: DefaultPort, Epoch: time.Second, CheckTimeout: 2 * time.Second}
	if os.Getenv("SP2P_TEST_DEBUG") != "" {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return c
}

func secret(t *testing.T) []byte {
	b := make([]byte, SecretSize)
	rand.Read(b)
	return b
}

// Two known peers find each other: the offer arrives, the answer goes
// back, both exactly.
func TestKnownPeersFindEachOther(t *testing.T) {
	if !inNetns(t, multicastLo) {
		return
	}
	s := secret(t)
	kh, _ := PeerKey(s)
	ks, _ := PeerKey(s)
	offer := bytes.Repeat([]byte{0xA5}, MaxToken)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := NewHost(ctx, testConfig(), HostParams{Offer: offer, Keys: []Key{kh}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ex, err := Find(ctx, testConfig(), ks)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if !bytes.Equal(ex.Offer, offer) {
		t.Fatal("the offer differs")
	}
	answer := []byte("the answer token")
	if err := ex.SendAnswer(ctx, answer); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-h.Answers():
		if !bytes.Equal(got, answer) {
			t.Fatalf("answer %q", got)
		}
	case <-ctx.Done():
		t.Fatal("no answer")
	}
}

// A seeker with another secret finds nothing, and the host gets nothing.
func TestOtherSecretFindsNothing(t *testing.T) {
	if !inNetns(t, multicastLo) {
		return
	}
	kh, _ := PeerKey(secret(t))
	ks, _ := PeerKey(secret(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("offer"), Keys: []Key{kh}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fctx, fcancel := context.WithTimeout(ctx, 4*time.Second)
	defer fcancel()
	if ex, err := Find(fctx, testConfig(), ks); !errors.Is(err, context.DeadlineExceeded) {
		if ex != nil {
			ex.Close()
		}
		t.Fatalf("Find with another secret: %v, want the deadline", err)
	}
}

// Without an interface that can multicast, both sides say so at once.
func TestNoMulticastInterface(t *testing.T) {
	if !inNetns(t, "") {
		return
	}
	k, _ := PeerKey(secret(t))
	ctx := context.Background()
	if _, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("o"), Keys: []Key{k}}); !errors.Is(err, ErrMulticastBlocked) {
		t.Fatalf("NewHost: %v", err)
	}
	if _, err := Find(ctx, testConfig(), k); !errors.Is(err, ErrMulticastBlocked) {
		t.Fatalf("Find: %v", err)
	}
}

// Multicast dropped by the firewall: both sides say so within the check
// timeout.
func TestMulticastDroppedByFirewall(t *testing.T) {
	if !inNetns(t, multicastLo+"\nnft add table ip t && nft add chain ip t in '{ type filter hook input priority 0; }' && nft add rule ip t in ip daddr 224.0.0.0/4 drop") {
		return
	}
	k, _ := PeerKey(secret(t))
	ctx := context.Background()
	began := time.Now()
	if _, err := NewHost(ctx, testConfig(), HostParams{Offer: []byte("o"), Keys: []Key{k}}); !errors.Is(err, ErrMulticastBlocked) {
		t.Fatalf("NewHost: %v", err)
	}
	if _, err := Find(ctx, testConfig(), k); !errors.Is(err, ErrMulticastBlocked) {
		t.Fatalf("Find: %v", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}
