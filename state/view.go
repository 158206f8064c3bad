package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"sort"

	"github.com/sp2p/sp2p/identity"
)

// View is the materialised state: a deterministic function of the set of
// ops every author's log holds (up to forks and cutoffs), of the current
// membership and, for the chat history's age bound, of the time. Two
// replicas that hold the same ops show byte-identical views (see
// [View.Encode]).
type View struct {
	// Map is the last-writer-wins map: per key, the Set or Delete with the
	// greatest (HLC, author, hash) wins; a winning Delete removes the key.
	Map map[string]MapEntry
	// Set is the add-wins set's elements, sorted.
	Set []string
	// Counters are the sums of every author's increments (wrapping, as
	// int64 addition in two's complement).
	Counters map[string]int64
	// App is every application payload, in (HLC, author, hash) order.
	App []Message
	// History is the chat history, in (HLC, author, hash) order, within
	// the retention.
	History []Message

	setTags map[string][]Hash // live add tags per element
}

// MapEntry is a map value and the op that set it.
type MapEntry struct {
	Value  []byte
	Author identity.ID
	HLC    uint64
	Op     Hash
}

// Message is a chat message or an application payload.
type Message struct {
	Author  identity.ID
	Seq     uint64
	HLC     uint64
	Channel string // the application channel (App only)
	Body    []byte
	Op      Hash
}

// less orders ops by (HLC, author, hash): the total order of every merge
// rule.
func less(a, b *Op) bool {
	if a.HLC != b.HLC {
		return a.HLC < b.HLC
	}
	if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.hash[:], b.hash[:]) < 0
}

// counted calls f for every op that counts: of authors that are members,
// or were cut off, below any fork and up to any cutoff.
func (r *Replica) counted(f func(*Op)) {
	for a, l := range r.logs {
		if l.cutoff == nil && !r.cfg.Members.IsMember(a) {
			continue
		}
		lim := l.limit()
		for _, op := range l.ops {
			if op.Seq > lim {
				break
			}
			f(op)
		}
	}
}

// View returns the current materialised state. The result is shared:
// callers must not modify it.
func (r *Replica) View() *View {
	r.mu.Lock()
	defer r.mu.Unlock()
	nowMs := r.now().UnixMilli()
	if r.viewCache != nil && r.viewAt == r.version && (r.cfg.History.Age == 0 || r.viewTime == nowMs) {
		return r.viewCache
	}
	v := r.materialise(nowMs)
	r.viewCache, r.viewAt, r.viewTime = v, r.version, nowMs
	return v
}

func (r *Replica) materialise(nowMs int64) *View {
	winners := map[string]*Op{}
	adds := map[string][]*Op{}
	removedFor := map[string]map[Hash]bool{}
	v := &View{Map: map[string]MapEntry{}, Counters: map[string]int64{}, setTags: map[string][]Hash{}}
	var app, chat []*Op
	r.counted(func(op *Op) {
		switch op.Kind {
		case KindSet, KindDelete:
			k := string(op.Key)
			if w := winners[k]; w == nil || less(w, op) {
				winners[k] = op
			}
		case KindAdd:
			adds[string(op.Key)] = append(adds[string(op.Key)], op)
		case KindRemove:
			m := removedFor[string(op.Key)]
			if m == nil {
				m = map[Hash]bool{}
				removedFor[string(op.Key)] = m
			}
			for i := 0; i < len(op.Value); i += hashSize {
				m[Hash(op.Value[i:i+hashSize])] = true
			}
		case KindCount:
			v.Counters[string(op.Key)] += op.delta()
		case KindApp:
			app = append(app, op)
		case KindChat:
			chat = append(chat, op)
		}
	})
	for k, w := range winners {
		if w.Kind == KindSet {
			v.Map[k] = MapEntry{Value: w.Value, Author: w.Author, HLC: w.HLC, Op: w.hash}
		}
	}
	for elem, ops := range adds {
		var live []Hash
		for _, op := range ops {
			if !removedFor[elem][op.hash] {
				live = append(live, op.hash)
			}
		}
		if len(live) > 0 {
			sort.Slice(live, func(i, j int) bool { return bytes.Compare(live[i][:], live[j][:]) < 0 })
			v.Set = append(v.Set, elem)
			v.setTags[elem] = live
		}
	}
	sort.Strings(v.Set)
	sort.Slice(app, func(i, j int) bool { return less(app[i], app[j]) })
	sort.Slice(chat, func(i, j int) bool { return less(chat[i], chat[j]) })
	for _, op := range app {
		v.App = append(v.App, message(op))
	}
	chat = retained(chat, r.cfg.History, nowMs)
	for _, op := range chat {
		v.History = append(v.History, message(op))
	}
	return v
}

// retained returns the part of the sorted chat history within the
// retention: the newest Messages, none older than Age, none pruned.
func retained(chat []*Op, h Retention, nowMs int64) []*Op {
	if h.Messages > 0 && len(chat) > h.Messages {
		chat = chat[len(chat)-h.Messages:]
	}
	if h.Age > 0 {
		oldest := nowMs - h.Age.Milliseconds()
		i := sort.Search(len(chat), func(i int) bool { return chat[i].Millis() >= oldest })
		chat = chat[i:]
	}
	out := chat[:0:0]
	for _, op := range chat {
		if !op.Pruned {
			out = append(out, op)
		}
	}
	return out
}

func message(op *Op) Message {
	m := Message{Author: op.Author, Seq: op.Seq, HLC: op.HLC, Body: op.Value, Op: op.hash}
	if op.Kind == KindApp {
		m.Channel = string(op.Key)
	}
	return m
}

// Get returns the map's value for key.
func (v *View) Get(key string) ([]byte, bool) {
	e, ok := v.Map[key]
	return e.Value, ok
}

// Encode returns a canonical encoding of the view: equal views, and only
// equal views, encode to equal bytes. Sections in order — map, set,
// counters, app payloads, history — each a count then its items, keys
// sorted, every variable field length-prefixed.
func (v *View) Encode() []byte {
	var b []byte
	u32 := func(n int) { b = binary.BigEndian.AppendUint32(b, uint32(n)) }
	bs := func(x []byte) { u32(len(x)); b = append(b, x...) }
	keys := make([]string, 0, len(v.Map))
	for k := range v.Map {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	u32(len(keys))
	for _, k := range keys {
		e := v.Map[k]
		bs([]byte(k))
		bs(e.Value)
		b = append(b, e.Op[:]...)
	}
	u32(len(v.Set))
	for _, s := range v.Set {
		bs([]byte(s))
	}
	keys = keys[:0]
	for k := range v.Counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	u32(len(keys))
	for _, k := range keys {
		bs([]byte(k))
		b = binary.BigEndian.AppendUint64(b, uint64(v.Counters[k]))
	}
	for _, list := range [][]Message{v.App, v.History} {
		u32(len(list))
		for _, m := range list {
			b = append(b, m.Op[:]...)
			bs([]byte(m.Channel))
			bs(m.Body)
		}
	}
	return b
}

// Digest returns SHA-256 of [View.Encode].
func (v *View) Digest() [32]byte { return sha256.Sum256(v.Encode()) }
