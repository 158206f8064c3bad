package seal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record format, version 1 (SECURITY.md, "Records"):
//
//	offset size
//	0      1    version (1)
//	1      1    type
//	2      1    direction: the sender's role (0 offerer, 1 answerer)
//	3      1    reserved, zero
//	4      4    key epoch
//	8      8    sequence number
//	16     8    sender timestamp, Unix milliseconds
//	24     24   XChaCha20 nonce (random)
//	48     n+16 ciphertext and Poly1305 tag
//
// Bytes 0..23 (the header) are the AEAD's associated data.
const (
	Version       = 1
	HeaderSize    = 24
	NonceSize     = chacha20poly1305.NonceSizeX
	TagSize       = chacha20poly1305.Overhead
	Overhead      = HeaderSize + NonceSize + TagSize
	MaxPayload    = 64 << 10
	MaxRecordSize = MaxPayload + Overhead
	MinRecordSize = Overhead

	// RejectAfterSequence is the last sequence number a sender may use:
	// a session ends before its counter could wrap.
	RejectAfterSequence = math.MaxUint64 - 1
	// RejectAfterEpoch is the last key epoch.
	RejectAfterEpoch = math.MaxUint32
)

// Type is a record type.
type Type uint8

// Record types.
const (
	TypeData     Type = 1 // a whole application message
	TypeFragment Type = 2 // a part of a larger message (see Reassembler)
	TypePing     Type = 3
	TypePong     Type = 4
	TypeClose    Type = 5 // the sender closes the session
	TypeConfirm  Type = 6 // key confirmation, the first record each way
	TypeEnd      Type = 7 // the sender sends no more application data (half close)
	// TypeBatch carries several whole application messages (see
	// AppendBatch); sent only to a peer that announced it reads them.
	TypeBatch Type = 8
	// TypeAck acknowledges how many application messages the sender has
	// taken (a resumable session's; sent only to a peer that announced
	// it resumes).
	TypeAck Type = 9
	maxType      = TypeAck
)

func (t Type) String() string {
	switch t {
	case TypeData:
		return "data"
	case TypeFragment:
		return "fragment"
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	case TypeClose:
		return "close"
	case TypeConfirm:
		return "confirm"
	case TypeEnd:
		return "end"
	case TypeAck:
		return "ack"
	case TypeBatch:
		return "batch"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Errors of Seal and Open. Each rejected record is counted in [Stats].
var (
	ErrMalformed         = errors.New("seal: malformed record")
	ErrReflected         = errors.New("seal: record came from this side (reflected)")
	ErrEpoch             = errors.New("seal: record from an unknown or expired key epoch")
	ErrAuth              = errors.New("seal: record does not authenticate")
	ErrReplay            = errors.New("seal: record replayed or outside the replay window")
	ErrStale             = errors.New("seal: record timestamp is too old")
	ErrFuture            = errors.New("seal: record timestamp is too far in the future")
	ErrSequenceExhausted = errors.New("seal: sequence numbers exhausted; start a new session")
	ErrPayloadTooLarge   = errors.New("seal: payload larger than one record")
)

// Config holds the record layer's settings. The zero value uses the
// documented defaults.
type Config struct {
	// MaxAge is how old a record's timestamp may be. Default 2 minutes.
	MaxAge time.Duration
	// MaxFutureSkew is how far ahead of the local clock a record's
	// timestamp may be. Default 2 minutes.
	MaxFutureSkew time.Duration
	// RekeyAfterRecords moves the sender to the next key epoch after this
	// many records. Default 1<<24.
	RekeyAfterRecords uint64
	// RekeyAfterTime moves the sender to the next key epoch after this
	// long. Default 2 minutes.
	RekeyAfterTime time.Duration
	// PreviousKeyGrace is how long a receiver still opens records of the
	// previous epoch after it saw the first record of a new one. Default 15s.
	PreviousKeyGrace time.Duration
	// MaxMessageSize bounds an application message. Default 16 MiB.
	MaxMessageSize int
	// MaxPendingMessages bounds how many fragmented messages may be in
	// reassembly at once. Default 4.
	MaxPendingMessages int
	// MaxReassemblyBytes bounds the memory of messages in reassembly.
	// Default 32 MiB; at least MaxMessageSize.
	MaxReassemblyBytes int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMaxAge             = 2 * time.Minute
	DefaultMaxFutureSkew      = 2 * time.Minute
	DefaultRekeyAfterRecords  = 1 << 24
	DefaultRekeyAfterTime     = 2 * time.Minute
	DefaultPreviousKeyGrace   = 15 * time.Second
	DefaultMaxMessageSize     = 16 << 20
	DefaultMaxPendingMessages = 4
	DefaultMaxReassemblyBytes = 32 << 20
)

func (c Config) withDefaults() Config {
	set := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&c.MaxAge, DefaultMaxAge)
	set(&c.MaxFutureSkew, DefaultMaxFutureSkew)
	set(&c.RekeyAfterTime, DefaultRekeyAfterTime)
	set(&c.PreviousKeyGrace, DefaultPreviousKeyGrace)
	if c.RekeyAfterRecords == 0 {
		c.RekeyAfterRecords = DefaultRekeyAfterRecords
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxPendingMessages <= 0 {
		c.MaxPendingMessages = DefaultMaxPendingMessages
	}
	if c.MaxReassemblyBytes <= 0 {
		c.MaxReassemblyBytes = DefaultMaxReassemblyBytes
	}
	c.MaxReassemblyBytes = max(c.MaxReassemblyBytes, c.MaxMessageSize)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// New returns the sealing and opening halves of a session's record layer.
// Each half is for one goroutine at a time. keys are copied; the caller may
// erase them afterwards.
func New(keys *Keys, cfg Config) (*Sealer, *Opener) {
	cfg = cfg.withDefaults()
	s := &Sealer{cfg: cfg, dir: keys.Role, rand: rand.Reader}
	s.state.init(&keys.send, 0)
	s.epochStart = cfg.Now()
	o := &Opener{cfg: cfg, role: keys.Role}
	o.cur.init(&keys.recv, 0)
	return s, o
}

// Sealer seals outgoing records. It is not safe for concurrent use.
type Sealer struct {
	cfg          Config
	dir          Role
	state        aeadState
	seq          uint64
	epochRecords uint64
	epochStart   time.Time
	msgID        uint32

	rand    io.Reader // crypto/rand; replaced only in tests
	randBuf [32 * NonceSize]byte
	randPos int
}

// Seal appends a record of type typ carrying payload to dst and returns the
// extended slice. With enough capacity in dst it does not allocate. dst
// must not overlap payload.
func (s *Sealer) Seal(dst []byte, typ Type, payload []byte) ([]byte, error) {
	if typ == 0 || typ > maxType {
		panic("seal: invalid record type")
	}
	if len(payload) > MaxPayload {
		return dst, fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(payload), MaxPayload)
	}
	if s.seq > RejectAfterSequence {
		return dst, ErrSequenceExhausted
	}
	start := len(dst)
	dst, nonce, err := s.prepare(dst, typ)
	if err != nil {
		return dst, err
	}
	dst = s.state.aead.Seal(dst, nonce, payload, dst[start:start+HeaderSize])
	s.seq++
	s.epochRecords++
	return dst, nil
}

// prepare appends the header and a fresh nonce for the next record to dst,
// rekeying first when it is time.
func (s *Sealer) prepare(dst []byte, typ Type) ([]byte, []byte, error) {
	if s.seq > RejectAfterSequence {
		return dst, nil, ErrSequenceExhausted
	}
	now := s.cfg.Now()
	if s.epochRecords >= s.cfg.RekeyAfterRecords || now.Sub(s.epochStart) >= s.cfg.RekeyAfterTime {
		if err := s.rekey(now); err != nil {
			return dst, nil, err
		}
	}
	start := len(dst)
	dst = appendHeader(dst, typ, s.dir, s.state.epoch, s.seq, uint64(max(now.UnixMilli(), 0)))
	if _, err := s.fillNonce(); err != nil {
		return dst[:start], nil, err
	}
	dst = append(dst, s.randBuf[s.randPos-NonceSize:s.randPos]...)
	return dst, dst[len(dst)-NonceSize:], nil
}

// Rekey moves to the next key epoch now, ratcheting the key forward and
// erasing the old one. Seal also does this on its own after
// RekeyAfterRecords records or RekeyAfterTime.
func (s *Sealer) Rekey() error { return s.rekey(s.cfg.Now()) }

func (s *Sealer) rekey(now time.Time) error {
	if s.state.epoch >= RejectAfterEpoch {
		return ErrSequenceExhausted
	}
	key := s.state.key
	ratchet(&key)
	epoch := s.state.epoch + 1
	s.state.erase()
	s.state.init(&key, epoch)
	clear(key[:])
	s.epochRecords, s.epochStart = 0, now
	return nil
}

// Epoch returns the current key epoch.
func (s *Sealer) Epoch() uint32 { return s.state.epoch }

// fillNonce advances to the next unused nonce in randBuf, refilling it from
// crypto/rand when it runs out (one read per 32 records).
func (s *Sealer) fillNonce() (int, error) {
	if s.randPos == 0 || s.randPos+NonceSize > len(s.randBuf) {
		if _, err := io.ReadFull(s.rand, s.randBuf[:]); err != nil {
			return 0, fmt.Errorf("seal: reading randomness: %w", err)
		}
		s.randPos = 0
	}
	s.randPos += NonceSize
	return s.randPos, nil
}

func appendHeader(dst []byte, typ Type, dir Role, epoch uint32, seq, ts uint64) []byte {
	dst = append(dst, Version, byte(typ), byte(dir), 0)
	dst = binary.BigEndian.AppendUint32(dst, epoch)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return binary.BigEndian.AppendUint64(dst, ts)
}

// Stats counts what an Opener accepted and rejected, by reason.
type Stats struct {
	Opened        uint64
	Malformed     uint64
	Reflected     uint64
	BadEpoch      uint64
	AuthFailed    uint64
	Replayed      uint64
	Stale         uint64
	Future        uint64
	Rekeys        uint64 // epochs the receiver moved forward
	CurrentEpoch  uint32
	NewestSeqSeen uint64
}

// Opener opens incoming records. It is not safe for concurrent use.
type Opener struct {
	cfg       Config
	role      Role
	cur, prev aeadState
	prevUntil time.Time // prev is usable until then; zero: no prev
	next      aeadState // scratch for a record of the next epoch
	filter    replayFilter
	stats     Stats
	ageExtra  time.Duration // SetAgeAllowance
}

// SetAgeAllowance lets records be older than MaxAge by d more: the time
// the receiver itself did not read (backpressure), during which records
// the peer had sealed waited in the transport. Sessions set it to the
// total time their reader was blocked.
func (o *Opener) SetAgeAllowance(d time.Duration) { o.ageExtra = max(d, 0) }

// Open authenticates and decrypts record, appends the payload to dst and
// returns the record type and the extended slice. It checks, in order: the
// length and fixed header fields (ErrMalformed), the direction
// (ErrReflected), the key epoch (ErrEpoch), authentication (ErrAuth), the
// replay window (ErrReplay) and the timestamp (ErrStale, ErrFuture). A
// rejected record changes nothing but the counters: only an accepted record
// marks its sequence number, moves the replay window or moves the receive
// epoch forward. With enough capacity
// in dst it does not allocate (except once per key epoch).
func (o *Opener) Open(dst, record []byte) (Type, []byte, error) {
	if len(record) < MinRecordSize || len(record) > MaxRecordSize ||
		record[0] != Version || record[3] != 0 || record[1] == 0 || Type(record[1]) > maxType {
		o.stats.Malformed++
		return 0, dst, ErrMalformed
	}
	if Role(record[2]) != o.role^1 {
		if Role(record[2]) == o.role {
			o.stats.Reflected++
			return 0, dst, ErrReflected
		}
		o.stats.Malformed++
		return 0, dst, ErrMalformed
	}
	typ := Type(record[1])
	epoch := binary.BigEndian.Uint32(record[4:8])
	seq := binary.BigEndian.Uint64(record[8:16])
	ts := binary.BigEndian.Uint64(record[16:24])
	header, nonce, ct := record[:HeaderSize], record[HeaderSize:HeaderSize+NonceSize], record[HeaderSize+NonceSize:]
	now := o.cfg.Now()
	if o.prev.aead != nil && !now.Before(o.prevUntil) {
		o.prev.erase() // the grace period is over
	}

	var st *aeadState
	switch {
	case epoch == o.cur.epoch:
		st = &o.cur
	case epoch+1 == o.cur.epoch && o.prev.aead != nil && now.Before(o.prevUntil):
		st = &o.prev
	case epoch == o.cur.epoch+1 && o.cur.epoch < RejectAfterEpoch:
		key := o.cur.key
		ratchet(&key)
		o.next.init(&key, epoch)
		clear(key[:])
		st = &o.next
	default:
		o.stats.BadEpoch++
		return 0, dst, ErrEpoch
	}
	out, err := st.aead.Open(dst, nonce, ct, header)
	if err != nil {
		if st == &o.next {
			o.next.erase()
		}
		o.stats.AuthFailed++
		return 0, dst, ErrAuth
	}
	// From here on the record is authentic, but it changes no state until
	// every check has passed: a replayed, stale or future record neither
	// marks its sequence number nor moves the window or the epoch.
	reject := func(counter *uint64, err error) (Type, []byte, error) {
		clear(out[len(dst):])
		if st == &o.next {
			o.next.erase()
		}
		*counter++
		return 0, dst, err
	}
	if !o.filter.fresh(seq) {
		return reject(&o.stats.Replayed, ErrReplay)
	}
	if nowMs := uint64(max(now.UnixMilli(), 0)); ts > nowMs {
		if ts-nowMs > uint64(o.cfg.MaxFutureSkew.Milliseconds()) {
			return reject(&o.stats.Future, ErrFuture)
		}
	} else if nowMs-ts > uint64((o.cfg.MaxAge + o.ageExtra).Milliseconds()) {
		return reject(&o.stats.Stale, ErrStale)
	}
	o.filter.mark(seq)
	if st == &o.next { // the peer moved to the next epoch: follow it
		o.prev.erase()
		o.prev, o.cur = o.cur, o.next
		o.next = aeadState{}
		o.prevUntil = now.Add(o.cfg.PreviousKeyGrace)
		o.stats.Rekeys++
		o.stats.CurrentEpoch = o.cur.epoch
	}
	if seq > o.stats.NewestSeqSeen {
		o.stats.NewestSeqSeen = seq
	}
	o.stats.Opened++
	return typ, out, nil
}

// Stats returns the counters.
func (o *Opener) Stats() Stats { return o.stats }

// Epoch returns the receiver's current key epoch.
func (o *Opener) Epoch() uint32 { return o.cur.epoch }

// Erase overwrites the sealer's key (a session that moved to new keys
// drops the old ones); the sealer must not be used afterwards. As with
// rekeying, the AEAD instance keeps its own copy, which Go cannot erase;
// it is dropped with the sealer.
func (s *Sealer) Erase() {
	if s != nil {
		s.state.erase()
	}
}

// Erase overwrites the opener's keys; it must not be used afterwards.
func (o *Opener) Erase() {
	if o != nil {
		o.cur.erase()
		o.prev.erase()
		o.next.erase()
	}
}
