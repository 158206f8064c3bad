// Package seal is sp2p's record layer: the key schedule that turns an X25519
// shared secret and the handshake transcript into per-direction keys, a
// session id and a safety code; XChaCha20-Poly1305 records with sequence
// numbers, a replay window and timestamp checks; fragmentation and
// reassembly of large messages; and forward rekeying.
//
// Use [DeriveKeys] once per session, then [New] for the [Sealer] (sending)
// and [Opener] (receiving) halves. [Sealer.SealMessage] and [Reassembler]
// carry messages larger than one record.
//
// # Security
//
// Open checks everything it reads and rejects a record that fails any
// check without changing state (except counters): replay is judged only
// after a record authenticates. All authentication failures return the same
// [ErrAuth]. The record layout and the key schedule are specified in
// SECURITY.md, with test vectors in testdata/.
//
// The record layer knows nothing of transports: the caller moves each
// record as one message of a message-oriented transport.
package seal
