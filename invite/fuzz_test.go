package invite

import (
	"bytes"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// FuzzOfferCanonical lives beside the code because it needs the encoder:
// every offer the decoder accepts re-encodes to exactly the bytes it came
// from (one encoding per token). Fuzzed bodies are re-signed so the
// fuzzer gets past the signature check.
func FuzzOfferCanonical(f *testing.F) {
	signer := ident(f, 0x42)
	s := newScenario(f, func(p *OfferParams) { p.Recipient = ident(f, 2).ID() })
	f.Add(s.offer.Bytes())
	f.Add(s.answer.Bytes())
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 2+IDSize+SignatureSize || len(raw) > MaxTokenSize {
			return
		}
		raw = bytes.Clone(raw)
		id := signer.ID()
		copy(raw[2:], id[:])
		body := raw[:len(raw)-SignatureSize]
		ctx := identity.ContextOffer
		if len(raw) > 1 && raw[1] == kindAnswer {
			ctx = identity.ContextAnswer
		}
		copy(raw[len(body):], signer.Sign(ctx, body))
		if o, err := DecodeOffer(raw); err == nil {
			re, err := o.encodeBody()
			if err != nil || !bytes.Equal(re, body) {
				t.Fatalf("accepted offer does not re-encode to its bytes: %v", err)
			}
			_ = o.Verify(VerifyOptions{Now: time.Unix(1_800_000_000, 0)})
		}
		if a, err := DecodeAnswer(raw); err == nil {
			re, err := a.encodeBody()
			if err != nil || !bytes.Equal(re, body) {
				t.Fatalf("accepted answer does not re-encode to its bytes: %v", err)
			}
		}
	})
}
