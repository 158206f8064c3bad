package room

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// Errors of membership.
var (
	ErrBadName      = errors.New("room: bad room name")
	ErrNotCreator   = errors.New("room: only the room's creator may remove members")
	ErrNotMember    = errors.New("room: not a member of the room")
	ErrRemoved      = errors.New("room: the member was removed from the room")
	ErrBadRecord    = errors.New("room: invalid membership record")
	ErrRoomFull     = errors.New("room: too many membership records")
	ErrNotAdmitted  = errors.New("room: the inviter did not admit this identity")
	ErrWrongRoom    = errors.New("room: the peer is in another room")
	ErrCreatorFixed = errors.New("room: the creator cannot be removed")
)

// errFutureRecord is a record made later than now plus the skew.
var errFutureRecord = errors.New("made in the future")

type recordKey struct {
	signer, subject identity.ID
}

// membership holds a room's records and who they make a member. A member
// is the creator, or the subject of an admission signed by a member, where
// nobody on that chain was removed. Removal is permanent, and it removes
// with the removed member everyone whose only chain of admissions passes
// through it.
type membership struct {
	room    ID
	creator identity.ID
	skew    time.Duration

	admits  map[recordKey]record
	removes map[identity.ID]record
	valid   map[identity.ID]bool
}

func newMembership(room ID, creator identity.ID, skew time.Duration) *membership {
	m := &membership{
		room: room, creator: creator, skew: skew,
		admits:  map[recordKey]record{},
		removes: map[identity.ID]record{},
	}
	m.recompute()
	return m
}

func (m *membership) isMember(id identity.ID) bool { return m.valid[id] }

func (m *membership) isRemoved(id identity.ID) bool {
	_, ok := m.removes[id]
	return ok
}

// add checks a record and takes it in. It reports whether anything
// changed; an error means the record is invalid (ErrBadRecord, or
// ErrRoomFull when the room holds too many records to take another).
func (m *membership) add(rec record, now time.Time) (bool, error) {
	if rec.room != m.room {
		return false, fmt.Errorf("%w: for another room", ErrBadRecord)
	}
	if rec.signer.IsZero() || rec.subject.IsZero() || rec.signer == rec.subject {
		return false, fmt.Errorf("%w: signer and subject must be two identities", ErrBadRecord)
	}
	if time.UnixMilli(rec.time).After(now.Add(m.skew)) {
		return false, fmt.Errorf("%w: %w", ErrBadRecord, errFutureRecord)
	}
	switch rec.kind {
	case recordAdmit:
		if _, ok := m.admits[recordKey{rec.signer, rec.subject}]; ok {
			return false, nil
		}
		if m.isRemoved(rec.signer) || m.isRemoved(rec.subject) || rec.subject == m.creator {
			return false, nil // can never count: not an error, not kept
		}
	case recordRemove:
		if rec.signer != m.creator {
			return false, fmt.Errorf("%w: %w", ErrBadRecord, ErrNotCreator)
		}
		if rec.subject == m.creator {
			return false, fmt.Errorf("%w: %w", ErrBadRecord, ErrCreatorFixed)
		}
		if m.isRemoved(rec.subject) {
			return false, nil
		}
	default:
		return false, fmt.Errorf("%w: kind %d", ErrBadRecord, rec.kind)
	}
	if len(m.admits)+len(m.removes) >= MaxRecords {
		return false, ErrRoomFull
	}
	if err := rec.verify(); err != nil {
		return false, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if rec.kind == recordAdmit {
		m.admits[recordKey{rec.signer, rec.subject}] = rec
	} else {
		m.removes[rec.subject] = rec
		// Admissions by or of the removed member can never count again.
		for k := range m.admits {
			if k.signer == rec.subject || k.subject == rec.subject {
				delete(m.admits, k)
			}
		}
	}
	m.recompute()
	return true, nil
}

// recompute finds the members: the closure of the admissions from the
// creator.
func (m *membership) recompute() {
	valid := map[identity.ID]bool{m.creator: true}
	for changed := true; changed; {
		changed = false
		for k := range m.admits {
			if valid[k.signer] && !valid[k.subject] && !m.isRemoved(k.subject) {
				valid[k.subject] = true
				changed = true
			}
		}
	}
	m.valid = valid
}

// records lists every record, removals first (so that a receiver never
// counts an admission that a removal it has not read yet cancels).
func (m *membership) records() []record {
	recs := make([]record, 0, len(m.admits)+len(m.removes))
	for _, r := range m.removes {
		recs = append(recs, r)
	}
	for _, r := range m.admits {
		recs = append(recs, r)
	}
	// In a fixed order (removals first, then by signer and subject), so
	// that the same records always encode to the same bytes.
	slices.SortFunc(recs, func(a, b record) int {
		if a.kind != b.kind {
			return cmp.Compare(b.kind, a.kind) // recordRemove (2) before recordAdmit (1)
		}
		if c := bytes.Compare(a.signer[:], b.signer[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.subject[:], b.subject[:])
	})
	return recs
}

func (m *membership) members() []identity.ID {
	ids := make([]identity.ID, 0, len(m.valid))
	for id := range m.valid {
		ids = append(ids, id)
	}
	return ids
}
