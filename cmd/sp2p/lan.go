package main

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/discovery"
	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// The LAN paths of invite/send and accept/receive: known peers find each
// other with nothing pasted (discovery with their pairwise secret), and a
// short code stands in for the token at first contact. The token is always
// printed too; where multicast is blocked, it is the way.

// lanFlags registers --no-lan (every connecting command) .
func lanFlags(cmd *cobra.Command, f *connFlags) {
	cmd.Flags().BoolVar(&f.noLAN, "no-lan", false, "do not use the local network to find the peer (no beacons, no short code)")
}

// fromFlag registers --from (accept, receive).
func fromFlag(cmd *cobra.Command, f *connFlags) {
	cmd.Flags().StringVar(&f.from, "from", "", "find this known peer's invitation on the local network (`NAME` or ID): nothing to paste")
}

var tokenB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func tokenText(raw []byte) string { return invite.TextPrefix + tokenB32.EncodeToString(raw) }

// lanConfig is discovery's configuration. SP2P_LAN_EPOCH (seconds) sets the
// beacon epoch, for tests that need several epochs in a short time.
func (a *app) lanConfig() discovery.Config {
	var c discovery.Config
	if s := a.getenv("SP2P_LAN_EPOCH"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 1 {
			c.Epoch = time.Duration(n) * time.Second
		}
	}
	return c
}

// lanOff reports whether the LAN is not used: asked so, or the session is
// meant to stay on this machine or to go through a relay only.
func lanOff(f *connFlags) bool { return f.noLAN || f.loopback || f.relayOnly }

// lanHost is the inviter's side on the LAN: answers that came through it,
// as text.
type lanHost struct {
	h       *discovery.Host
	answers chan string
	done    chan struct{}
}

func (l *lanHost) Answers() <-chan string {
	if l == nil {
		return nil
	}
	return l.answers
}

func (l *lanHost) Close() {
	if l == nil {
		return
	}
	close(l.done)
	l.h.Close()
}

// startLAN announces the invitation on the LAN: privately to the recipient
// when the two share a pairing secret, else under a fresh short code,
// which it prints. It says so, and returns nil, when the LAN cannot be
// used.
func (a *app) startLAN(ctx context.Context, f *connFlags, inv *session.Invitation, recipient identity.ID, peers *identity.Peers) *lanHost {
	if lanOff(f) {
		return nil
	}
	var keys []discovery.Key
	var who string
	if !recipient.IsZero() {
		secret, err := a.pairingSecret(recipient)
		if err != nil {
			a.warnf("%v", err)
		}
		if secret != nil {
			k, err := discovery.PeerKey(secret)
			clear(secret)
			if err == nil {
				keys = append(keys, k)
				who, _ = peers.LookupID(recipient)
				who = peerLabel(who, "the recipient")
			}
		}
	}
	code, ck, err := newLANCode()
	if err != nil {
		a.warnf("no short code: %v", err)
	} else if len(keys) == 0 {
		keys = append(keys, ck)
	} else {
		code = ""
	}
	if len(keys) == 0 {
		return nil
	}
	h, err := discovery.NewHost(ctx, a.lanConfig(), discovery.HostParams{
		Offer: inv.Offer().Bytes(), Keys: keys,
		OnWrongCode: func() {
			a.warnf("someone tried a wrong code; the code is used up (the token above still works)")
		},
	})
	if errors.Is(err, discovery.ErrMulticastBlocked) {
		a.warnf("multicast is blocked on this network, so the peer cannot find you on the LAN: send the token above instead")
		a.detailf("%v", err)
		return nil
	}
	if err != nil {
		a.warnf("not using the LAN: %v", err)
		return nil
	}
	l := &lanHost{h: h, answers: make(chan string, 4), done: make(chan struct{})}
	go func() {
		for {
			select {
			case b := <-h.Answers():
				select {
				case l.answers <- tokenText(b):
				case <-l.done:
					return
				}
			case <-l.done:
				return
			}
		}
	}()
	if who != "" {
		cmdName := "accept"
		if inv.Offer().Purpose == invite.PurposeFiles {
			cmdName = "receive"
		}
		a.infof("on this LAN, %s needs nothing pasted: they run 'sp2p %s --from' with your name", sanitize(who), cmdName)
	}
	if code != "" {
		cmdName := "accept"
		if inv.Offer().Purpose == invite.PurposeFiles {
			cmdName = "receive"
		}
		a.infof("short code (on this LAN, one try): %s", code)
		a.infof("  on the same network the other side runs: sp2p %s %s", cmdName, code)
	}
	return l
}

// mergeAnswers makes next (pasted or file answers) and lan (answers that
// came over the LAN) one source: whichever comes first. When next ends
// (stdin closed) the LAN is still waited for.
func mergeAnswers(ctx context.Context, next func() (string, error), lan <-chan string) func() (string, error) {
	if lan == nil {
		return next
	}
	pasted := make(chan lineResult)
	go func() {
		for {
			t, err := next()
			select {
			case pasted <- lineResult{t, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return func() (string, error) {
		for {
			select {
			case r := <-pasted:
				if r.err != nil && ctx.Err() == nil {
					pasted = nil // stdin ended: the LAN may still bring it
					continue
				}
				return r.line, r.err
			case t := <-lan:
				return t, nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
}

// Why the LAN gave no offer, when the token must be pasted instead.
var errLANFallback = errors.New("no invitation over the LAN")

// lanOffer finds the invitation on the LAN: from the known peer id (with
// the pairing secret) or under a short code. It returns the offer as
// text and the exchange that takes the answer back; errLANFallback when
// the LAN cannot be used and the token must be pasted.
func (a *app) lanOffer(ctx context.Context, f *connFlags, code string, from identity.ID, fromName string) (string, *discovery.Exchange, error) {
	var key discovery.Key
	var who string
	if code != "" {
		k, err := lanCodeKey(code)
		if err != nil {
			return "", nil, &usageError{err}
		}
		key, who = k, "the sender of code "+code
	} else {
		secret, err := a.pairingSecret(from)
		if err != nil {
			return "", nil, err
		}
		who = peerLabel(fromName, from.String())
		if secret == nil {
			a.warnf("no LAN pairing with %s yet: connect once with a token (then both sides keep one)", sanitize(who))
			return "", nil, errLANFallback
		}
		key, err = discovery.PeerKey(secret)
		clear(secret)
		if err != nil {
			return "", nil, err
		}
	}
	a.infof("looking for %s on this LAN…", sanitize(who))
	hint := time.AfterFunc(15*time.Second, func() {
		a.infof("nothing found yet: is the invitation still waiting, on this same network? (Wi-Fi client isolation, VLANs and VPNs keep LAN peers apart.) A token works anyway: Ctrl-C, then run this command with the token instead")
	})
	defer hint.Stop()
	ex, err := discovery.Find(ctx, a.lanConfig(), key)
	switch {
	case errors.Is(err, discovery.ErrMulticastBlocked):
		a.warnf("multicast is blocked on this network, so the invitation cannot be found on the LAN")
		a.detailf("%v", err)
		return "", nil, errLANFallback
	case errors.Is(err, discovery.ErrWrongCode):
		return "", nil, &hintError{&plainError{"wrong code: the sender's code did not match, and it is used up now", err}, "ask the sender for a new code, or for the token"}
	case err != nil:
		return "", nil, err
	}
	a.infof("found it at %s", ex.From.Addr())
	return tokenText(ex.Offer), ex, nil
}

// lanSendAnswer takes the answer token back over the LAN (the token is
// printed as well), until ctx ends.
func lanSendAnswer(ctx context.Context, ex *discovery.Exchange, answer string) {
	if ex == nil {
		return
	}
	ans, err := invite.ParseAnswer(answer)
	if err != nil {
		return
	}
	go ex.SendAnswer(ctx, ans.Bytes())
}

// pasteInstead reads the invitation token from stdin after the LAN failed.
func (a *app) pasteInstead(ctx context.Context, f *connFlags) (string, error) {
	if f.pipe {
		return "", &usageError{fmt.Errorf("%w: with --pipe, give the token as an argument or with --offer-file", errLANFallback)}
	}
	a.infof("paste the invitation token (or link) instead, then press Enter:")
	return readPastedToken(ctx, a.stdin)
}
