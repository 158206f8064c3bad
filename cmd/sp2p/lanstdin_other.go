//go:build !unix

package main

import (
	"context"
	"io"
)

// stopReader returns r: elsewhere a paste read may stay pending.
func stopReader(_ context.Context, r io.Reader) io.Reader { return r }

// drained: nothing to wait for.
func drained(io.Reader) {}
