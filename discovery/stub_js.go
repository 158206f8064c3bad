//go:build js

package discovery

import (
	"context"
	"net/netip"
)

// Host is not available in the WebAssembly build.
type Host struct{}

// NewHost returns ErrUnsupported in the WebAssembly build.
func NewHost(context.Context, Config, HostParams) (*Host, error) { return nil, ErrUnsupported }

// Answers returns nil.
func (h *Host) Answers() <-chan []byte { return nil }

// Close does nothing.
func (h *Host) Close() error { return nil }

// Exchange is not available in the WebAssembly build.
type Exchange struct {
	Offer []byte
	From  netip.AddrPort
}

// Find returns ErrUnsupported in the WebAssembly build.
func Find(context.Context, Config, Key) (*Exchange, error) { return nil, ErrUnsupported }

// SendAnswer returns ErrUnsupported.
func (e *Exchange) SendAnswer(context.Context, []byte) error { return ErrUnsupported }

// Close does nothing.
func (e *Exchange) Close() error { return nil }
