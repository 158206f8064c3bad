//go:build !js

package discovery

import (
	"crypto/subtle"
	"errors"
	"time"
)

// pake is one side of CPace (internal/cpace): the message to send, and the
// intermediate session key from the peer's message.
type pake interface {
	Message() []byte
	Finish(peer []byte) (isk, peerAD []byte, err error)
	Erase()
}

// newPAKE starts CPace as the initiator (the seeker) or the responder (the
// host), with sid = beacon nonce || xid, ci = CPaceCI and no associated
// data. It is set by cpace.go.
var newPAKE func(initiator bool, prs, sid []byte) (pake, error)

var errNoPAKE = errors.New("discovery: short codes are not available in this build")

func cpaceSID(bnonce, xid [NonceSize]byte) []byte {
	return append(append([]byte(nil), bnonce[:]...), xid[:]...)
}

// initCode serves a seeker's INIT for the host's short code: the first
// one uses the code up, whatever follows.
func (h *Host) initCode(in inbound) []byte {
	if x := h.exchanges[in.p.xid]; x != nil {
		if x.code && x.from == in.from {
			return x.resp // the seeker did not get it: the same again
		}
		return nil
	}
	k, ok := h.fresh(in.p.nonce, true)
	if !ok || h.codeUsed || newPAKE == nil {
		return nil
	}
	h.codeUsed = true
	st, err := newPAKE(false, k.prs, cpaceSID(in.p.nonce, in.p.xid))
	if err != nil {
		h.wrongCode()
		return nil
	}
	msg := st.Message()
	isk, _, err := st.Finish(in.p.msg)
	if err != nil || len(msg) > MaxCPaceMessage {
		h.wrongCode()
		return nil
	}
	keys := schedule(isk, codeTranscript(in.p.nonce, in.p.xid, in.p.msg, msg), true)
	clear(isk)
	x := &hostExchange{from: in.from, keys: keys, code: true, began: time.Now()}
	x.resp = (&packet{typ: typeResp, xid: in.p.xid, msg: msg, mac: keys.confirmHost}).encode()
	h.addExchange(in.p.xid, x)
	return x.resp
}

// confirm checks a seeker's key confirmation: right, and the offer goes
// out; wrong, and the attempt has failed (the code stays used up).
func (h *Host) confirm(in inbound) []byte {
	x := h.exchanges[in.p.xid]
	if x == nil || !x.code || x.from != in.from || x.failed {
		return nil
	}
	if !x.proven {
		if subtle.ConstantTimeCompare(x.keys.confirmSeek[:], in.p.mac[:]) != 1 {
			x.failed = true
			h.wrongCode()
			return nil
		}
		x.proven = true
	}
	b, err := sealToken(typeOffer, &x.keys.offer, in.p.xid, h.p.Offer)
	if err != nil {
		return nil
	}
	return b
}
