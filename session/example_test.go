package session_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// Two identities connect in one process over loopback: the inviter makes an
// offer token, the invitee answers it, the inviter applies the answer, and
// both get an open, end-to-end encrypted session. In real use the two
// tokens travel between people by chat, mail or QR code.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, _ := identity.Generate()
	bob, _ := identity.Generate()
	opts := session.Options{LoopbackOnly: true}

	// Alice invites.
	inv, err := session.Invite(ctx, alice, opts)
	if err != nil {
		log.Fatal(err)
	}
	offerText := inv.Token() // "SP2P:…", sent to Bob

	// Bob verifies the offer and answers.
	offer, err := invite.ParseOffer(offerText)
	if err != nil {
		log.Fatal(err)
	}
	acc, err := session.Accept(ctx, bob, offer, opts)
	if err != nil {
		log.Fatal(err)
	}
	answerText := acc.Token() // sent back to Alice
	bobSession := make(chan *session.Session)
	go func() {
		s, err := acc.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		bobSession <- s
	}()

	// Alice checks the answer and connects.
	answer, err := inv.ReadAnswer(answerText)
	if err != nil {
		log.Fatal(err)
	}
	a, err := inv.Connect(ctx, answer)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b := <-bobSession
	defer b.Close()

	fmt.Println("Alice talks to Bob:", a.Peer() == bob.ID())
	fmt.Println("same safety code:", a.SafetyCode() == b.SafetyCode())
	a.Send(ctx, []byte("hello Bob"))
	m, _ := b.Receive(ctx)
	fmt.Println("Bob received:", string(m))
	b.Send(ctx, []byte("hello Alice"))
	m, _ = a.Receive(ctx)
	fmt.Println("Alice received:", string(m))
	// Output:
	// Alice talks to Bob: true
	// same safety code: true
	// Bob received: hello Bob
	// Alice received: hello Alice
}
