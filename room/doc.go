// Package room gathers many sp2p identities into a room: one invitation to
// join, then a partial mesh of sessions that the room forms by itself,
// origin-signed gossip over it, and scoring that keeps neighbours honest.
//
// # Joining
//
// The creator calls Create. Any member calls Room.Invite, which makes an
// ordinary session offer (optionally bound to one recipient); the newcomer
// parses it (invite.ParseOffer), calls Join and hands Joining.Token back;
// the member reads it with Invitation.ReadAnswer and calls
// Invitation.Admit, and the newcomer's Joining.Wait returns its Room. The
// room's ID, name and creator, and the newcomer's signed admission, travel
// in-band on the new session. After that nobody pastes anything: members
// ask their neighbours for introductions, and the neighbours relay
// recipient-bound, signed offer and answer tokens between the two (the
// mesh is its own signaling channel).
//
// # Membership
//
// Any member may admit a newcomer with an admission record it signs; the
// creator may remove a member with a removal record. Records are gossiped,
// and every member counts as members exactly the identities with a chain
// of admissions back to the creator on which nobody was removed. SECURITY.md
// ("Rooms") says what a malicious member can and cannot do.
//
// # Gossip
//
// Room.Publish signs a message (room ID, origin, sequence number, time,
// payload) and sends it to every neighbour; members forward what is new to
// their mesh neighbours, drop duplicates by the message's ID (its hash),
// and announce recent IDs (IHAVE) to neighbours outside the mesh, which
// fetch what they lack (IWANT). Room.Next returns the messages, each once,
// and membership and neighbour events.
//
// # Health
//
// Room.Neighbours gives each neighbour's RTT, bytes, score, mesh status,
// path type, the network path's loss (unanswered connectivity checks, from
// the link) and counters; Room.Stats counts what was dropped and why.
//
// The link under every session is Options.Session.Link: pion by default,
// an in-memory network (internal/memlink) in tests.
package room
