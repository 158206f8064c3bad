package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
)

// Coalescing small messages. A Send that finds another Send writing (a
// backlog) leaves its message, copied, in the session's send queue and
// returns at once; the Send that is writing, once its own message is out,
// sends everything queued meanwhile as batch records (seal.TypeBatch,
// several messages in one record and one message of the transport)
// before it returns. A Send that finds nobody writing writes its message
// itself, at once, as before: no timer, no added latency when the sender
// is idle. Messages keep their order: a Send that cannot queue (a large
// message, a full queue) waits for the writer, which flushes the queue
// before it lets go.
//
// Batches go only to a peer that announced it reads them: each side's
// first ping (right after the key confirmation) carries one more byte,
// the features (bit 0: batch records). A peer that does not know it
// ignores a ping of 9 bytes, so such a peer is never sent a batch and
// never confused by one.

// Features, the ninth byte of a ping.
const featureBatch = 0x01

// batchMax is the largest message Send queues into a batch.
const batchMax = 16 << 10

// sendQueue is the queue of messages waiting for the Send that is
// writing.
type sendQueue struct {
	mu      sync.Mutex
	writing bool    // a Send holds wmu, and flushes the queue before it lets go
	pending *[]byte // a batch payload (a record buffer from recordBufs), nil when empty
	n       int     // messages in pending
}

// announceFeatures sends the first ping, with the features byte.
func (s *Session) announceFeatures() {
	buf := s.featuresPing()
	if s.opts.noFeatures {
		if s.res != nil { // a version before features does not resume
			s.res.off.Store(true)
			s.res.rtx.disable()
		}
		s.sendRecord(seal.TypePing, buf[:8])
		return
	}
	s.sendRecord(seal.TypePing, buf[:])
}

// featuresPing is the payload of a ping with this side's features.
func (s *Session) featuresPing() []byte {
	buf := make([]byte, 9)
	binary.BigEndian.PutUint64(buf[:8], uint64(time.Since(s.started)))
	buf[8] = featureBatch
	if s.res != nil {
		buf[8] |= featureResume
	}
	return buf
}

// peerFeatures notes the features of a ping of 9 bytes.
func (s *Session) peerFeatures(f byte) {
	if f&featureBatch != 0 {
		s.peerBatches.Store(true)
	}
	if s.res != nil {
		if f&featureResume != 0 {
			s.res.peerResumes.Store(true)
		} else {
			// The peer cannot resume: the session ends with its link,
			// and keeps nothing for a resumption.
			s.res.off.Store(true)
			s.res.rtx.disable()
		}
	}
}

// enqueue leaves msg for the Send that is writing, if there is one, the
// peer reads batches and the queue has room; false: the caller sends msg
// itself.
func (s *Session) enqueue(msg []byte) bool {
	if len(msg) > batchMax || !s.peerBatches.Load() || s.closing.Load() {
		return false
	}
	q := &s.sendq
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.writing || q.n == seal.MaxBatchMessages {
		return false
	}
	if q.pending == nil {
		q.pending = recordBufs.Get().(*[]byte)
		*q.pending = (*q.pending)[:0]
	}
	if len(*q.pending)+seal.BatchEntryOverhead+len(msg) > maxChunk {
		return false
	}
	if s.resumable() {
		if s.res.isStopped() {
			return false
		}
		// In writing order: the writing Send's own message went in
		// before it let others queue.
		s.res.rtx.add(msg, false)
	}
	*q.pending = seal.AppendBatch(*q.pending, msg)
	q.n++
	return true
}

// startWriting marks that a Send holds wmu (called with wmu held).
func (s *Session) startWriting() {
	s.sendq.mu.Lock()
	s.sendq.writing = true
	s.sendq.mu.Unlock()
}

// flushQueued sends what other Sends queued while this one wrote, until
// the queue is empty, then ends the writing (called with wmu held). A
// failure ends the session: the queued messages can never arrive.
func (s *Session) flushQueued(ctx context.Context) error {
	q := &s.sendq
	for {
		q.mu.Lock()
		bp, n := q.pending, q.n
		q.pending, q.n = nil, 0
		if bp == nil {
			q.writing = false
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		err := s.writeQueued(*bp, n)
		recordBufs.Put(bp)
		if err != nil {
			q.mu.Lock()
			q.writing = false
			if q.pending != nil {
				recordBufs.Put(q.pending)
				q.pending, q.n = nil, 0
			}
			q.mu.Unlock()
			if e := s.Err(); e != nil {
				return e
			}
			if s.closing.Load() {
				return ErrClosed
			}
			if s.resumable() {
				// The queued messages are in the retransmission buffer.
				s.move(true, fmt.Errorf("writing: %w", err))
				return nil
			}
			s.shutdown(fmt.Errorf("%w: queued messages: %v", ErrSendAborted, ctxErr(ctx, err)))
			return s.Err()
		}
	}
}

// writeQueued sends the n messages of the batch payload p: one as a data
// record, more as a batch record.
func (s *Session) writeQueued(p []byte, n int) error {
	typ, payload := seal.TypeBatch, p
	if n == 1 {
		typ, payload = seal.TypeData, p[seal.BatchEntryOverhead:]
	}
	if err := s.sendRecordLocked(typ, payload); err != nil {
		return err
	}
	s.msgsSent.Add(uint64(n))
	s.bytesSent.Add(uint64(len(p) - n*seal.BatchEntryOverhead))
	return nil
}

// errStop ends SplitBatch early: the read loop ends (the session ended,
// or its reason is set).
var errStop = errors.New("session: stop delivering")

// deliverBatch queues the messages of a batch record for Receive, each
// charged to the peer's budget as a message (the record was charged once
// for its bytes, as the first message); false ends the read loop.
func (s *Session) deliverBatch(pt []byte, gen uint64) bool {
	first := true
	err := seal.SplitBatch(pt, func(m []byte) error {
		if !first && !s.chargeMessage() {
			return errStop
		}
		first = false
		if !s.take(gen, len(m)) {
			s.readerParked = true
			return errStop
		}
		if !s.deliver(append([]byte{}, m...)) {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		s.shutdown(fmt.Errorf("%w: %w", ErrProtocol, err))
	}
	return err == nil
}
