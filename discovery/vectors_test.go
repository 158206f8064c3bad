package discovery

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// vectors are the known answers that SECURITY.md quotes
// (testdata/vectors.json): from fixed inputs, every packet and key.
type vectors struct {
	Secret      string `json:"secret"`
	Epoch       uint32 `json:"epoch"`
	BeaconNonce string `json:"beacon_nonce"`
	Beacon      string `json:"beacon"`
	XID         string `json:"xid"`
	Fetch       string `json:"fetch"`
	OfferKey    string `json:"offer_key"`
	AnswerKey   string `json:"answer_key"`
	AckKey      string `json:"ack_key"`
	SealNonce   string `json:"seal_nonce"`
	Token       string `json:"token"`
	Offer       string `json:"offer"`
	Answer      string `json:"answer"`
	Ack         string `json:"ack"`
	ProbeRandom string `json:"probe_random"`
	Probe       string `json:"probe"`

	CodeLookup    string `json:"code_lookup"`
	CodeBeacon    string `json:"code_beacon"`
	ISK           string `json:"isk"`
	SeekerMessage string `json:"seeker_message"`
	HostMessage   string `json:"host_message"`
	Transcript    string `json:"transcript"`
	ConfirmHost   string `json:"confirm_host"`
	ConfirmSeeker string `json:"confirm_seeker"`
	CodeOfferKey  string `json:"code_offer_key"`
	Init          string `json:"init"`
	Resp          string `json:"resp"`
	Confirm       string `json:"confirm"`
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func arr16(b []byte) (a [NonceSize]byte) { copy(a[:], b); return }

func computeVectors(t *testing.T) vectors {
	var v vectors
	h := hex.EncodeToString
	secret := seq(SecretSize, 0x00)
	v.Secret = h(secret)
	v.Epoch = 29_000_000
	bnonce := arr16(seq(16, 0x40))
	v.BeaconNonce = h(bnonce[:])
	k, err := PeerKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	v.Beacon = h((&packet{typ: typeBeacon, epoch: v.Epoch, nonce: bnonce, tag: k.beaconTag(v.Epoch, bnonce)}).encode())
	xid := arr16(seq(16, 0x80))
	v.XID = h(xid[:])
	v.Fetch = h((&packet{typ: typeFetch, nonce: bnonce, xid: xid, mac: k.fetchMAC(bnonce, xid)}).encode())
	ek := k.peerExchange(bnonce, xid)
	v.OfferKey, v.AnswerKey, v.AckKey = h(ek.offer[:]), h(ek.answer[:]), h(ek.ack[:])
	var sn [SealNonceSize]byte
	copy(sn[:], seq(SealNonceSize, 0xC0))
	v.SealNonce = h(sn[:])
	token := []byte("SP2P test vector token")
	v.Token = h(token)
	o, err := sealTokenNonce(typeOffer, &ek.offer, xid, token, sn)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := sealTokenNonce(typeAnswer, &ek.answer, xid, token, sn)
	v.Offer, v.Answer = h(o), h(a)
	v.Ack = h((&packet{typ: typeAck, xid: xid, mac: ek.ackMAC(xid)}).encode())
	pr := arr16(seq(16, 0x10))
	v.ProbeRandom = h(pr[:])
	v.Probe = h((&packet{typ: typeProbe, nonce: pr}).encode())

	lookup := []byte("7")
	v.CodeLookup = h(lookup)
	ck, err := CodeKey([]byte("code password"), lookup)
	if err != nil {
		t.Fatal(err)
	}
	v.CodeBeacon = h((&packet{typ: typeBeacon, epoch: v.Epoch, nonce: bnonce, tag: ck.beaconTag(v.Epoch, bnonce)}).encode())
	isk := seq(64, 0x20)
	sm, hm := seq(32, 0x60), seq(32, 0xA0)
	v.ISK, v.SeekerMessage, v.HostMessage = h(isk), h(sm), h(hm)
	tr := codeTranscript(bnonce, xid, sm, hm)
	v.Transcript = h(tr)
	ck2 := schedule(isk, tr, true)
	v.ConfirmHost, v.ConfirmSeeker, v.CodeOfferKey = h(ck2.confirmHost[:]), h(ck2.confirmSeek[:]), h(ck2.offer[:])
	v.Init = h((&packet{typ: typeInit, nonce: bnonce, xid: xid, msg: sm}).encode())
	v.Resp = h((&packet{typ: typeResp, xid: xid, msg: hm, mac: ck2.confirmHost}).encode())
	v.Confirm = h((&packet{typ: typeConfirm, xid: xid, mac: ck2.confirmSeek}).encode())
	return v
}

// TestVectors checks the known answers in testdata/vectors.json, and
// that every packet in them decodes and re-encodes to the same bytes.
func TestVectors(t *testing.T) {
	t.Parallel()
	got := computeVectors(t)
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile("testdata/vectors.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var want vectors
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		gb, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("vectors differ; computed:\n%s", gb)
	}
	for _, s := range []string{want.Beacon, want.Fetch, want.Offer, want.Answer, want.Ack, want.Probe, want.CodeBeacon, want.Init, want.Resp, want.Confirm} {
		raw, _ := hex.DecodeString(s)
		p, err := decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", s[:24], err)
		}
		if !bytes.Equal(p.encode(), raw) {
			t.Fatalf("%s: does not re-encode", s[:24])
		}
	}
	// The offer opens under the offer key and not under the answer key.
	raw, _ := hex.DecodeString(want.Offer)
	p, _ := decode(raw)
	var ok, ak [32]byte
	kb, _ := hex.DecodeString(want.OfferKey)
	copy(ok[:], kb)
	kb, _ = hex.DecodeString(want.AnswerKey)
	copy(ak[:], kb)
	if pt, err := openToken(p, &ok); err != nil || hex.EncodeToString(pt) != want.Token {
		t.Fatalf("offer does not open: %v", err)
	}
	if _, err := openToken(p, &ak); err == nil {
		t.Fatal("offer opens under the answer key")
	}
}
