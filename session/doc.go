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
// [Acceptance.Wait] returns at the same time. An inviter that will not
// connect (its user declined the answerer, or it stopped) calls
// [Invitation.Refuse] instead, and the invitee's Wait returns
// [ErrRefused] or [ErrPeerGaveUp] at once rather than at the expiry. Tokens travel by any means:
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
// # Resumption
//
// A session outlives its link ([Options.ResumeWindow], 3 minutes by
// default). When the link fails, the heartbeat hears nothing, or the
// machine's address on the path goes away, the session moves: sends wait
// (as long as their context allows), both sides make a new link to where
// they predict the other is (the link anchor keeps each side's
// certificate and sockets for the whole session), and a resume handshake
// under the session's resume secret gives it new keys; then each side
// sends again what the other did not take, so nothing is lost or
// repeated. [Options.OnNetwork] hears [NetworkMoving] and
// [NetworkResumed]; [Options.OnResumed] gets the time it took and the new
// path. When neither side can find the other (both changed networks),
// [Session.ResumeToken] and [Session.UseResumeToken] let a person carry
// the new addresses across. The browser build does not resume.
//
// # Links
//
// The handshake runs over a link (package link): something that produces
// this side's connection description for the token, applies the peer's,
// and opens a message channel with backpressure. Nothing above the link
// knows which one it has. The default is pion: on the host's network
// (link_pion.go and tune.go, the only files of sp2p that use pion's native
// build), or, built for GOOS=js, the browser's own RTCPeerConnection
// through pion's browser build (link_js.go). [Options.Link] plugs in
// another, such as the in-memory network the tests use.
package session
