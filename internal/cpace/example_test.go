package cpace_test

import (
	"bytes"
	"fmt"

	"github.com/sp2p/sp2p/internal/cpace"
)

func ExampleNew() {
	code := []byte("42-adroitness-aardvark-adviser")
	ci := []byte("example channel")
	sid := []byte("a fresh session id")

	// The initiator speaks first.
	a, err := cpace.New(cpace.Initiator, code, ci, sid, []byte("alice"))
	if err != nil {
		panic(err)
	}
	// The responder answers.
	b, err := cpace.New(cpace.Responder, code, ci, sid, []byte("bob"))
	if err != nil {
		panic(err)
	}
	iskB, adA, err := b.Finish(a.Message())
	if err != nil {
		panic(err)
	}
	iskA, adB, err := a.Finish(b.Message())
	if err != nil {
		panic(err)
	}
	fmt.Printf("the initiator got %q, the responder got %q\n", adB, adA)
	fmt.Println("same key:", bytes.Equal(iskA, iskB), len(iskA), "bytes")

	// A State runs once.
	_, _, err = a.Finish(b.Message())
	fmt.Println(err)
	// Output:
	// the initiator got "bob", the responder got "alice"
	// same key: true 64 bytes
	// cpace: Finish already called on this state
}
