package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Context names what a signature is for. Every signature in the protocol is
// made over the context, a zero byte, then the message, so a signature made
// for one purpose never verifies for another. Contexts are fixed, versioned
// strings without zero bytes; the protocol's contexts are the constants
// below, and SECURITY.md lists them.
type Context string

// Signing contexts of token format version 2 (version 1 signed under
// "sp2p v1 offer" and "sp2p v1 answer"; its tokens are no longer read).
const (
	// ContextOffer signs an invitation (offer) token.
	ContextOffer Context = "sp2p v2 offer"
	// ContextAnswer signs an answer token.
	ContextAnswer Context = "sp2p v2 answer"
)

// ErrBadSignature is returned when a signature does not verify. It says
// nothing about why.
var ErrBadSignature = errors.New("identity: bad signature")

// signedMessage returns context || 0x00 || msg. It panics on a context that
// is empty or contains a zero byte: that is a programming error.
func signedMessage(ctx Context, msg []byte) []byte {
	if ctx == "" {
		panic("identity: empty signing context")
	}
	for i := 0; i < len(ctx); i++ {
		if ctx[i] == 0 {
			panic(fmt.Sprintf("identity: signing context %q contains a zero byte", string(ctx)))
		}
	}
	m := make([]byte, 0, len(ctx)+1+len(msg))
	m = append(m, ctx...)
	m = append(m, 0)
	return append(m, msg...)
}

// Verify checks sig over msg under ctx with id's key. It returns nil or
// ErrBadSignature. The rule is crypto/ed25519's Verify (RFC 8032
// cofactorless verification: S < L, [S]B = R + [k]A checked by comparing
// the encoding of [S]B - [k]A with R's 32 bytes), and the key must also
// pass [CheckKey], so no signature verifies for a weak key.
func (id ID) Verify(ctx Context, msg, sig []byte) error {
	if len(sig) != ed25519.SignatureSize || id.Check() != nil {
		return ErrBadSignature
	}
	if !ed25519.Verify(ed25519.PublicKey(id[:]), signedMessage(ctx, msg), sig) {
		return ErrBadSignature
	}
	return nil
}
