package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/qr"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

func (a *app) demoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Watch two throwaway peers connect on this machine, step by step",
		Long: `Run the whole sp2p flow between two throwaway identities, Alice and Bob,
inside this process over loopback, and narrate it: the offer token and its
size, the answer, the fingerprints, the safety codes, messages both ways, a
tampered token being refused, and the session stats. It needs no identity,
no network beyond loopback and no input.`,
		Example: `  sp2p demo`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			return a.demo(ctx)
		},
	}
}

func (a *app) demo(ctx context.Context) error {
	out := a.stdout
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	step := func(n int, title string) { fmt.Fprintf(out, "\n== %d. %s\n", n, title) }

	step(1, "Two people make identities (sp2p keygen)")
	alice, err := identity.Generate()
	if err != nil {
		return err
	}
	bob, err := identity.Generate()
	if err != nil {
		return err
	}
	say("Alice: %s\n       fingerprint %s", alice.ID(), alice.ID().Fingerprint())
	say("Bob:   %s\n       fingerprint %s", bob.ID(), bob.ID().Fingerprint())

	step(2, "Alice invites Bob (sp2p invite --to bob)")
	opts := session.Options{LoopbackOnly: true, UDP4Only: true}
	aliceOpts := opts
	aliceOpts.Recipient = bob.ID()
	start := time.Now()
	inv, err := session.Invite(ctx, alice, aliceOpts)
	if err != nil {
		return err
	}
	defer inv.Close()
	token := inv.Token()
	version, _ := qr.Version(token)
	say("offer token (%d characters, %d bytes, QR version %d; signed by Alice, valid 5 minutes, only for Bob):", len(token), len(inv.Offer().Bytes()), version)
	say("%s", token)

	step(3, "Someone tampers with the token on its way")
	tampered := []byte(token)
	i := len(tampered) - 20 // inside the signature
	tampered[i] = map[bool]byte{true: 'B', false: 'A'}[tampered[i] == 'A']
	if _, err := invite.ParseOffer(string(tampered)); err != nil {
		say("Bob's sp2p refuses it: %v", err)
	} else {
		return errors.New("demo: a tampered token was accepted")
	}

	step(4, "Bob accepts the real token (sp2p accept TOKEN)")
	offer, err := invite.ParseOffer(token)
	if err != nil {
		return err
	}
	say("invitation from %s\n  fingerprint %s (Bob compares it with Alice's)", offer.Inviter, offer.Inviter.Fingerprint())
	acc, err := session.Accept(ctx, bob, offer, opts)
	if err != nil {
		return err
	}
	defer acc.Close()
	say("answer token (%d characters), sent back to Alice:\n%s", len(acc.Token()), acc.Token())
	bobCh := make(chan *session.Session, 1)
	errCh := make(chan error, 1)
	go func() {
		s, err := acc.Wait(ctx)
		if err != nil {
			errCh <- err
			return
		}
		bobCh <- s
	}()

	step(5, "Alice pastes the answer; they connect directly")
	ans, err := inv.ReadAnswer(acc.Token())
	if err != nil {
		return err
	}
	say("answered by %s (the invited Bob)", ans.Answerer)
	as, err := inv.Connect(ctx, ans)
	if err != nil {
		return err
	}
	defer as.Close()
	var bs *session.Session
	select {
	case bs = <-bobCh:
	case err := <-errCh:
		return err
	}
	defer bs.Close()
	say("connected in %v (including gathering, signatures and key confirmation)", time.Since(start).Round(time.Millisecond))
	say("safety code on Alice's side: %s", as.SafetyCode())
	say("safety code on Bob's side:   %s", bs.SafetyCode())
	if as.SafetyCode() != bs.SafetyCode() {
		return errors.New("demo: the safety codes differ")
	}
	say("equal: nobody substituted tokens between them")
	if _, err := inv.ReadAnswer(acc.Token()); err != nil {
		say("the same answer pasted again is refused: %v", err)
	}

	step(6, "They talk, end to end encrypted")
	for _, m := range []struct {
		from, to *session.Session
		who      string
		text     string
	}{{as, bs, "Alice", "Hi Bob! No server in between."}, {bs, as, "Bob", "Hi Alice. The safety codes match."}, {as, bs, "Alice", "Bye!"}} {
		if err := m.from.Send(ctx, []byte(m.text)); err != nil {
			return err
		}
		got, err := m.to.Receive(ctx)
		if err != nil {
			return err
		}
		say("%s: %s", m.who, sanitize(string(got)))
	}

	step(7, "Session stats")
	for _, x := range []struct {
		who string
		s   *session.Session
	}{{"Alice", as}, {"Bob", bs}} {
		st := x.s.Stats()
		say("%s: %s sent, %d received; %s out, %d in; %d rejected", x.who,
			plural(int(st.MessagesSent), "message"), st.MessagesReceived, plural(int(st.RecordsSent), "record"), st.RecordsReceived,
			st.Rejected.AuthFailed+st.Rejected.Replayed+st.Rejected.Malformed+st.Rejected.Stale+st.Rejected.Future+st.Rejected.BadEpoch+st.Rejected.Reflected)
	}
	say("\nNext: sp2p keygen, then sp2p invite / sp2p accept with a friend.")
	return nil
}
