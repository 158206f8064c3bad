package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// Config says which room a replica holds and for whom.
type Config struct {
	// Room is the room's 32-byte ID; every op carries it.
	Room [32]byte
	// Self signs this replica's own ops.
	Self *identity.Identity
	// Members answers who may write.
	Members Membership
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxSkew is how far ahead of Now an op's time may be (default
	// DefaultMaxSkew; inclusive, in milliseconds).
	MaxSkew time.Duration
	// History bounds the chat history the view shows and compaction keeps.
	History Retention
	// OnOp, if set, is called for every op the replica takes in (its own
	// and received ones), in the order they were taken, after the call
	// that took them returns its lock. It must not block for long.
	OnOp func(op *Op)
	// Logger gets warnings about forks and refused local files (default
	// slog.Default()).
	Logger *slog.Logger
}

// Retention bounds the chat history: messages older than Age or beyond
// the newest Messages are not shown and may be compacted. Zero values mean
// no bound.
type Retention struct {
	Age      time.Duration
	Messages int
}

// Replica is one member's copy of a room's state: every author's signed,
// hash-chained log, and the view computed from them. It is safe for
// concurrent use.
type Replica struct {
	mu           sync.Mutex
	cfg          Config
	logs         map[identity.ID]*authorLog
	pending      map[pendKey]*Op
	pendingBytes int
	pendingBy    map[identity.ID]int // pending ops per author
	clock        uint64              // the HLC: the largest taken in, own or received
	version      uint64              // grows on every change
	changed      []*Op               // taken in during the current call, for OnOp
	file         *logFile
	fileErr      error
	closed       bool
	loading      bool // reading the replica's own file: no checks that were made on receipt
	readOnly     bool
	viewCache    *View
	viewAt       uint64
	viewTime     int64
}

// New returns an empty replica that keeps its state in memory only.
func New(cfg Config) (*Replica, error) {
	if cfg.Self == nil || cfg.Members == nil {
		return nil, errors.New("state: a replica needs an identity and a membership")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Replica{cfg: cfg, logs: map[identity.ID]*authorLog{}, pending: map[pendKey]*Op{}}, nil
}

func (r *Replica) now() time.Time { return r.cfg.Now() }

// unlock releases the lock and tells OnOp what the call took in.
func (r *Replica) unlock() {
	changed := r.changed
	r.changed = nil
	r.mu.Unlock()
	if r.cfg.OnOp != nil {
		for _, op := range changed {
			r.cfg.OnOp(op)
		}
	}
}

// nextHLC returns a clock value above everything taken in so far and not
// below the physical time: max(last + 1, now_ms << 16).
func (r *Replica) nextHLC() uint64 {
	phys := uint64(r.now().UnixMilli()) << 16
	if r.clock+1 > phys {
		return r.clock + 1
	}
	return phys
}

// author makes, signs and takes in one of this replica's own ops. With
// persistence, the op is on disk (synced) before it is returned, so that
// a crash never makes the replica sign another op with the same sequence
// number.
func (r *Replica) author(kind Kind, key, value []byte) (*Op, error) {
	r.mu.Lock()
	defer r.unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.readOnly {
		return nil, ErrReadOnly
	}
	self := r.cfg.Self.ID()
	if !r.cfg.Members.IsMember(self) {
		return nil, fmt.Errorf("%w: %s", ErrNotMember, self)
	}
	l := r.logs[self]
	if l == nil {
		if len(r.logs) >= MaxAuthors {
			return nil, ErrTooManyAuthors
		}
		l = &authorLog{}
		r.logs[self] = l
	}
	if l.forkAt != 0 {
		return nil, fmt.Errorf("%w: this identity's own log (two replicas with one identity?)", ErrForked)
	}
	seq, prev := l.head()
	op, err := newOp(r.cfg.Self, r.cfg.Room, seq+1, prev, r.nextHLC(), kind, key, value)
	if err != nil {
		return nil, err
	}
	r.appendOp(l, op)
	if err := r.flush(); err != nil {
		// Not on disk: the op must never be sent, or a restart would sign
		// another with its sequence number. The file error sticks, so
		// this replica makes no more ops.
		l.truncate(uint64(len(l.ops) - 1))
		r.changed = r.changed[:len(r.changed)-1]
		r.version++
		return nil, err
	}
	return op, nil
}

// Set makes key hold value in the shared map.
func (r *Replica) Set(key string, value []byte) (*Op, error) {
	return r.author(KindSet, []byte(key), value)
}

// Delete removes key from the shared map.
func (r *Replica) Delete(key string) (*Op, error) { return r.author(KindDelete, []byte(key), nil) }

// Add adds elem to the shared set.
func (r *Replica) Add(elem string) (*Op, error) { return r.author(KindAdd, []byte(elem), nil) }

// Remove removes elem from the shared set: the adds of it this replica
// has seen. An add it has not seen (a concurrent one) survives. It
// returns ErrNotFound when elem is not in the set.
func (r *Replica) Remove(elem string) ([]*Op, error) {
	tags := r.View().setTags[elem]
	if len(tags) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, elem)
	}
	var ops []*Op
	for len(tags) > 0 {
		n := min(len(tags), MaxTags)
		v := make([]byte, 0, n*hashSize)
		for _, t := range tags[:n] {
			v = append(v, t[:]...)
		}
		op, err := r.author(KindRemove, []byte(elem), v)
		if err != nil {
			return ops, err
		}
		ops = append(ops, op)
		tags = tags[n:]
	}
	return ops, nil
}

// Count adds delta to the named counter.
func (r *Replica) Count(name string, delta int64) (*Op, error) {
	return r.author(KindCount, []byte(name), binary.BigEndian.AppendUint64(nil, uint64(delta)))
}

// App appends an opaque application payload on channel: authenticated,
// ordered per author and replicated, but not interpreted.
func (r *Replica) App(channel string, payload []byte) (*Op, error) {
	return r.author(KindApp, []byte(channel), payload)
}

// Chat appends a message to the chat history.
func (r *Replica) Chat(text string) (*Op, error) { return r.author(KindChat, nil, []byte(text)) }

// Cutoff ends author's log at what this replica holds of it: every member
// then takes and counts the author's ops up to that point and refuses
// later ones, whatever time they claim. Only the room's creator may cut
// off, and it should, for every identity it removes (see [Replica.CutoffRemoved]).
func (r *Replica) Cutoff(author identity.ID) (*Op, error) {
	if self := r.cfg.Self.ID(); self != r.cfg.Members.Creator() || author == self {
		return nil, ErrNotCreator
	}
	r.mu.Lock()
	var seq uint64
	var h Hash
	if l := r.logs[author]; l != nil {
		seq, h = l.head()
	}
	r.mu.Unlock()
	v := binary.BigEndian.AppendUint64(nil, seq)
	return r.author(KindCutoff, author[:], append(v, h[:]...))
}

// CutoffRemoved makes a cutoff for every author this replica holds a log
// of who is no longer a member and has none yet. The creator calls it
// after every removal; for others it does nothing.
func (r *Replica) CutoffRemoved() ([]*Op, error) {
	if r.cfg.Self.ID() != r.cfg.Members.Creator() {
		return nil, nil
	}
	r.mu.Lock()
	var todo []identity.ID
	for a, l := range r.logs {
		if l.cutoff == nil && !r.cfg.Members.IsMember(a) {
			todo = append(todo, a)
		}
	}
	r.mu.Unlock()
	sort.Slice(todo, func(i, j int) bool { return string(todo[i][:]) < string(todo[j][:]) })
	var ops []*Op
	for _, a := range todo {
		op, err := r.Cutoff(a)
		if err != nil {
			return ops, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Acknowledge records in this replica's own log how far it holds every
// author's log. Compaction waits until every current member acknowledged
// what it drops.
func (r *Replica) Acknowledge() (*Op, error) {
	vec := r.Vector()
	if len(vec) > MaxAckEntries {
		vec = vec[:MaxAckEntries]
	}
	v := make([]byte, 0, len(vec)*ackEntrySize)
	for _, e := range vec {
		v = append(v, e.Author[:]...)
		v = binary.BigEndian.AppendUint64(v, e.Seq)
	}
	return r.author(KindAck, nil, v)
}

// Evidence returns the fork evidence this replica holds, one per forked
// author, sorted by author.
func (r *Replica) Evidence() []Evidence {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Evidence
	for _, l := range r.logs {
		if l.evidence != nil {
			out = append(out, *l.evidence)
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].A.Author[:]) < string(out[j].A.Author[:]) })
	return out
}

// Entry is one author's place in a state vector.
type Entry struct {
	Author identity.ID
	Seq    uint64 // how many of its ops are held (the head's sequence number)
	Head   Hash   // the head's hash
}

// Vector returns how far this replica holds every author's log, sorted by
// author.
func (r *Replica) Vector() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vectorLocked()
}

func (r *Replica) vectorLocked() []Entry {
	out := make([]Entry, 0, len(r.logs))
	for a, l := range r.logs {
		seq, h := l.head()
		if seq > 0 {
			out = append(out, Entry{Author: a, Seq: seq, Head: h})
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Author[:]) < string(out[j].Author[:]) })
	return out
}

// Ops returns the number of ops the replica holds.
func (r *Replica) Ops() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.logs {
		n += len(l.ops)
	}
	return n
}

// Take checks ops (as received from a neighbour, in any order) and takes
// in those that are valid, as one batch (one sync to disk). It returns how
// many were new and the refusals, each wrapping one of the package's
// sentinel errors.
func (r *Replica) Take(ops []*Op) (int, []error) {
	n, res, ferr := r.take(ops)
	var errs []error
	for _, err := range res {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if ferr != nil {
		errs = append(errs, ferr)
	}
	return n, errs
}

// take is Take with one result per op (nil: taken, held or a duplicate)
// and the error of writing them to the state file.
func (r *Replica) take(ops []*Op) (int, []error, error) {
	r.mu.Lock()
	defer r.unlock()
	res := make([]error, len(ops))
	if r.closed {
		for i := range res {
			res[i] = ErrClosed
		}
		return 0, res, nil
	}
	n := 0
	now := r.now()
	sigs := r.verifyBatch(ops, now)
	for i, op := range ops {
		var sig *verdict
		if sigs != nil {
			sig = &sigs[i]
		}
		out, err := r.acceptVerified(op, now, sig)
		res[i] = err
		if err == nil && out == accepted {
			n++
		}
	}
	return n, res, r.flush()
}

// parallelVerify is the smallest batch whose signatures are checked on
// several cores at once.
const parallelVerify = 32

// verdict is a signature check made beforehand.
type verdict struct {
	done bool // checked (an op that failed the cheap checks was not)
	err  error
}

// verifyBatch checks, on up to GOMAXPROCS goroutines, the signatures of
// the ops of a large batch that pass the cheap checks, and returns the
// verdicts (nil for a small batch: each op is checked as it comes). It
// runs with r.mu held and changes nothing.
func (r *Replica) verifyBatch(ops []*Op, now time.Time) []verdict {
	workers := min(runtime.GOMAXPROCS(0), len(ops)/(parallelVerify/2))
	if len(ops) < parallelVerify || workers < 2 || r.loading {
		return nil
	}
	sigs := make([]verdict, len(ops))
	var todo []int
	for i, op := range ops {
		if _, _, done := r.cheap(op, now); !done {
			todo = append(todo, i)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < len(todo); j += workers {
				sigs[todo[j]] = verdict{done: true, err: ops[todo[j]].Verify()}
			}
		}()
	}
	wg.Wait()
	return sigs
}
