// Package invite implements sp2p's signed invitation tokens: the offer an
// inviter hands out and the answer that comes back, both carrying the
// compact connection description (candidates, including browsers' mDNS
// names, and the DTLS fingerprint; the ICE credentials and the invite id
// are derived from the token's ephemeral key, see [ICECredentials]) so that
// no signaling server is needed. An offer also says what it is for
// ([Purpose]).
//
// The inviter calls [NewOffer], shows [Offer.Text] (or [Offer.Link], or a QR
// code of the text), and records the offer in a [Pending]. The invitee calls
// [ParseOffer], then [Offer.Verify], then [NewAnswer]. The inviter calls
// [ParseAnswer] and [Pending.Accept], which accepts one answer per offer.
//
// # Security
//
// Tokens carry no secret: assume everyone sees them. Security rests on the
// signatures (every byte but the signature is signed, under a context that
// differs for offers and answers), the ephemeral keys that never leave the
// process, single use and expiry. Decoding is strict: one canonical
// encoding per token, explicit limits (see SECURITY.md), and an error that
// names what was wrong. A token whose signature does not verify is never
// returned.
package invite
