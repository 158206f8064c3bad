//go:build js && wasm

// jspeer is a session peer for a browser tab, driven by session's
// browser tests (browser_test.go): it runs the real session package over
// the browser link (pion's js build on the browser's RTCPeerConnection)
// and exposes a few calls on globalThis.jspeer, each returning a Promise.
package main

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

var (
	id   *identity.Identity
	inv  *session.Invitation
	acc  *session.Acceptance
	sess *session.Session
)

// promise runs fn in a goroutine and settles a JavaScript Promise with its
// result (a string) or its error.
func promise(fn func() (string, error)) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer executor.Release()
			v, err := fn()
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(executor)
}

func options(args []js.Value) session.Options {
	var o session.Options
	if len(args) > 0 && args[0].Type() == js.TypeObject {
		if s := args[0].Get("stun"); s.Type() == js.TypeString {
			o.ICEServers = []session.ICEServer{{URLs: []string{s.String()}}}
		}
	}
	return o
}

func main() {
	var err error
	if id, err = identity.Generate(); err != nil {
		panic(err)
	}
	api := map[string]any{
		"id": id.ID().String(),
		"invite": js.FuncOf(func(_ js.Value, args []js.Value) any {
			o := options(args)
			return promise(func() (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var err error
				inv, err = session.Invite(ctx, id, o)
				if err != nil {
					return "", err
				}
				return inv.Token(), nil
			})
		}),
		"apply": js.FuncOf(func(_ js.Value, args []js.Value) any {
			text := args[0].String()
			return promise(func() (string, error) {
				a, err := inv.ReadAnswer(text)
				if err != nil {
					return "", err
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if sess, err = inv.Connect(ctx, a); err != nil {
					return "", err
				}
				return sess.SafetyCode(), nil
			})
		}),
		"accept": js.FuncOf(func(_ js.Value, args []js.Value) any {
			text := args[0].String()
			o := options(args[1:])
			return promise(func() (string, error) {
				offer, err := invite.ParseOffer(text)
				if err != nil {
					return "", err
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if acc, err = session.Accept(ctx, id, offer, o); err != nil {
					return "", err
				}
				return acc.Token(), nil
			})
		}),
		"wait": js.FuncOf(func(_ js.Value, args []js.Value) any {
			return promise(func() (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var err error
				if sess, err = acc.Wait(ctx); err != nil {
					return "", err
				}
				return sess.SafetyCode(), nil
			})
		}),
		"send": js.FuncOf(func(_ js.Value, args []js.Value) any {
			msg := args[0].String()
			return promise(func() (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				return "", sess.Send(ctx, []byte(msg))
			})
		}),
		// echo answers n messages with their reverse and their length.
		"echo": js.FuncOf(func(_ js.Value, args []js.Value) any {
			n := args[0].Int()
			return promise(func() (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
				defer cancel()
				total := 0
				for i := 0; i < n; i++ {
					m, err := sess.Receive(ctx)
					if err != nil {
						return "", fmt.Errorf("message %d: %w", i, err)
					}
					total += len(m)
					if err := sess.Send(ctx, m); err != nil {
						return "", err
					}
				}
				return fmt.Sprint(total), nil
			})
		}),
		"recv": js.FuncOf(func(_ js.Value, args []js.Value) any {
			return promise(func() (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				m, err := sess.Receive(ctx)
				if errors.Is(err, session.ErrPeerClosed) {
					return "", fmt.Errorf("closed: %w", err)
				}
				return string(m), err
			})
		}),
		"close": js.FuncOf(func(_ js.Value, args []js.Value) any {
			return promise(func() (string, error) { return "", sess.Close() })
		}),
	}
	js.Global().Set("jspeer", js.ValueOf(api))
	js.Global().Get("document").Call("getElementById", "status").Set("textContent", "ready")
	select {}
}
