// Package session connects two sp2p identities over a WebRTC data channel
// (pion) with no server in between, and gives them an end-to-end
// encrypted, authenticated, rate-limited channel.
//
// # Connecting
//
// The inviter calls [Invite], which gathers candidates and returns an
// [Invitation] whose [Invitation.Token] is the signed offer. The invitee
// parses it ([invite.ParseOffer]), shows who sent it, and calls [Accept],
// whose [Acceptance.Token] is the signed answer. The inviter checks the
// answer with [Invitation.ReadAnswer] (once per invitation), shows who
// answered, and calls [Invitation.Connect]; the invitee's
// [Acceptance.Wait] returns at the same time. Tokens travel by any means:
// they carry no secret. The answerer waits for the whole remaining lifetime
// of the invitation, because people paste answers slowly.
//
// Both sides then hold a [Session]: [Session.Send] and [Session.Receive]
// carry whole messages (up to 16 MiB by default), [Session.Conn] is a
// net.Conn byte stream with half close. [Session.SafetyCode] is the code two
// people read to each other to rule out substituted tokens on first
// contact. The caller must call [Session.Close]; the peer then sees a clean
// end (io.EOF from Receive, [ErrPeerClosed] from Err), distinct from a lost
// peer ([ErrPeerLost]).
//
// A [Group] manages sessions with several peers (send, broadcast,
// disconnect, events), sharing one rate limiter among them.
//
// # Security
//
// The handshake is the one in SECURITY.md: both tokens are signed, the
// DTLS fingerprints inside them are checked by pion when the connection
// comes up, and fresh X25519 keys (crypto/ecdh) plus the transcript of both
// tokens feed the record layer's key schedule (package seal). The session
// opens only after each side has proved it holds the keys (a key
// confirmation record each way). Every record is authenticated, checked
// against replay and age, and counted against the peer's budget before it
// is processed; a peer that keeps sending records that do not open is
// disconnected and refused for a cool-down.
//
// Only this package imports pion, and only in transport.go: the rest talks
// to a message transport with backpressure, so that another transport (a
// browser's own RTCPeerConnection) can be plugged in.
package session
