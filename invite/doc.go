// Package invite implements sp2p's signed invitation tokens: the offer an
// inviter hands out and the answer that comes back, both carrying the
// compact connection description (ICE credentials, candidates, the DTLS
// fingerprint) so that no signaling server is needed.
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
