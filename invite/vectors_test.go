package invite

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
)

var update = flag.Bool("update", false, "rewrite testdata/invite-vectors.json from the implementation")

const vectorsFile = "../testdata/invite-vectors.json"

type tokenVector struct {
	Description string `json:"description"`
	// Inputs.
	InviterSeed  string `json:"inviter_seed"`
	AnswererSeed string `json:"answerer_seed"`
	OfferEph     string `json:"offer_ephemeral"`
	AnswerEph    string `json:"answer_ephemeral"`
	OfferTime    int64  `json:"offer_created_unix"`
	AnswerTime   int64  `json:"answer_created_unix"`
	Purpose      uint8  `json:"purpose"`
	// Outputs.
	InviterID   string `json:"inviter_id"`
	AnswererID  string `json:"answerer_id"`
	InviteID    string `json:"invite_id"`
	OfferUfrag  string `json:"offer_ice_ufrag"`
	OfferPwd    string `json:"offer_ice_pwd"`
	AnswerUfrag string `json:"answer_ice_ufrag"`
	AnswerPwd   string `json:"answer_ice_pwd"`
	Offer       string `json:"offer_hex"`
	OfferText   string `json:"offer_text"`
	OfferHash   string `json:"offer_hash"`
	Answer      string `json:"answer_hex"`
	AnswerText  string `json:"answer_text"`
	Transcript  string `json:"transcript_hash"`
}

type tokenVectors struct {
	Comment string        `json:"comment"`
	Vectors []tokenVector `json:"vectors"`
}

type vectorInput struct {
	desc     string
	recip    bool
	purpose  Purpose
	opts     ChannelOptions
	lifetime time.Duration
	offer    ConnDesc
	answer   ConnDesc
}

func vectorInputs(t *testing.T) []vectorInput {
	v6 := testConn(RoleActPass, "192.168.1.20")
	v6.Candidates = append(v6.Candidates,
		Candidate{Type: Host, Name: mdnsName(t, "5ca05cb1-9f5f-4912-8329-24f191793d5a.local"), Addr: netip.AddrPortFrom(netip.Addr{}, 51264)},
		Candidate{Type: ServerReflexive, Addr: netipAddrPort("2001:db8::7", 40000)},
		Candidate{Type: Relay, TCP: true, TCPType: TCPPassive, Addr: netipAddrPort("203.0.113.5", 443)})
	browser := testConn(RolePassive)
	browser.Candidates = []Candidate{{Type: Host, Name: mdnsName(t, "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.local"), Addr: netip.AddrPortFrom(netip.Addr{}, 61000)}}
	return []vectorInput{
		{"open invitation for a chat, two IPv4 host candidates, reliable ordered channel", false, PurposeChat, ChannelOptions{}, DefaultLifetime,
			testConn(RoleActPass, "192.168.1.20", "10.0.0.5"), testConn(RoleActive, "192.168.1.30")},
		{"invitation to send files to a named recipient, one-hour lifetime, unordered channel with 2 retransmits, mDNS host, srflx IPv6 and TCP relay candidates; the answer has one mDNS candidate", true, PurposeFiles,
			ChannelOptions{Unordered: true, PartialReliability: true, MaxRetransmits: 2}, time.Hour,
			v6, browser},
		{"open invitation for a stream, one IPv4 and one IPv6 host candidate", false, PurposeStream, ChannelOptions{}, DefaultLifetime,
			testConn(RoleActPass, "192.168.1.20", "2001:db8::20"), testConn(RoleActive, "2001:db8::30")},
	}
}

func makeTokenVectors(t *testing.T) tokenVectors {
	out := tokenVectors{Comment: "sp2p invitation token version 2 test vectors; see SECURITY.md (Invitation tokens). Seeds are ed25519 seeds; ephemeral keys are X25519 public keys (here 32 repeated bytes: 0xe1, 0xe2 and so on). The invite id and the ICE credentials are not in the tokens: they are derived from the ephemeral keys (HKDF-SHA256)."}
	for i, in := range vectorInputs(t) {
		alice, bob := ident(t, byte(0x10+i)), ident(t, byte(0x20+i))
		var recip identity.ID
		if in.recip {
			recip = bob.ID()
		}
		offerEph, answerEph := [32]byte(bytes.Repeat([]byte{byte(0xe1 + 2*i)}, 32)), [32]byte(bytes.Repeat([]byte{byte(0xe2 + 2*i)}, 32))
		offerTime, answerTime := t0.Add(time.Duration(i)*time.Hour), t0.Add(time.Duration(i)*time.Hour+42*time.Second)
		o, err := NewOffer(alice, OfferParams{Ephemeral: offerEph, Conn: in.offer, Purpose: in.purpose, Options: in.opts,
			Lifetime: in.lifetime, Recipient: recip, Now: offerTime})
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAnswer(bob, o, AnswerParams{Ephemeral: answerEph, Conn: in.answer, Now: answerTime})
		if err != nil {
			t.Fatal(err)
		}
		oh, tr := o.Hash(), Transcript(o, a)
		out.Vectors = append(out.Vectors, tokenVector{
			Description: in.desc,
			InviterSeed: hex.EncodeToString(bytes.Repeat([]byte{byte(0x10 + i)}, 32)), AnswererSeed: hex.EncodeToString(bytes.Repeat([]byte{byte(0x20 + i)}, 32)),
			OfferEph: hex.EncodeToString(offerEph[:]), AnswerEph: hex.EncodeToString(answerEph[:]),
			OfferTime: offerTime.Unix(), AnswerTime: answerTime.Unix(), Purpose: uint8(in.purpose),
			InviterID: alice.ID().String(), AnswererID: bob.ID().String(), InviteID: hex.EncodeToString(o.InviteID[:]),
			OfferUfrag: o.Conn.ICEUfrag, OfferPwd: o.Conn.ICEPwd, AnswerUfrag: a.Conn.ICEUfrag, AnswerPwd: a.Conn.ICEPwd,
			Offer: hex.EncodeToString(o.Bytes()), OfferText: o.Text(), OfferHash: hex.EncodeToString(oh[:]),
			Answer: hex.EncodeToString(a.Bytes()), AnswerText: a.Text(), Transcript: hex.EncodeToString(tr[:]),
		})
	}
	return out
}

func TestTokenVectors(t *testing.T) {
	got := makeTokenVectors(t)
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var want tokenVectors
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Vectors) != len(got.Vectors) {
		t.Fatal("vector file is out of date: go test ./invite -run TestTokenVectors -update")
	}
	for i, w := range want.Vectors {
		if w != got.Vectors[i] {
			t.Errorf("vector %d (%s): encoding differs from the file", i, w.Description)
		}
		// Decoding the published bytes and text gives valid tokens.
		raw, _ := hex.DecodeString(w.Offer)
		o, err := DecodeOffer(raw)
		if err != nil {
			t.Fatalf("vector %d offer: %v", i, err)
		}
		if o.Inviter.String() != w.InviterID || o.Text() != w.OfferText || uint8(o.Purpose) != w.Purpose ||
			hex.EncodeToString(o.InviteID[:]) != w.InviteID || hex.EncodeToString(o.Ephemeral[:]) != w.OfferEph ||
			o.Conn.ICEUfrag != w.OfferUfrag || o.Conn.ICEPwd != w.OfferPwd {
			t.Errorf("vector %d: decoded offer fields differ", i)
		}
		a, err := ParseAnswer(w.AnswerText)
		if err != nil {
			t.Fatalf("vector %d answer: %v", i, err)
		}
		if a.Conn.ICEUfrag != w.AnswerUfrag || a.Conn.ICEPwd != w.AnswerPwd || hex.EncodeToString(a.Ephemeral[:]) != w.AnswerEph {
			t.Errorf("vector %d: decoded answer fields differ", i)
		}
		if h := o.Hash(); a.OfferHash != h || hex.EncodeToString(h[:]) != w.OfferHash {
			t.Errorf("vector %d: offer hash", i)
		}
		p := &Pending{Now: func() time.Time { return time.Unix(w.AnswerTime, 0) }}
		p.Add(o)
		if _, err := p.Accept(a, AcceptOptions{}); err != nil {
			t.Errorf("vector %d: accept: %v", i, err)
		}
	}
}
