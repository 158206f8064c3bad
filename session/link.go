package session

import (
	"time"

	"github.com/sp2p/sp2p/link"
)

// Errors of connecting, from the link.
var (
	// ErrConnectFailed is returned when the peers could not reach each
	// other or the DTLS handshake between them failed.
	ErrConnectFailed = link.ErrConnectFailed
	// ErrCertificateMismatch is returned when the peer was reached but
	// presented a DTLS certificate whose fingerprint is not the one in its
	// signed token: not a network problem, a possible attack. It does not
	// wrap ErrConnectFailed.
	ErrCertificateMismatch = link.ErrCertificateMismatch
)

// NetworkEvent is a change in the connection under an open session.
type NetworkEvent = link.Event

// Network events.
const (
	NetworkInterrupted = link.Interrupted
	NetworkRecovered   = link.Recovered
	// NetworkMoving: the session's link failed or the network changed;
	// the session is resuming on a new link, and sends wait.
	NetworkMoving = link.Moving
	// NetworkResumed: the session resumed on a new link (Session.Path
	// tells the new path); nothing sent was lost.
	NetworkResumed = link.Resumed
)

// transport carries records: one record per message, in both directions.
// writeMessage blocks while the send buffer is full (backpressure). It is
// the link's channel as the session sees it; tests wrap it to tamper with
// records.
type transport interface {
	readMessage(p []byte) (int, error)
	writeMessage(p []byte) error
	close() error
}

// chanTransport is a link.Channel as a transport.
type chanTransport struct{ c link.Channel }

func (t chanTransport) readMessage(p []byte) (int, error)  { return t.c.ReadMessage(p) }
func (t chanTransport) writeMessage(p []byte) error        { return t.c.WriteMessage(p) }
func (t chanTransport) close() error                       { return t.c.Close() }
func (t chanTransport) setWriteDeadline(d time.Time) error { return t.c.SetWriteDeadline(d) }

// channel is the link's channel.
func (t chanTransport) channel() link.Channel { return t.c }

// tryWriter is the channel as a link.TryWriter, nil if it is not one.
func (t chanTransport) tryWriter() link.TryWriter {
	tw, _ := t.c.(link.TryWriter)
	return tw
}

// keepsShortReads reports whether the channel's ReadMessage, given a
// buffer too small for the next message, fails with io.ErrShortBuffer and
// keeps that message for the next call (pion's SCTP stream does), so a
// session can read into a small buffer first and take a record-sized
// one only for a large record.
func (t chanTransport) keepsShortReads() bool {
	k, ok := t.c.(interface{ KeepsShortReads() bool })
	return ok && k.KeepsShortReads()
}

// makeLink makes a link of the session: Options.Link, or pion. Its
// network events go through events (to the application, and to the
// session once there is one).
func (o *Options) makeLink(cfg link.Config, events *eventRelay) (link.Link, error) {
	cfg.OnNetwork = events.link
	if o.Link != nil {
		return o.Link(cfg)
	}
	return pionLink(o)(cfg)
}
