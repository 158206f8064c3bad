// Package state replicates a room's shared state: every member's updates
// form a signed, hash-chained log of operations, the state is the set of
// all authors' logs, and what members see (a last-writer-wins map, an
// add-wins set, counters, opaque application payloads and the chat
// history) is a deterministic function of that set, so members that hold
// the same ops show byte-identical state, whatever order the ops came in.
//
// A [Replica] holds one member's copy: [Open] keeps it in a crash-safe,
// append-only file in a directory the caller gives (the config
// directory), [New] in memory only. Its own updates are made with
// [Replica.Set], [Replica.Delete], [Replica.Add], [Replica.Remove],
// [Replica.Count], [Replica.App] and [Replica.Chat]; [Replica.View] is the
// merged state.
//
// Sync is a state machine without I/O: [Replica.NewPeer] for each
// neighbour, send what [Peer.Start] returns, feed every frame the
// neighbour sends to [Peer.Receive] and send what it returns, and call
// [Peer.Poll] when the replica took in new ops ([Config.OnOp]) to send the
// live updates. Each side says how far it holds every author's log (a
// state vector); the other sends exactly the ops that are missing, in
// batches bounded by a [Budget], acknowledged one by one so that a slow
// neighbour holds the sender back instead of its memory.
//
// The package knows nothing of sessions or the room: membership comes
// through the small [Membership] interface, and sync frames are bytes the
// caller carries.
//
// # Security
//
// Every op is signed by its author under [ContextOp] and names the room,
// its sequence number and the hash of the author's previous op. An op is
// taken in only after its room, its author's membership, its clock (at
// most [Config.MaxSkew] ahead), its signature and its place in the chain
// are checked; each refusal wraps a sentinel error and is counted against
// the neighbour that sent it ([Peer.Stats]). An author that signs two ops
// that cannot be on one chain has forked its log: both ops are kept as
// [Evidence] and passed on, and on every member the author's ops from the
// fork point on stop counting. A removed member's log ends where the
// room's creator cuts it off ([Replica.Cutoff]); no time the removed
// member claims gets an op past that point. SECURITY.md ("Replicated room
// state") has the formats byte by byte, the merge rules and the limits.
//
// Members are trusted with what they write, not with what others wrote:
// a member can write anything within the limits under its own name, but
// it cannot alter, forge, reorder or withhold undetectably another
// member's ops, nor make members disagree about what an author wrote.
package state
