package room_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/room"
	"github.com/sp2p/sp2p/session"
)

// join admits newcomer through member; the two tokens would be pasted by
// people (or sent by any means), here they pass in memory.
func join(ctx context.Context, member *room.Room, newcomer *identity.Identity, opts room.Options) (*room.Room, error) {
	inv, err := member.Invite(ctx, room.InviteOptions{To: newcomer.ID()})
	if err != nil {
		return nil, err
	}
	defer inv.Close()
	offer, err := invite.ParseOffer(inv.Token()) // the newcomer reads the pasted offer
	if err != nil {
		return nil, err
	}
	j, err := room.Join(ctx, newcomer, offer, opts)
	if err != nil {
		return nil, err
	}
	answer, err := inv.ReadAnswer(j.Token()) // the member reads the pasted answer
	if err != nil {
		return nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- inv.Admit(ctx, answer) }()
	r, err := j.Wait(ctx)
	if err := <-errc; err != nil {
		return nil, err
	}
	return r, err
}

// A room of three: Alice creates it and admits Bob; Bob admits Carol, who
// then meets Alice by an in-band introduction through Bob. Alice's message
// reaches both.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	net := memlink.New(1, memlink.Faults{}) // pion in real use: leave Session.Link nil
	opts := room.Options{Session: session.Options{Link: net.Maker()}, Heartbeat: 100 * time.Millisecond}
	alice, _ := identity.Generate()
	bob, _ := identity.Generate()
	carol, _ := identity.Generate()

	ra, err := room.Create(alice, "book club", opts)
	if err != nil {
		panic(err)
	}
	defer ra.Close()
	rb, err := join(ctx, ra, bob, opts)
	if err != nil {
		panic(err)
	}
	defer rb.Close()
	rc, err := join(ctx, rb, carol, opts)
	if err != nil {
		panic(err)
	}
	defer rc.Close()
	for len(rc.Neighbours()) < 2 { // Carol is introduced to Alice in-band
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ra.Publish(ctx, []byte("first meeting on Friday")); err != nil {
		panic(err)
	}
	for _, r := range []*room.Room{rb, rc} {
		for {
			e, err := r.Next(ctx)
			if err != nil {
				panic(err)
			}
			if e.Kind == room.EventMessage {
				fmt.Printf("%s: %s (from the creator: %v)\n", r.Name(), e.Message.Data, e.Message.From == r.Creator())
				break
			}
		}
	}
	fmt.Println(len(rc.Members()), "members")
	// Output:
	// book club: first meeting on Friday (from the creator: true)
	// book club: first meeting on Friday (from the creator: true)
	// 3 members
}
