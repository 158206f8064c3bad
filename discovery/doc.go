// Package discovery finds peers on the local network without telling
// strangers who is there, and carries the signed offer and answer tokens
// between them, encrypted (SECURITY.md, "LAN discovery and short codes").
//
// A [Host] (the inviter, which holds an offer token) announces short
// beacons on a UDP multicast group while it waits. A beacon carries only a
// rotating tag: an HMAC, under a key only the invited party has, of the
// current epoch and a fresh random nonce. A [Find] (the invitee) listens,
// recognises the tag, and fetches the offer with a request that proves it
// holds the same key; the host replies with the offer sealed under keys
// derived from that key, and the answer comes back the same way.
//
// The key is either a pairwise secret that two known peers stored after a
// session between them ([PeerKey]), or, at first contact, a short code
// ([CodeKey]): then the two run CPace keyed by the code and every later
// message is sealed under keys from its result. One code allows one
// attempt.
//
// The package treats tokens as opaque bytes: the caller checks them
// exactly as tokens pasted by hand. It knows nothing of sessions or of
// the program that uses it.
package discovery

import "errors"

// Errors of discovery.
var (
	// ErrMulticastBlocked: no interface could join the multicast group,
	// sending to it was refused, or this host's own packet did not come
	// back within Config.CheckTimeout (a firewall drops multicast).
	ErrMulticastBlocked = errors.New("discovery: multicast is blocked on this network")
	// ErrUnsupported: this build has no LAN discovery (WebAssembly).
	ErrUnsupported = errors.New("discovery: not supported on this platform")
	// ErrMalformed: a packet that breaks the format.
	ErrMalformed = errors.New("discovery: malformed packet")
	// ErrWrongCode: the short code did not match the host's (key
	// confirmation failed); the code is used up.
	ErrWrongCode = errors.New("discovery: wrong code (it is used up now)")
	// ErrClosed: the Host or Exchange was closed.
	ErrClosed = errors.New("discovery: closed")
)
