package discovery

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Labels of the key schedule (SECURITY.md lists them).
const (
	labelBeacon      = "sp2p v2 lan beacon key"
	labelFetch       = "sp2p v2 lan fetch key"
	labelCodeBeacon  = "sp2p v2 lan code beacon key"
	labelOffer       = "sp2p v2 lan offer key"
	labelAnswer      = "sp2p v2 lan answer key"
	labelAck         = "sp2p v2 lan ack key"
	labelConfirmHost = "sp2p v2 lan confirm host"
	labelConfirmSeek = "sp2p v2 lan confirm seeker"
	// CPaceCI is the channel identifier given to CPace.
	CPaceCI = "sp2p v2 lan code"
)

// SecretSize is the size of a pairwise secret.
const SecretSize = 32

// Key is what a host and a seeker must share to find each other: a pairwise
// secret of two known peers, or a short code.
type Key struct {
	beacon [32]byte // the beacon tag key
	fetch  [32]byte // known peers: the fetch proof key
	secret []byte   // known peers: the pairwise secret
	prs    []byte   // code: CPace's password
}

// PeerKey is the Key of two known peers: their pairwise secret of
// SecretSize bytes.
func PeerKey(secret []byte) (Key, error) {
	if len(secret) != SecretSize {
		return Key{}, fmt.Errorf("discovery: pairwise secret of %d bytes, want %d", len(secret), SecretSize)
	}
	k := Key{secret: append([]byte(nil), secret...)}
	copy(k.beacon[:], expand(secret, labelBeacon))
	copy(k.fetch[:], expand(secret, labelFetch))
	return k, nil
}

// CodeKey is the Key of a short code: prs is CPace's password (from the
// whole code) and lookup the value that names the code's channel in
// beacons (from the channel number only, never the words).
func CodeKey(prs, lookup []byte) (Key, error) {
	if len(prs) == 0 || len(lookup) == 0 {
		return Key{}, errors.New("discovery: empty code")
	}
	k := Key{prs: append([]byte(nil), prs...)}
	copy(k.beacon[:], expand(lookup, labelCodeBeacon))
	return k, nil
}

func (k *Key) isCode() bool { return k.prs != nil }

// erase overwrites the key's secrets.
func (k *Key) erase() {
	clear(k.beacon[:])
	clear(k.fetch[:])
	clear(k.secret)
	clear(k.prs)
}

// expand is HKDF-SHA256 with an empty salt, 32 bytes.
func expand(ikm []byte, label string) []byte {
	out, err := hkdf.Key(sha256.New, ikm, nil, label, 32)
	if err != nil {
		panic(err)
	}
	return out
}

func mac(key []byte, parts ...[]byte) [MACSize]byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	var out [MACSize]byte
	h.Sum(out[:0])
	return out
}

// beaconTag is HMAC-SHA256(beacon key, epoch || nonce), first 16 bytes.
func (k *Key) beaconTag(epoch uint32, nonce [NonceSize]byte) [TagSize]byte {
	var e [4]byte
	binary.BigEndian.PutUint32(e[:], epoch)
	m := mac(k.beacon[:], e[:], nonce[:])
	var t [TagSize]byte
	copy(t[:], m[:])
	return t
}

// fetchMAC is HMAC-SHA256(fetch key, beacon nonce || xid).
func (k *Key) fetchMAC(bnonce, xid [NonceSize]byte) [MACSize]byte {
	return mac(k.fetch[:], bnonce[:], xid[:])
}

// exchangeKeys are the keys of one exchange (one seeker, one xid).
type exchangeKeys struct {
	offer, answer, ack [32]byte
	confirmHost        [MACSize]byte // code only: the host's key confirmation
	confirmSeek        [MACSize]byte // code only: the seeker's
}

// schedule derives the exchange keys from ikm (the pairwise secret, or
// CPace's ISK) and salt (beacon nonce || xid, or the CPace transcript hash).
func schedule(ikm, salt []byte, code bool) *exchangeKeys {
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		panic(err)
	}
	defer clear(prk)
	ex := func(label string) (k [32]byte) {
		b, err := hkdf.Expand(sha256.New, prk, label, 32)
		if err != nil {
			panic(err)
		}
		copy(k[:], b)
		clear(b)
		return k
	}
	k := &exchangeKeys{offer: ex(labelOffer), answer: ex(labelAnswer), ack: ex(labelAck)}
	if code {
		ch, cs := ex(labelConfirmHost), ex(labelConfirmSeek)
		k.confirmHost = mac(ch[:], salt)
		k.confirmSeek = mac(cs[:], salt)
		clear(ch[:])
		clear(cs[:])
	}
	return k
}

func (e *exchangeKeys) erase() {
	clear(e.offer[:])
	clear(e.answer[:])
	clear(e.ack[:])
	clear(e.confirmHost[:])
	clear(e.confirmSeek[:])
}

// peerExchange is the schedule of two known peers.
func (k *Key) peerExchange(bnonce, xid [NonceSize]byte) *exchangeKeys {
	return schedule(k.secret, append(bnonce[:], xid[:]...), false)
}

// codeTranscript is SHA-256(beacon nonce || xid || seeker's CPace message
// || host's CPace message): the salt of a code exchange and what the key
// confirmations cover.
func codeTranscript(bnonce, xid [NonceSize]byte, seekerMsg, hostMsg []byte) []byte {
	h := sha256.New()
	h.Write(bnonce[:])
	h.Write(xid[:])
	h.Write(seekerMsg)
	h.Write(hostMsg)
	return h.Sum(nil)
}

// ackMAC is HMAC-SHA256(ack key, xid).
func (e *exchangeKeys) ackMAC(xid [NonceSize]byte) [MACSize]byte {
	return mac(e.ack[:], xid[:])
}

// sealToken makes an OFFER or ANSWER packet carrying token under key.
func sealToken(typ byte, key *[32]byte, xid [NonceSize]byte, token []byte) ([]byte, error) {
	if len(token) < 1 || len(token) > MaxToken {
		return nil, fmt.Errorf("discovery: token of %d bytes, want 1 to %d", len(token), MaxToken)
	}
	var sn [SealNonceSize]byte
	if _, err := rand.Read(sn[:]); err != nil {
		return nil, err
	}
	return sealTokenNonce(typ, key, xid, token, sn)
}

func sealTokenNonce(typ byte, key *[32]byte, xid [NonceSize]byte, token []byte, sn [SealNonceSize]byte) ([]byte, error) {
	p := &packet{typ: typ, xid: xid, sn: sn}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	ad := append(header(typ), xid[:]...)
	p.ct = aead.Seal(nil, p.sn[:], token, ad)
	return p.encode(), nil
}

// openToken opens an OFFER or ANSWER packet.
func openToken(p *packet, key *[32]byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	ad := append(header(p.typ), p.xid[:]...)
	pt, err := aead.Open(nil, p.sn[:], p.ct, ad)
	if err != nil {
		return nil, malformed("type %d: does not authenticate", p.typ)
	}
	return pt, nil
}

// epochOf is the epoch number of unix time sec for epochs of length secs.
func epochOf(sec int64, length int64) uint32 { return uint32(sec / length) }

// matches reports whether beacon p carries k's tag, for an epoch at most
// one away from now.
func (k *Key) matches(p *packet, now uint32) bool {
	if d := int64(p.epoch) - int64(now); d < -1 || d > 1 {
		return false
	}
	t := k.beaconTag(p.epoch, p.nonce)
	return subtle.ConstantTimeCompare(t[:], p.tag[:]) == 1
}
