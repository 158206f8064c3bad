package session

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/ratelimit"
)

// Why a session ended. Receive returns io.EOF instead of ErrPeerClosed
// once every message has been read.
var (
	ErrClosed       = errors.New("session: closed")
	ErrPeerClosed   = errors.New("session: the peer closed the session")
	ErrPeerLost     = errors.New("session: peer lost")
	ErrProtocol     = errors.New("session: the peer broke the protocol")
	ErrPenalized    = errors.New("session: the peer sent too many invalid records and was disconnected")
	ErrWriteClosed  = errors.New("session: sending was ended with CloseWrite")
	ErrSendAborted  = errors.New("session: a message was cut off while sending; the session ended")
	ErrTransportEnd = fmt.Errorf("%w: the connection ended without a close from the peer", ErrPeerLost)
	// errHeartbeat is ErrPeerLost from the heartbeat: nothing arrived.
	errHeartbeat = fmt.Errorf("%w (nothing received within the heartbeat timeout)", ErrPeerLost)
	// ErrRecordTime ends a session that received an authentic record whose
	// timestamp is outside the allowed window (seal.ErrStale or
	// seal.ErrFuture, wrapped too): the peers' clocks differ by more than
	// the allowed skew, or something held the records back. On a reliable
	// channel dropping it would lose data, so the session ends instead.
	ErrRecordTime = errors.New("session: a record's timestamp is outside the allowed window (are both clocks right?)")
	// ErrReceiveOverflow ends a session whose link cannot hold back the
	// peer (the browser's data channel has no receive backpressure) and
	// received more than it can queue while the application did not read.
	ErrReceiveOverflow = errors.New("session: the peer sent more than this side could queue while the application was not reading")
	// ErrLimiter ends a session whose rate limiter refused a record for a
	// reason other than a penalty (a record larger than the byte burst, no
	// room to track the peer); the limiter's own error is wrapped too.
	ErrLimiter = errors.New("session: the rate limiter refused the peer's record")
)

// Session is an open, end-to-end encrypted, authenticated channel with one
// peer. Send and Receive carry whole messages; Conn gives a net.Conn byte
// stream over the same session. All methods are safe for concurrent use.
// The caller must call Close when done.
type Session struct {
	peer       identity.ID
	purpose    invite.Purpose
	safetyCode string
	sessionID  [seal.SessionIDSize]byte
	trp        atomic.Pointer[trBox] // the transport in use; a resumption replaces it
	res        *resumption           // nil: the session does not resume
	opts       Options
	log        *slog.Logger
	limiter    *ratelimit.Limiter[identity.ID]
	started    time.Time

	wmu         writeLock // guards sealer, writeEnded
	sealer      *seal.Sealer
	writeEnded  bool
	sendq       sendQueue   // messages waiting for the Send that writes (batch.go)
	peerBatches atomic.Bool // the peer announced it reads batch records

	readTr       transport    // reader goroutine only: the transport it reads (a resumption hands it a new one)
	opener       *seal.Opener // reader goroutine only
	reasm        *seal.Reassembler
	rbuf         []byte
	gotFeatures  bool // reader only: the peer's first ping arrived
	readerParked bool // reader only: a move stopped the link it read

	incoming   chan []byte   // closed by the reader when the peer ends or the session fails
	queued     atomic.Int64  // bytes in incoming: only the reader adds, Receive subtracts
	queueSpace chan struct{} // Receive signals here after taking a message
	maxQueued  int64
	peerEnded  atomic.Bool   // the peer sent End or Close: Receive ends with io.EOF
	ended      chan struct{} // closed when peerEnded is set
	endOnce    sync.Once
	pongDue    chan uint64
	lastRecv   atomic.Int64  // UnixNano of the last authenticated record
	delivering atomic.Bool   // the reader waits for the application or the limiter
	stalled    time.Duration // reader only: total time the reader was blocked (limiter, queue)

	done       chan struct{}
	ctx        context.Context // cancelled by shutdown, for waits
	cancelCtx  context.CancelFunc
	readerDone chan struct{} // closed when readLoop returns
	closing    atomic.Bool   // Close is in progress: a transport end is expected
	closeOnce  sync.Once
	errMu      sync.Mutex
	err        error
	wg         sync.WaitGroup

	msgsSent, msgsRecv, bytesSent, bytesRecv, recsSent, recsRecv atomic.Uint64
	rtt                                                          atomic.Int64
	rejected                                                     atomic.Pointer[seal.Stats]
}

func newSession(tr transport, keys *seal.Keys, peer identity.ID, opts *Options, limiter *ratelimit.Limiter[identity.ID]) *Session {
	sealer, opener := seal.New(keys, opts.Seal)
	s := &Session{
		peer: peer, safetyCode: keys.SafetyCode, sessionID: keys.SessionID, opts: *opts,
		log: opts.logger(), limiter: limiter, started: time.Now(),
		sealer: sealer, wmu: newWriteLock(),
		opener: opener, reasm: seal.NewReassembler(opts.Seal), rbuf: make([]byte, recvBufferSize(tr)),
		incoming: make(chan []byte, incomingQueue), queueSpace: make(chan struct{}, 1), maxQueued: int64(opts.maxQueuedBytes()), ended: make(chan struct{}), pongDue: make(chan uint64, 1), done: make(chan struct{}), readerDone: make(chan struct{}),
	}
	s.setTransport(tr)
	s.readTr = tr
	s.ctx, s.cancelCtx = context.WithCancel(context.Background())
	s.lastRecv.Store(time.Now().UnixNano())
	return s
}

// writeLock is the session's write lock: a mutex whose Lock can also
// give up when a context ends (a Send waiting for the lock behind the
// queue writer, which has no context, is bounded by its own).
type writeLock struct{ ch chan struct{} }

func newWriteLock() writeLock { return writeLock{ch: make(chan struct{}, 1)} }

// Lock takes the lock.
func (l writeLock) Lock() { l.ch <- struct{}{} }

// Unlock releases it.
func (l writeLock) Unlock() { <-l.ch }

// TryLock takes the lock if it is free.
func (l writeLock) TryLock() bool {
	select {
	case l.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

// LockContext takes the lock, or returns ctx's error if ctx ends first.
func (l writeLock) LockContext(ctx context.Context) error {
	select {
	case l.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// trBox holds a transport for the atomic pointer.
type trBox struct{ t transport }

// transport returns the transport in use.
func (s *Session) transport() transport { return s.trp.Load().t }

// setTransport replaces the transport in use.
func (s *Session) setTransport(t transport) { s.trp.Store(&trBox{t}) }

// confirm sends the key confirmation (a Confirm record carrying the session
// id, sealed with this side's key) and checks the peer's: the session opens
// only when both sides proved they hold the same keys. An authentic close
// record instead of the peer's confirmation ends the handshake with the
// close's reason (ErrRefused, ErrPeerGaveUp, ErrPeerClosed).
func (s *Session) confirm(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.transport().close() })
	defer stop()
	if err := s.sendRecord(seal.TypeConfirm, s.sessionID[:]); err != nil {
		return fmt.Errorf("%w: sending: %v", ErrKeyConfirmation, ctxErr(ctx, err))
	}
	rec, pooled, err := s.readRecord()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeyConfirmation, ctxErr(ctx, err))
	}
	defer release(pooled)
	typ, pt, err := s.opener.Open(nil, rec)
	if errors.Is(err, seal.ErrStale) || errors.Is(err, seal.ErrFuture) {
		return fmt.Errorf("%w: %w: %w", ErrKeyConfirmation, ErrRecordTime, err)
	}
	if err == nil && typ == seal.TypeClose {
		// An authentic close in place of the confirmation: the peer holds
		// the keys and ends the handshake, with its reason
		// (Invitation.Refuse).
		return closeError(pt)
	}
	if err != nil || typ != seal.TypeConfirm || subtle.ConstantTimeCompare(pt, s.sessionID[:]) != 1 {
		return ErrKeyConfirmation
	}
	s.lastRecv.Store(time.Now().UnixNano())
	return nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (s *Session) start() {
	if s.res != nil {
		stop := watchNetwork(s.log, func() {
			if s.pathAddrGone() {
				s.move(false, errors.New("this machine's address on the path in use went away"))
			}
		})
		s.res.mu.Lock()
		s.res.unwatch = stop
		s.res.mu.Unlock()
		s.notePath()
	}
	s.announceFeatures()
	s.wg.Add(2)
	go s.readLoop()
	go s.heartbeatLoop()
	s.log.Debug("session open", "peer", s.peer.String())
}

// Peer returns the peer's identity, authenticated by the handshake.
func (s *Session) Peer() identity.ID { return s.peer }

// SafetyCode returns the code both people can read to each other: equal
// codes mean nobody substituted tokens between them.
func (s *Session) SafetyCode() string { return s.safetyCode }

// Purpose returns what the invitation of this session was made for (the
// offer's signed purpose).
func (s *Session) Purpose() invite.Purpose { return s.purpose }

// Done is closed when the session has ended; Err then says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it is open.
func (s *Session) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// shutdown ends the session with err (the first reason wins).
func (s *Session) shutdown(err error) {
	s.closeOnce.Do(func() {
		s.errMu.Lock()
		s.err = err
		s.errMu.Unlock()
		close(s.done)
		s.cancelCtx()
		s.transport().close()
		s.endResume()
		if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrPeerClosed) {
			s.log.Warn("session ended", "peer", s.peer.String(), "reason", err.Error())
		}
	})
}

// sendRecord seals one record and writes it.
func (s *Session) sendRecord(typ seal.Type, payload []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.sendRecordLocked(typ, payload)
}

// recordBufs holds record-sized write buffers shared by all sessions, so
// that an idle session holds none.
var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, MaxRecord); return &b }}

func (s *Session) sendRecordLocked(typ seal.Type, payload []byte) error {
	if s.res != nil && typ != seal.TypeAck && s.res.ackPending.Load() {
		s.sendAckLocked()
	}
	bp := recordBufs.Get().(*[]byte)
	defer recordBufs.Put(bp)
	rec, err := s.sealer.Seal((*bp)[:0], typ, payload)
	if err != nil {
		return err
	}
	if err := s.transport().writeMessage(rec); err != nil {
		return err
	}
	s.recsSent.Add(1)
	return nil
}

// Receive returns the next message. It returns io.EOF when the peer has
// ended its side cleanly (CloseWrite or Close) and every message has been
// read, and the reason (ErrPeerLost, ErrPenalized, …) when the session
// failed. Messages that arrived before the end are always delivered first.
func (s *Session) Receive(ctx context.Context) ([]byte, error) {
	return s.receive(ctx.Done(), ctx.Err)
}

func (s *Session) receive(cancel <-chan struct{}, why func() error) ([]byte, error) {
	got := func(m []byte, ok bool) ([]byte, error) {
		if ok {
			s.queued.Add(-int64(len(m)))
			select {
			case s.queueSpace <- struct{}{}:
			default: // the reader has a wake-up pending already
			}
			return m, nil
		}
		if s.peerEnded.Load() {
			return nil, io.EOF
		}
		if err := s.Err(); err != nil {
			return nil, err
		}
		return nil, ErrClosed // never (nil, nil)
	}
	select {
	case m, ok := <-s.incoming:
		return got(m, ok)
	case <-s.ended:
		// Every message sent before the end is already queued: the
		// reader queues each one before it reads the next record.
		select {
		case m, ok := <-s.incoming:
			return got(m, ok)
		default:
			return nil, io.EOF
		}
	case <-cancel:
		return nil, why()
	}
}

// peerEnd records that the peer will send no more data.
func (s *Session) peerEnd() {
	s.endOnce.Do(func() {
		s.peerEnded.Store(true)
		close(s.ended)
	})
}

// CloseWrite ends this side's sending (a half close): the peer's Receive
// returns io.EOF after the last message, and this side can still receive.
func (s *Session) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.writeEnded {
		return nil
	}
	if err := s.Err(); err != nil {
		return err
	}
	if s.closing.Load() {
		return ErrClosed
	}
	if s.sendq.hasPending() {
		// The queued messages go before the end.
		if err := s.flushQueued(context.Background()); err != nil {
			return err
		}
		if err := s.Err(); err != nil {
			return err
		}
	}
	s.writeEnded = true
	if s.resumable() {
		s.res.rtx.add(nil, true)
		if err := s.sendRecordLocked(seal.TypeEnd, nil); err != nil && s.Err() == nil {
			s.move(true, fmt.Errorf("writing: %w", err))
		}
		return nil
	}
	return s.sendRecordLocked(seal.TypeEnd, nil)
}
