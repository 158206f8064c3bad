package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sp2p/sp2p/invite"
)

// Token substitution: Mallory intercepts Alice's offer to Bob and hands
// Bob her own, relaying between two sessions of her own. Bob sees a
// fingerprint that is not Alice's; with Alice pinned (--expect), Bob
// refuses; without, both sessions open, but the safety codes Alice and Bob
// read to each other differ.
func TestTokenSubstitution(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, bob, mallory := testIdentity(t), testIdentity(t), testIdentity(t)

	aliceInv, err := Invite(ctx, alice, mem())
	if err != nil {
		t.Fatal(err)
	}
	defer aliceInv.Close()
	// Mallory accepts Alice's real offer herself...
	toAlice, err := Accept(ctx, mallory, aliceInv.Offer(), mem())
	if err != nil {
		t.Fatal(err)
	}
	defer toAlice.Close()
	// ...and gives Bob an offer of her own in its place.
	malInv, err := Invite(ctx, mallory, mem())
	if err != nil {
		t.Fatal(err)
	}
	defer malInv.Close()
	substituted, err := invite.ParseOffer(malInv.Token())
	if err != nil {
		t.Fatal(err)
	}
	if substituted.Inviter.Fingerprint() == alice.ID().Fingerprint() {
		t.Fatal("the substituted offer shows Alice's fingerprint")
	}
	// Bob, with Alice pinned, refuses it.
	pinned := mem()
	pinned.Expect = alice.ID()
	if _, err := Accept(ctx, bob, substituted, pinned); !errors.Is(err, invite.ErrUnexpectedPeer) {
		t.Fatalf("pinned Bob accepted Mallory's offer: %v", err)
	}
	// Bob without a pin goes ahead; Mallory completes both sides.
	bobAcc, err := Accept(ctx, bob, substituted, mem())
	if err != nil {
		t.Fatal(err)
	}
	defer bobAcc.Close()
	type res struct {
		s   *Session
		err error
	}
	wait := func(f func() (*Session, error)) chan res {
		ch := make(chan res, 1)
		go func() { s, err := f(); ch <- res{s, err} }()
		return ch
	}
	malAns, err := malInv.ReadAnswer(bobAcc.Token())
	if err != nil {
		t.Fatal(err)
	}
	aliceAns, err := aliceInv.ReadAnswer(toAlice.Token())
	if err != nil {
		t.Fatal(err)
	}
	bobS := wait(func() (*Session, error) { return bobAcc.Wait(ctx) })
	malFromAlice := wait(func() (*Session, error) { return toAlice.Wait(ctx) })
	malToBob, err := malInv.Connect(ctx, malAns)
	if err != nil {
		t.Fatal(err)
	}
	defer malToBob.Close()
	aliceS, err := aliceInv.Connect(ctx, aliceAns)
	if err != nil {
		t.Fatal(err)
	}
	defer aliceS.Close()
	b, m := <-bobS, <-malFromAlice
	if b.err != nil || m.err != nil {
		t.Fatal(b.err, m.err)
	}
	defer b.s.Close()
	defer m.s.Close()
	if aliceS.Peer() != mallory.ID() || b.s.Peer() != mallory.ID() {
		t.Fatal("the sessions do not name Mallory as the peer")
	}
	if aliceS.SafetyCode() == b.s.SafetyCode() {
		t.Fatal("Alice and Bob read the same safety code through a man in the middle")
	}
	t.Logf("Alice reads %s, Bob reads %s: they differ", aliceS.SafetyCode(), b.s.SafetyCode())
}
