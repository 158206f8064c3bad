//go:build !js

package discovery_test

import (
	"context"
	"fmt"

	"github.com/sp2p/sp2p/discovery"
)

// A host announces an offer to the known peer it shares secret with, and
// takes the answer that comes back; the peer finds it with the same
// secret. (Not run: it needs a network that carries multicast.)
func ExampleNewHost() {
	ctx := context.Background()
	secret := make([]byte, discovery.SecretSize) // kept from an earlier session
	key, _ := discovery.PeerKey(secret)
	offer := []byte("a signed offer token")
	h, err := discovery.NewHost(ctx, discovery.Config{}, discovery.HostParams{Offer: offer, Keys: []discovery.Key{key}})
	if err != nil {
		fmt.Println(err) // ErrMulticastBlocked: fall back to pasting the token
		return
	}
	defer h.Close()
	answer := <-h.Answers() // check it as any answer token
	fmt.Println(len(answer))
}

// The invitee's side: find the offer, check it, send the answer back.
func ExampleFind() {
	ctx := context.Background()
	key, _ := discovery.PeerKey(make([]byte, discovery.SecretSize))
	ex, err := discovery.Find(ctx, discovery.Config{}, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ex.Close()
	// ... check ex.Offer as any offer token, make the answer ...
	_ = ex.SendAnswer(ctx, []byte("a signed answer token"))
}
