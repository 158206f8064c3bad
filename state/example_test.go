package state_test

import (
	"fmt"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/state"
)

// twoMembers is a Membership of a fixed room: the room implements it over
// its membership records.
type twoMembers struct{ creator, other identity.ID }

func (m twoMembers) IsMember(id identity.ID) bool { return id == m.creator || id == m.other }
func (m twoMembers) Members() []identity.ID       { return []identity.ID{m.creator, m.other} }
func (m twoMembers) Creator() identity.ID         { return m.creator }

// Two members edit the shared map and chat while apart, then sync: each
// sends the other exactly what it is missing, and both show the same state.
func Example() {
	alice, _ := identity.Generate()
	bob, _ := identity.Generate()
	mem := twoMembers{alice.ID(), bob.ID()}
	room := [32]byte{1}
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	a, _ := state.New(state.Config{Room: room, Self: alice, Members: mem, Now: now})
	b, _ := state.New(state.Config{Room: room, Self: bob, Members: mem, Now: now})

	a.Set("topic", []byte("release planning"))
	a.Chat("I'll draft the notes")
	b.Chat("back in ten minutes")
	b.Count("votes", 1)

	// Carry the frames between the two peers (in a room, over sessions).
	pa, pb := a.NewPeer(bob.ID(), state.Budget{}), b.NewPeer(alice.ID(), state.Budget{})
	toA, toB := pb.Start(), pa.Start()
	for len(toA)+len(toB) > 0 {
		var nextA, nextB [][]byte
		for _, f := range toB {
			out, _ := pb.Receive(f)
			nextA = append(nextA, out...)
		}
		for _, f := range toA {
			out, _ := pa.Receive(f)
			nextB = append(nextB, out...)
		}
		toA, toB = nextA, nextB
	}

	topic, _ := b.View().Get("topic")
	fmt.Printf("bob sees the topic %q, %d messages and %d vote\n", topic, len(b.View().History), b.View().Counters["votes"])
	fmt.Println("same state:", a.View().Digest() == b.View().Digest())
	// Output:
	// bob sees the topic "release planning", 2 messages and 1 vote
	// same state: true
}
