package room

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// savedMagic starts a saved room: the ASCII text sp2p-room, a zero byte
// and the format version 1.
var savedMagic = []byte("sp2p-room\x00\x01")

// MaxSaved bounds a saved room in bytes: the magic and one WELCOME frame.
const MaxSaved = MaxFrame + 11

// ErrBadSaved is returned by Open for bytes that are not a saved room.
var ErrBadSaved = errors.New("room: not a saved room")

// Save returns what Open needs to enter the room again in a later
// process: the room's description and its membership records, in the
// form of a WELCOME frame after a magic string (SECURITY.md, "Rooms"). It
// holds no secret: the records are signed, public to every member.
func (r *Room) Save() []byte {
	r.mu.Lock()
	recs := r.members.records()
	r.mu.Unlock()
	return append(bytes.Clone(savedMagic), welcomeFrame(&r.desc, recs)...)
}

// Saved is a saved room as read back, its records checked.
type Saved struct {
	ID      ID
	Name    string
	Creator identity.ID
	desc    descriptor
	m       *membership
}

// Members lists the members by the saved records.
func (s *Saved) Members() []identity.ID { return s.m.members() }

// IsMember reports whether the saved records make id a member.
func (s *Saved) IsMember(id identity.ID) bool { return s.m.isMember(id) }

// ParseSaved reads bytes made by Save and checks every record again, as
// if it came from a neighbour (signatures, rules, limits; a record made
// more than the default clock skew in the future is refused).
func ParseSaved(saved []byte) (*Saved, error) {
	o := Options{}.withDefaults()
	return parseSaved(saved, o.Now(), o.MaxSkew)
}

func parseSaved(saved []byte, now time.Time, skew time.Duration) (*Saved, error) {
	if len(saved) > MaxSaved {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadSaved, len(saved), MaxSaved)
	}
	if len(saved) < len(savedMagic) || !bytes.HasPrefix(saved, savedMagic[:len(savedMagic)-1]) {
		return nil, fmt.Errorf("%w: it does not start with the magic string", ErrBadSaved)
	}
	if v := saved[len(savedMagic)-1]; v != savedMagic[len(savedMagic)-1] {
		return nil, fmt.Errorf("%w: format version %d, this version reads only version %d", ErrBadSaved, v, savedMagic[len(savedMagic)-1])
	}
	f, err := decodeFrame(saved[len(savedMagic):])
	if err == nil && f.typ != frameWelcome {
		err = fmt.Errorf("%w: frame type %d", ErrMalformed, f.typ)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSaved, err)
	}
	d := f.desc
	m := newMembership(d.id(), d.creator, skew)
	for _, rec := range f.records {
		if _, err := m.add(rec, now); err != nil {
			if errors.Is(err, errFutureRecord) {
				// This machine's clock went back since the record was
				// taken in: leave it out (neighbours send it again).
				continue
			}
			return nil, fmt.Errorf("%w: %w", ErrBadSaved, err)
		}
	}
	return &Saved{ID: d.id(), Name: d.name, Creator: d.creator, desc: d, m: m}, nil
}

// Open enters a room saved by Save, with id as the member: a room with no
// neighbours yet, which Invite can let others into. Every record is
// checked again as by ParseSaved; id must still be a member by them
// (ErrRemoved if a removal names it, ErrNotMember if no chain admits it).
// Records the room learns later may still remove it.
func Open(id *identity.Identity, saved []byte, opts Options) (*Room, error) {
	opts = opts.withDefaults()
	s, err := parseSaved(saved, opts.Now(), opts.MaxSkew)
	if err != nil {
		return nil, err
	}
	switch {
	case s.m.isRemoved(id.ID()):
		return nil, ErrRemoved
	case !s.m.isMember(id.ID()):
		return nil, ErrNotMember
	}
	return newRoom(id, s.desc, s.m, opts), nil
}
