package fuzz

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/qr"
	"github.com/sp2p/sp2p/internal/sdp"
	"github.com/sp2p/sp2p/invite"
)

// fuzzSigner re-signs fuzzed token bodies, so the fuzzer explores the
// decoder past the signature check.
var fuzzSigner = func() *identity.Identity {
	id, err := identity.FromSeed(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		panic(err)
	}
	return id
}()

var inviteErrors = []error{
	invite.ErrMalformed, invite.ErrLimit, invite.ErrUnsupportedVersion, invite.ErrWrongKind, invite.ErrBadSignature,
}

func checkInviteError(t *testing.T, err error) {
	for _, e := range inviteErrors {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("error without a sentinel: %v", err)
}

// resign puts the fuzz signer's ID in the author field and signs the body
// under ctx.
func resign(raw []byte, ctx identity.Context) []byte {
	if len(raw) < 2+invite.IDSize+invite.SignatureSize || len(raw) > invite.MaxTokenSize {
		return raw
	}
	out := bytes.Clone(raw)
	id := fuzzSigner.ID()
	copy(out[2:], id[:])
	body := out[:len(out)-invite.SignatureSize]
	copy(out[len(body):], fuzzSigner.Sign(ctx, body))
	return out
}

// seedConn is a description with every kind of candidate; its ICE
// credentials are filled in from the token's ephemeral key.
func seedConn(role invite.DTLSRole) invite.ConnDesc {
	name, _ := invite.ParseMDNSName("5ca05cb1-9f5f-4912-8329-24f191793d5a.local")
	return invite.ConnDesc{
		Role: role, Fingerprint: [32]byte{1, 2, 3},
		Candidates: []invite.Candidate{
			{Type: invite.Host, Addr: netip.MustParseAddrPort("192.168.1.2:50000")},
			{Type: invite.Host, Name: name, Addr: netip.AddrPortFrom(netip.Addr{}, 51264)},
			{Type: invite.ServerReflexive, Addr: netip.MustParseAddrPort("[2001:db8::1]:3478")},
			{Type: invite.Relay, TCP: true, TCPType: invite.TCPPassive, Addr: netip.MustParseAddrPort("203.0.113.1:443")},
		},
	}
}

func seedTokens(f *testing.F) (*invite.Offer, *invite.Answer) {
	o, err := invite.NewOffer(fuzzSigner, invite.OfferParams{Conn: seedConn(invite.RoleActPass), Recipient: fuzzSigner.ID(), Purpose: invite.PurposeFiles,
		Options: invite.ChannelOptions{Unordered: true, PartialReliability: true, MaxRetransmits: 1}, Now: time.Unix(1_800_000_000, 0)})
	if err != nil {
		f.Fatal(err)
	}
	a, err := invite.NewAnswer(fuzzSigner, o, invite.AnswerParams{Ephemeral: [invite.EphemeralSize]byte{0xe2}, Conn: seedConn(invite.RoleActive), Now: time.Unix(1_800_000_000, 0)})
	if err != nil {
		f.Fatal(err)
	}
	return o, a
}

func sameConn(a, b *invite.ConnDesc) bool {
	if a.ICEUfrag != b.ICEUfrag || a.ICEPwd != b.ICEPwd || a.Fingerprint != b.Fingerprint || a.Role != b.Role || len(a.Candidates) != len(b.Candidates) {
		return false
	}
	for i := range a.Candidates {
		if a.Candidates[i] != b.Candidates[i] {
			return false
		}
	}
	return true
}

// FuzzDecodeOffer: decoding arbitrary (re-signed) bytes never panics,
// errors carry a sentinel, and an accepted offer survives its text form
// and its SDP conversion unchanged.
func FuzzDecodeOffer(f *testing.F) {
	o, a := seedTokens(f)
	f.Add(o.Bytes())
	f.Add(a.Bytes())
	f.Add(o.Bytes()[:100])
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = resign(raw, identity.ContextOffer)
		got, err := invite.DecodeOffer(raw)
		if err != nil {
			checkInviteError(t, err)
			return
		}
		if len(raw) > invite.MaxTokenSize || len(got.Conn.Candidates) > invite.MaxCandidates {
			t.Fatal("accepted an offer over the limits")
		}
		again, err := invite.ParseOffer(got.Text())
		if err != nil || !bytes.Equal(again.Bytes(), raw) {
			t.Fatalf("text round trip: %v", err)
		}
		text, err := sdp.ToSDP(&got.Conn)
		if err != nil {
			t.Fatalf("SDP of an accepted offer: %v", err)
		}
		back, _, err := sdp.FromSDP(text)
		if err != nil || !sameConn(back, &got.Conn) {
			t.Fatalf("SDP round trip: %v\n%s", err, text)
		}
	})
}

// FuzzDecodeAnswer: as FuzzDecodeOffer, for answers.
func FuzzDecodeAnswer(f *testing.F) {
	o, a := seedTokens(f)
	f.Add(a.Bytes())
	f.Add(o.Bytes())
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = resign(raw, identity.ContextAnswer)
		got, err := invite.DecodeAnswer(raw)
		if err != nil {
			checkInviteError(t, err)
			return
		}
		again, err := invite.ParseAnswer(got.Text())
		if err != nil || !bytes.Equal(again.Bytes(), raw) {
			t.Fatalf("text round trip: %v", err)
		}
	})
}

// FuzzDecodeText: the text/link parser never panics, bounds its input, and
// whatever it accepts re-encodes to a text that decodes to the same bytes.
func FuzzDecodeText(f *testing.F) {
	o, a := seedTokens(f)
	link, _ := o.Link("https://example.org/join")
	for _, s := range []string{o.Text(), a.Text(), link, "sp2p:" + o.Text()[5:], " \n" + o.Text()[:40] + "\r\n" + o.Text()[40:], "http://x/#SP2P:AE", "SP2P:", "https://x#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, raw, err := invite.Decode(s)
		if err != nil {
			checkInviteError(t, err)
			return
		}
		if len(raw) > invite.MaxTextSize {
			t.Fatal("decoded more bytes than the input limit allows")
		}
		if len(raw) < 2 || invite.Kind(raw[1]) != kind {
			t.Fatal("kind does not match the bytes")
		}
	})
}

// FuzzFromSDP: arbitrary SDP never panics the converter, and an accepted
// description is stable through SDP and back.
func FuzzFromSDP(f *testing.F) {
	c := seedConn(invite.RoleActPass)
	c.ICEUfrag, c.ICEPwd = invite.ICECredentials([invite.EphemeralSize]byte{0xe1})
	text, err := sdp.ToSDP(&c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(text)
	f.Add(pionOfferSDP)
	f.Fuzz(func(t *testing.T, s string) {
		d, _, err := sdp.FromSDP(s)
		if err != nil {
			checkInviteError(t, err)
			return
		}
		out, err := sdp.ToSDP(d)
		if err != nil {
			t.Fatalf("SDP of an accepted description: %v", err)
		}
		back, dropped, err := sdp.FromSDP(out)
		if err != nil || dropped != 0 || !sameConn(back, d) {
			t.Fatalf("not stable: %v, dropped %d", err, dropped)
		}
	})
}

// pionOfferSDP is an offer as pion v4 writes it after gathering.
const pionOfferSDP = "v=0\r\no=- 3012339530271004316 1764100000 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=msid-semantic:WMS*\r\na=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2F:6D:0F:35:E3:0E:1E:8A:B2:D5:96:0C:F6:12:F3:2B:9E:43:C2:4A:76\r\na=extmap-allow-mixed\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=sctp-port:5000\r\na=ice-ufrag:Ab3dEf9h\r\na=ice-pwd:0123456789abcdefghijKL\r\na=candidate:1794536311 1 udp 2130706431 127.0.0.1 40431 typ host\r\na=candidate:1794536311 2 udp 2130706431 127.0.0.1 40431 typ host\r\na=candidate:233762139 1 udp 2130706431 192.168.1.5 51000 typ host\r\na=candidate:233762139 1 udp 1694498815 203.0.113.7 51000 typ srflx raddr 192.168.1.5 rport 51000\r\na=candidate:1 1 udp 2130706431 abcd.local 5000 typ host\r\na=candidate:2 1 udp 2113937151 5ca05cb1-9f5f-4912-8329-24f191793d5a.local 51264 typ host generation 0\r\na=end-of-candidates\r\n"

// FuzzQRImage: decoding arbitrary bytes as a QR image never panics and
// respects the size limits.
func FuzzQRImage(f *testing.F) {
	o, _ := seedTokens(f)
	img, err := qr.PNG(o.Text(), 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(img)
	f.Add(img[:len(img)/2])
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := qr.ReadImage(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, qr.ErrNoCode) && !errors.Is(err, qr.ErrLimit) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if len(text) > len(data)*8 {
			t.Fatal("decoded more text than the image could hold")
		}
	})
}
