package room

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sp2p/sp2p/invite"
)

// reconnect has a invite b, which is in the room already, and b accept
// with Reconnect.
func reconnect(ctx context.Context, t *testing.T, a, b *Room) error {
	t.Helper()
	inv, err := a.Invite(ctx, InviteOptions{To: b.Self()})
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	offer, err := invite.ParseOffer(inv.Token())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.Reconnect(ctx, offer)
	if err != nil {
		return err
	}
	defer rc.Close()
	ans, err := inv.ReadAnswer(rc.Token())
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- inv.Admit(ctx, ans) }()
	err = rc.Wait(ctx)
	if aerr := <-errc; aerr != nil && err == nil {
		err = aerr
	}
	return err
}

// TestReconnect: two members whose only session ended meet again through
// an invitation, without a new room: what each admitted meanwhile reaches
// the other, and messages flow again. An invitation into another room is
// refused (ErrWrongRoom).
func TestReconnect(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 21)
	a := tn.create("apart")
	b := tn.join(ctx, a)
	// The only session between them ends (a partition, say).
	a.mu.Lock()
	for _, n := range a.neigh {
		n.s.Close()
	}
	a.mu.Unlock()
	eventually(t, 10*time.Second, "the two apart", func() bool { return len(a.Neighbours())+len(b.Neighbours()) == 0 })
	d := tn.join(ctx, a) // admitted while b is away
	if b.IsMember(d.Self()) {
		t.Fatal("b knows of d already")
	}

	if err := reconnect(ctx, t, a, b); err != nil {
		t.Fatal(err)
	}
	if !b.IsMember(d.Self()) {
		t.Fatal("the admission made while apart did not reach b")
	}
	if b.Self() != b.self.ID() || len(b.Neighbours()) == 0 {
		t.Fatal("no neighbour after the reconnection")
	}
	col := collect(b)
	defer col.stop()
	id, err := a.Publish(ctx, []byte("together again"))
	if err != nil {
		t.Fatal(err)
	}
	if err := col.waitAll(ctx, []*Room{b}, map[MessageID]*Room{id: a}); err != nil {
		t.Fatal(err)
	}

	other := tn.create("another room")
	if err := reconnect(ctx, t, other, b); !errors.Is(err, ErrWrongRoom) {
		t.Fatalf("an invitation into another room: %v, want ErrWrongRoom", err)
	}
}
