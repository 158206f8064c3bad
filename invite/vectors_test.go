package invite

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
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
	OfferTime    int64  `json:"offer_created_unix"`
	AnswerTime   int64  `json:"answer_created_unix"`
	InviteID     string `json:"invite_id"`
	// Outputs.
	InviterID  string `json:"inviter_id"`
	AnswererID string `json:"answerer_id"`
	Offer      string `json:"offer_hex"`
	OfferText  string `json:"offer_text"`
	OfferHash  string `json:"offer_hash"`
	Answer     string `json:"answer_hex"`
	AnswerText string `json:"answer_text"`
	Transcript string `json:"transcript_hash"`
}

type tokenVectors struct {
	Comment string        `json:"comment"`
	Vectors []tokenVector `json:"vectors"`
}

func vectorInputs(t *testing.T) []struct {
	desc     string
	recip    bool
	opts     ChannelOptions
	lifetime time.Duration
	offer    ConnDesc
	answer   ConnDesc
} {
	v6 := testConn(RoleActPass, "192.168.1.20")
	v6.Candidates = append(v6.Candidates,
		Candidate{Type: ServerReflexive, Addr: netipAddrPort("2001:db8::7", 40000)},
		Candidate{Type: Relay, TCP: true, TCPType: TCPPassive, Addr: netipAddrPort("203.0.113.5", 443)})
	return []struct {
		desc     string
		recip    bool
		opts     ChannelOptions
		lifetime time.Duration
		offer    ConnDesc
		answer   ConnDesc
	}{
		{"open invitation, two IPv4 host candidates, reliable ordered channel", false, ChannelOptions{}, DefaultLifetime,
			testConn(RoleActPass, "192.168.1.20", "10.0.0.5"), testConn(RoleActive, "192.168.1.30")},
		{"invitation for a named recipient, one-hour lifetime, unordered channel with 2 retransmits, srflx IPv6 and TCP relay candidates", true,
			ChannelOptions{Unordered: true, PartialReliability: true, MaxRetransmits: 2}, time.Hour,
			v6, testConn(RolePassive, "198.51.100.4")},
	}
}

func makeTokenVectors(t *testing.T) tokenVectors {
	out := tokenVectors{Comment: "sp2p invitation token v1 test vectors; see SECURITY.md (Invitation tokens). Seeds are ed25519 seeds; ephemeral keys are 32 bytes of 0xe1 (offer) and 0xe2 (answer)."}
	for i, in := range vectorInputs(t) {
		alice, bob := ident(t, byte(0x10+i)), ident(t, byte(0x20+i))
		var recip identity.ID
		if in.recip {
			recip = bob.ID()
		}
		var inviteID [InviteIDSize]byte
		for j := range inviteID {
			inviteID[j] = byte(0xa0 + j)
		}
		offerTime, answerTime := t0.Add(time.Duration(i)*time.Hour), t0.Add(time.Duration(i)*time.Hour+42*time.Second)
		o, err := newOffer(alice, OfferParams{Ephemeral: [32]byte(bytes.Repeat([]byte{0xe1}, 32)), Conn: in.offer, Options: in.opts,
			Lifetime: in.lifetime, Recipient: recip, Now: offerTime}, inviteID)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAnswer(bob, o, AnswerParams{Ephemeral: [32]byte(bytes.Repeat([]byte{0xe2}, 32)), Conn: in.answer, Now: answerTime})
		if err != nil {
			t.Fatal(err)
		}
		oh, tr := o.Hash(), Transcript(o, a)
		out.Vectors = append(out.Vectors, tokenVector{
			Description: in.desc,
			InviterSeed: hex.EncodeToString(bytes.Repeat([]byte{byte(0x10 + i)}, 32)), AnswererSeed: hex.EncodeToString(bytes.Repeat([]byte{byte(0x20 + i)}, 32)),
			OfferTime: offerTime.Unix(), AnswerTime: answerTime.Unix(), InviteID: hex.EncodeToString(inviteID[:]),
			InviterID: alice.ID().String(), AnswererID: bob.ID().String(),
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
		if o.Inviter.String() != w.InviterID || o.Text() != w.OfferText {
			t.Errorf("vector %d: decoded offer fields differ", i)
		}
		a, err := ParseAnswer(w.AnswerText)
		if err != nil {
			t.Fatalf("vector %d answer: %v", i, err)
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
