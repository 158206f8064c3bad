package state

import (
	"errors"

	"github.com/sp2p/sp2p/identity"
)

// Why an op was refused. Every refusal wraps one of these; [Peer.Stats]
// counts them per neighbour.
var (
	// ErrBadSignature: the op's signature does not verify.
	ErrBadSignature = errors.New("state: op signature does not verify")
	// ErrWrongRoom: the op names another room.
	ErrWrongRoom = errors.New("state: op of another room")
	// ErrNotMember: the author is not a member of the room.
	ErrNotMember = errors.New("state: author is not a member")
	// ErrRemoved: the author was removed and the op lies beyond its cutoff.
	ErrRemoved = errors.New("state: author was removed")
	// ErrFuture: the op's clock is more than the allowed skew ahead.
	ErrFuture = errors.New("state: op claims a time too far in the future")
	// ErrBrokenChain: the op does not continue its author's chain (its
	// clock does not grow).
	ErrBrokenChain = errors.New("state: op breaks its author's chain")
	// ErrForked: the author forked its log at or before this op's
	// sequence number; the op is not taken.
	ErrForked = errors.New("state: author forked its log")
	// ErrNotCreator: a cutoff op by someone other than the room's creator.
	ErrNotCreator = errors.New("state: only the room's creator may cut off an author")
	// ErrTooManyAuthors: the room's state holds MaxAuthors logs already.
	ErrTooManyAuthors = errors.New("state: too many authors")
	// ErrBadEvidence: a fork evidence frame does not prove a fork.
	ErrBadEvidence = errors.New("state: invalid fork evidence")
	// ErrNotFound: a set removal of an element that is not in the set.
	ErrNotFound = errors.New("state: no such element")
	// ErrClosed: the replica was closed.
	ErrClosed = errors.New("state: replica closed")
)

// Membership is what the state needs to know of the room's membership.
// The room implements it over its membership records; it must be safe for
// concurrent use, answer from memory (it is asked on every op, with the
// replica's lock held) and never call back into the replica.
type Membership interface {
	// IsMember reports whether id is a member of the room now.
	IsMember(id identity.ID) bool
	// Members lists the current members (compaction waits for every one
	// of them to acknowledge).
	Members() []identity.ID
	// Creator returns the room's creator, the only identity whose cutoff
	// ops count.
	Creator() identity.ID
}
