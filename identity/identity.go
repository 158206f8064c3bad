// Package identity holds sp2p's long-term identities: ed25519 key pairs, the
// public ID text form people paste and pin, fingerprints they compare, signing
// with domain separation, the identity file on disk and the known-peers store.
//
// Use [Generate] to create an identity, [Identity.Sign] and [ID.Verify] with
// one of the protocol's [Context] values to sign and verify, [Save] and
// [Load] for the identity file, and [OpenPeers] for known peers.
//
// # Security
//
// An [Identity] holds a private key. Keep it in memory only as long as
// needed; the identity file is encrypted with a passphrase unless the user
// explicitly asks otherwise. Fingerprints are for humans: programs compare
// IDs with [ID.Equal].
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
)

// Identity is a long-term ed25519 key pair.
type Identity struct {
	priv ed25519.PrivateKey
	id   ID
}

// Generate returns a new identity from crypto/rand.
func Generate() (*Identity, error) {
	return generateFrom(rand.Reader)
}

func generateFrom(r io.Reader) (*Identity, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("identity: reading randomness: %w", err)
	}
	defer clear(seed)
	return FromSeed(seed)
}

// FromSeed returns the identity whose ed25519 private key has the given
// 32-byte seed (RFC 8032). It is meant for test vectors and for loading keys;
// new identities come from [Generate].
func FromSeed(seed []byte) (*Identity, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("identity: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	var id ID
	copy(id[:], priv.Public().(ed25519.PublicKey))
	return &Identity{priv: priv, id: id}, nil
}

// ID returns the public ID.
func (i *Identity) ID() ID { return i.id }

// Sign signs msg under ctx (see [Context]).
func (i *Identity) Sign(ctx Context, msg []byte) []byte {
	return ed25519.Sign(i.priv, signedMessage(ctx, msg))
}

// seed returns a copy of the private seed; the caller clears it.
func (i *Identity) seed() []byte {
	return append([]byte(nil), i.priv.Seed()...)
}
