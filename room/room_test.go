package room

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// testNet is a room's members on one in-memory network.
type testNet struct {
	t    testing.TB
	net  *memlink.Network
	opts Options
	pion bool // real pion on loopback instead of the in-memory link
}

func newTestNet(t testing.TB, seed uint64) *testNet {
	return &testNet{t: t, net: memlink.New(seed, memlink.Faults{}), opts: Options{
		Heartbeat: 100 * time.Millisecond,
		Mesh:      MeshParams{PruneBackoff: 2 * time.Second},
	}}
}

func (tn *testNet) options() Options {
	o := tn.opts
	if os.Getenv("ROOM_DEBUG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o.Session = tn.sessionOptions()
	return o
}

func (tn *testNet) sessionOptions() session.Options {
	if tn.pion {
		return session.Options{LoopbackOnly: true, UDP4Only: true}
	}
	return session.Options{Link: tn.net.Maker()}
}

func newID(t testing.TB) *identity.Identity {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (tn *testNet) create(name string) *Room {
	r, err := Create(newID(tn.t), name, tn.options())
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.t.Cleanup(func() { r.Close() })
	return r
}

// join makes a new identity and has admitter admit it, passing the tokens
// as text.
func (tn *testNet) join(ctx context.Context, admitter *Room) *Room {
	tn.t.Helper()
	r, err := joinWith(ctx, admitter, newID(tn.t), tn.options())
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.t.Cleanup(func() { r.Close() })
	return r
}

func joinWith(ctx context.Context, admitter *Room, id *identity.Identity, opts Options) (*Room, error) {
	inv, err := admitter.Invite(ctx, InviteOptions{To: id.ID()})
	if err != nil {
		return nil, err
	}
	defer inv.Close()
	offer, err := invite.ParseOffer(inv.Token())
	if err != nil {
		return nil, err
	}
	j, err := Join(ctx, id, offer, opts)
	if err != nil {
		return nil, err
	}
	a, err := inv.ReadAnswer(j.Token())
	if err != nil {
		j.Close()
		return nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- inv.Admit(ctx, a) }()
	r, err := j.Wait(ctx)
	if aerr := <-errc; aerr != nil && err == nil {
		r.Close()
		err = aerr
	}
	return r, err
}

// collector reads every room's events and counts deliveries.
type collector struct {
	ctx   context.Context
	mu    sync.Mutex
	got   map[*Room]map[MessageID]int
	from  map[MessageID]identity.ID
	wg    sync.WaitGroup
	stopc context.CancelFunc
}

func collect(rooms ...*Room) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{ctx: ctx, got: map[*Room]map[MessageID]int{}, from: map[MessageID]identity.ID{}, stopc: cancel}
	for _, r := range rooms {
		c.add(r)
	}
	return c
}

func (c *collector) add(r *Room) {
	ctx := c.ctx
	c.mu.Lock()
	c.got[r] = map[MessageID]int{}
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			e, err := r.Next(ctx)
			if err != nil {
				return
			}
			if e.Kind == EventMessage {
				c.mu.Lock()
				c.got[r][e.Message.ID]++
				c.from[e.Message.ID] = e.Message.From
				c.mu.Unlock()
			}
		}
	}()
}

func (c *collector) stop() { c.stopc(); c.wg.Wait() }

func (c *collector) count(r *Room, id MessageID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[r][id]
}

// waitAll waits until every room in rooms got every message in ids
// (those published by itself excepted); it reports what is missing.
func (c *collector) waitAll(ctx context.Context, rooms []*Room, ids map[MessageID]*Room) error {
	for {
		missing := 0
		var example string
		c.mu.Lock()
		for _, r := range rooms {
			for id, origin := range ids {
				if origin != r && c.got[r][id] == 0 {
					missing++
					example = fmt.Sprintf("message %v from %v at %v", id, origin.self.ID().Fingerprint(), r.self.ID().Fingerprint())
				}
			}
		}
		c.mu.Unlock()
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d deliveries missing, for example %s", missing, example)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exactlyOnce checks that no room got a message twice.
func (c *collector) exactlyOnce(t testing.TB) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for r, m := range c.got {
		for id, n := range m {
			if n != 1 {
				t.Errorf("%v got %v %d times", r.self.ID().Fingerprint(), id, n)
			}
		}
	}
}

// settle waits until every room has at least low mesh neighbours (or as
// many as there are other members).
func settle(ctx context.Context, rooms []*Room, low int) error {
	want := min(low, len(rooms)-1)
	for {
		bad := 0
		for _, r := range rooms {
			if meshDegree(r) < want {
				bad++
			}
		}
		if bad == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var desc string
			for _, r := range rooms {
				desc += "\n" + describe(r)
			}
			return fmt.Errorf("%d members below %d mesh neighbours%s", bad, want, desc)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// describe says who r's neighbours are: fingerprint/in the mesh/in
// backoff/score/broken promises.
func describe(r *Room) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	desc := fmt.Sprintf("%v: mesh %d, neighbours %d, intros %d, accepts %d:", r.self.ID().Fingerprint()[:5], r.meshCount(), len(r.neigh), len(r.intros), r.accepts)
	for _, n := range r.neigh {
		desc += fmt.Sprintf(" %v/%v/%v/%.1f/%d", n.id.Fingerprint()[:5], n.mesh, r.inBackoff(n.id), r.scoreOf(n.id).value(&r.opts.Score), n.counters.BrokenPromises)
	}
	return desc
}

func meshDegree(r *Room) int {
	d := 0
	for _, n := range r.Neighbours() {
		if n.Mesh {
			d++
		}
	}
	return d
}

// connected reports whether the neighbour graph of rooms is connected.
func connected(rooms []*Room) bool {
	byID := map[identity.ID]*Room{}
	for _, r := range rooms {
		byID[r.self.ID()] = r
	}
	seen := map[*Room]bool{rooms[0]: true}
	queue := []*Room{rooms[0]}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		for _, n := range r.Neighbours() {
			if o, ok := byID[n.ID]; ok && !seen[o] {
				seen[o] = true
				queue = append(queue, o)
			}
		}
	}
	return len(seen) == len(rooms)
}

func TestThreeMembers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 1)
	a := tn.create("three")
	b := tn.join(ctx, a)
	c := tn.join(ctx, b)
	rooms := []*Room{a, b, c}
	for _, r := range rooms {
		if r.ID() != a.ID() || r.Name() != "three" || r.Creator() != a.self.ID() {
			t.Fatalf("room %v %q, want %v", r.ID(), r.Name(), a.ID())
		}
	}
	if err := settle(ctx, rooms, 2); err != nil {
		t.Fatal(err)
	}
	col := collect(rooms...)
	defer col.stop()
	ids := map[MessageID]*Room{}
	for _, r := range rooms {
		id, err := r.Publish(ctx, []byte("hello from "+r.self.ID().Fingerprint()))
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = r
	}
	if err := col.waitAll(ctx, rooms, ids); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	col.exactlyOnce(t)
	for _, r := range rooms {
		if got := len(r.Members()); got != 3 {
			t.Errorf("%d members, want 3", got)
		}
		for _, n := range r.Neighbours() {
			if n.Path != PathDirect {
				t.Errorf("path %v", n.Path)
			}
		}
	}
}

var _ = rand.IntN

// buildRoom makes a room of n members, each joining through a random
// member that is already in.
func buildRoom(ctx context.Context, t testing.TB, tn *testNet, n int, seed uint64) []*Room {
	rng := rand.New(rand.NewPCG(seed, 1))
	rooms := []*Room{tn.create("big")}
	for len(rooms) < n {
		rooms = append(rooms, tn.join(ctx, rooms[rng.IntN(len(rooms))]))
	}
	return rooms
}

// everyoneOnce has every room publish rounds messages and checks that
// every other room gets each exactly once.
func everyoneOnce(ctx context.Context, t testing.TB, col *collector, rooms []*Room, rounds int) map[MessageID]*Room {
	t.Helper()
	ids := map[MessageID]*Room{}
	for round := 0; round < rounds; round++ {
		for _, r := range rooms {
			id, err := r.Publish(ctx, fmt.Appendf(nil, "message %d", round))
			if err != nil {
				t.Fatal(err)
			}
			ids[id] = r
		}
	}
	if err := col.waitAll(ctx, rooms, ids); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	col.exactlyOnce(t)
	return ids
}

// checkDegrees checks that every member's mesh degree is within p's
// bounds (Low only where the room has more than Low other members), that
// no member has more than MaxNeighbours, and that the neighbour graph is
// connected. A snapshot can catch a member just after several neighbours
// pruned it at once (each back to its Target) and before its heartbeat
// grafts others, so a member below Low has up to 10 s (five prune
// backoffs of the tests) to get back; the upper bounds and connectivity
// are checked on the sample where every member is at Low or more.
func checkDegrees(t testing.TB, rooms []*Room, p MeshParams) {
	t.Helper()
	var low []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		low = low[:0]
		for _, r := range rooms {
			if d := meshDegree(r); len(rooms) > p.Low && d < p.Low {
				low = append(low, fmt.Sprintf("%v has %d mesh neighbours, want %d to %d\n%s",
					r.self.ID().Fingerprint(), d, p.Low, p.High, describe(r)))
			}
		}
		if len(low) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, b := range low {
		t.Error(b)
	}
	for _, r := range rooms {
		if d := meshDegree(r); d > p.High {
			t.Errorf("%v has %d mesh neighbours, want %d to %d\n%s", r.self.ID().Fingerprint(), d, p.Low, p.High, describe(r))
		}
		if nb := len(r.Neighbours()); nb > p.MaxNeighbours {
			t.Errorf("%v has %d neighbours, at most %d", r.self.ID().Fingerprint(), nb, p.MaxNeighbours)
		}
	}
	if !connected(rooms) {
		t.Error("the mesh is not connected")
	}
}

// TestLargeRoom: 32 members joining in a random order, each through one
// exchange with one member; the mesh forms by in-band introductions,
// stays within its degree bounds and connected, and every message
// reaches every member exactly once.
func TestLargeRoom(t *testing.T) {
	n := 32
	if testing.Short() {
		n = 12
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	tn := newTestNet(t, 2)
	rooms := buildRoom(ctx, t, tn, n, 2)
	if err := settle(ctx, rooms, 4); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	p := DefaultMesh()
	checkDegrees(t, rooms, p)
	for _, r := range rooms {
		if got := len(r.Members()); got != n {
			t.Fatalf("%v knows %d members, want %d", r.self.ID().Fingerprint(), got, n)
		}
	}
	col := collect(rooms...)
	defer col.stop()
	ids := everyoneOnce(ctx, t, col, rooms, 2)
	checkDegrees(t, rooms, p)
	var dups, fwd uint64
	for _, r := range rooms {
		st := r.Stats()
		dups += st.Duplicates
		fwd += st.Forwarded
	}
	t.Logf("%d members, %d messages: %d forwards, %d duplicates", n, len(ids), fwd, dups)
}

// TestChurn: members leave and join while the others publish; every
// message of the members that stay reaches every one of them exactly
// once, the newcomers get the messages published after they joined, and
// the mesh recovers within its bounds.
func TestChurn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTestNet(t, 10)
	rooms := buildRoom(ctx, t, tn, 16, 10)
	if err := settle(ctx, rooms, 4); err != nil {
		t.Fatal(err)
	}
	stable, leavers := rooms[:12], rooms[12:]
	col := collect(rooms...)
	defer col.stop()

	var mu sync.Mutex
	ids := map[MessageID]*Room{}
	late := map[*Room]map[MessageID]bool{} // newcomer → messages published after it joined
	var joined []*Room
	stop := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				pubDone <- nil
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, r := range stable {
				id, err := r.Publish(ctx, []byte("during churn"))
				if err != nil {
					pubDone <- err
					return
				}
				mu.Lock()
				ids[id] = r
				for _, j := range joined {
					late[j][id] = true
				}
				mu.Unlock()
			}
		}
	}()
	rng := rand.New(rand.NewPCG(10, 2))
	for i := 0; i < 4; i++ {
		time.Sleep(400 * time.Millisecond)
		leavers[i].Close()
		time.Sleep(400 * time.Millisecond)
		j := tn.join(ctx, stable[rng.IntN(len(stable))])
		col.add(j)
		mu.Lock()
		joined = append(joined, j)
		late[j] = map[MessageID]bool{}
		mu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if err := col.waitAll(ctx, stable, ids); err != nil {
		t.Fatal(err)
	}
	for j, want := range late {
		sub := map[MessageID]*Room{}
		for id := range want {
			sub[id] = ids[id]
		}
		if err := col.waitAll(ctx, []*Room{j}, sub); err != nil {
			t.Errorf("a newcomer: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	col.exactlyOnce(t)
	present := append(append([]*Room{}, stable...), joined...)
	if err := settle(ctx, present, 4); err != nil {
		t.Fatal(err)
	}
	checkDegrees(t, present, DefaultMesh())
	t.Logf("%d messages during churn", len(ids))
}

// TestHealth: each neighbour's RTT, bytes, score, path and counters are
// visible in the API.
func TestHealth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 13)
	opts := tn.options()
	opts.Session.HeartbeatTimeout = 900 * time.Millisecond // a ping every 300 ms
	a, err := Create(newID(t), "health", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := joinWith(ctx, a, newID(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	col := collect(a, b)
	defer col.stop()
	for i := 0; i < 3; i++ {
		if _, err := a.Publish(ctx, []byte("ping")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "an RTT and the deliveries", func() bool {
		ns := b.Neighbours()
		return len(ns) == 1 && ns[0].RTT > 0 && ns[0].FirstDeliveries == 3
	})
	n := b.Neighbours()[0]
	if n.ID != a.self.ID() || !n.Mesh || n.Path != PathDirect || n.BytesReceived == 0 || n.BytesSent == 0 || n.Score <= 0 || n.Since.IsZero() {
		t.Fatalf("neighbour %+v", n)
	}
	if n.LossKnown || n.ChecksSent != 0 {
		t.Fatalf("a path loss on the in-memory link, which has no network path: %+v", n)
	}
	if st := b.Stats(); st.Delivered != 3 || a.Stats().Published != 3 {
		t.Fatalf("stats %+v / %+v", st, a.Stats())
	}
}

// TestFaultyNetwork: on a network with delay, jitter and loss (resent
// late, as SCTP does), a room still forms and delivers every message
// exactly once. (Duplication and reordering below the record layer are
// left out: with both, a session's key confirmation now and then fails,
// which is the session layer's matter, not the room's.)
func TestFaultyNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("a heavier variant")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tn := newTestNet(t, 14)
	tn.net = memlink.New(14, memlink.Faults{
		Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond,
		Loss: 0.02, RetransmitDelay: 50 * time.Millisecond,
	})
	rooms := buildRoom(ctx, t, tn, 12, 14)
	if err := settle(ctx, rooms, 4); err != nil {
		t.Fatal(err)
	}
	col := collect(rooms...)
	defer col.stop()
	everyoneOnce(ctx, t, col, rooms, 3)
	checkDegrees(t, rooms, DefaultMesh())
}
