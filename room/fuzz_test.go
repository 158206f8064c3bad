package room

import (
	"testing"
	"time"

	"github.com/sp2p/sp2p/session"
)

// FuzzDecodeFrame: decoding any bytes never panics, never accepts more
// than the limits allow, and what it accepts encodes back to the same
// bytes (one encoding per frame).
func FuzzDecodeFrame(f *testing.F) {
	for _, b := range validFrames(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		var again []byte
		switch fr.typ {
		case frameWelcome:
			again = welcomeFrame(&fr.desc, fr.records)
		case frameHello:
			again = helloFrame(fr.room, fr.mesh)
		case frameRecords:
			again = recordsFrame(fr.records)
		case framePublish:
			again = publishFrame(&fr.msg, fr.hops)
			if len(fr.msg.payload) > MaxPayload {
				t.Fatal("payload over the limit")
			}
		case frameIHave, frameIWant:
			again = idsFrame(fr.typ, fr.ids)
		case frameGraft:
			again = []byte{frameGraft}
		case framePrune:
			again = pruneFrame(fr.backoff)
		case frameIntroReq, frameIntroPeers:
			again = peersFrame(fr.typ, fr.want, fr.peers)
		case frameIntroOffer, frameIntroAnswer, frameResumeHint:
			again = tokenFrame(fr.typ, fr.peer, fr.needy, fr.token)
			if fr.typ == frameResumeHint && (len(fr.token) == 0 || len(fr.token) > session.MaxResumeTokenText) {
				t.Fatal("resume hint over the limits")
			}
		case frameDirect:
			again = directFrame(fr.channel, fr.direct)
			if len(fr.direct) > MaxDirect || fr.channel == 0 {
				t.Fatal("direct frame over the limits")
			}
		default:
			t.Fatalf("accepted unknown type %d", fr.typ)
		}
		if string(again) != string(b) {
			t.Fatalf("re-encoded differently:\n%x\n%x", b, again)
		}
	})
}

// FuzzMembership: any sequence of records (valid or not, in any order)
// keeps the rules: the creator is a member, no removed identity is, every
// member has a chain of admissions back to the creator, and the record
// count stays within MaxRecords.
func FuzzMembership(f *testing.F) {
	f.Add(recordsFrame([]record{testRecord(f, recordAdmit), testRecord(f, recordRemove)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil || fr.typ != frameRecords {
			return
		}
		creator := fr.records[0].signer
		m := newMembership(fr.records[0].room, creator, time.Minute)
		now := time.UnixMilli(1_800_000_000_000)
		for _, rec := range fr.records {
			m.add(rec, now)
		}
		if !m.isMember(creator) {
			t.Fatal("the creator is not a member")
		}
		for id := range m.removes {
			if m.isMember(id) {
				t.Fatal("a removed identity is a member")
			}
		}
		for id := range m.valid {
			if id == creator {
				continue
			}
			found := false
			for k := range m.admits {
				if k.subject == id && m.valid[k.signer] {
					found = true
				}
			}
			if !found {
				t.Fatal("a member with no admission by a member")
			}
		}
		if len(m.admits)+len(m.removes) > MaxRecords {
			t.Fatal("too many records")
		}
	})
}
