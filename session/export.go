package session

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// LabelExportPrefix starts the HKDF info of every exported secret.
const LabelExportPrefix = "sp2p v2 export "

// ExportSecret derives n bytes (1 to 255) for the application from this
// session's keys:
//
//	HKDF-SHA256(ikm = session id, salt = "", info = "sp2p v2 export " || label, n)
//
// The session id comes from the key schedule (SECURITY.md, "Key
// schedule") and only ever travels inside sealed key confirmations, so
// both peers, and no one else, get the same bytes. Different labels give
// independent secrets. label must not be empty.
func (s *Session) ExportSecret(label string, n int) ([]byte, error) {
	if label == "" {
		return nil, errors.New("session: ExportSecret needs a label")
	}
	if n < 1 || n > 255 {
		return nil, fmt.Errorf("session: ExportSecret of %d bytes: want 1 to 255", n)
	}
	return hkdf.Key(sha256.New, s.sessionID[:], nil, LabelExportPrefix+label, n)
}
