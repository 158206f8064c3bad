package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/link"
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
// writing, or for the session's queue writer.
type sendQueue struct {
	mu      sync.Mutex
	writing bool    // a Send holds wmu, or the queue writer is about to take it, and flushes the queue before it lets go
	pending *[]byte // a batch payload (a record buffer from recordBufs), nil when empty
	n       int     // messages in pending
	// unsent counts the messages whose Send returned nil and that are
	// not yet written (queued, or in the batch being written); dropped
	// those that never will be (Close cut the write short).
	unsent, dropped int
	idle            chan struct{} // closed when writing ends, if a Send waits for that (waitQueue)
}

// endWriting ends the writing (q.mu held) and wakes the Sends waiting
// for it.
func (q *sendQueue) endWriting() {
	q.writing = false
	if q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
}

// waitQueue waits until nobody is writing the queue, or ctx ends.
func (q *sendQueue) waitQueue(ctx context.Context) error {
	q.mu.Lock()
	if !q.writing {
		q.mu.Unlock()
		return nil
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	ch := q.idle
	q.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hasPending reports whether messages are queued.
func (q *sendQueue) hasPending() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending != nil
}

// unsentCount is q.unsent.
func (q *sendQueue) unsentCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.unsent
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
	q.unsent++
	return true
}

// Queueing behind a busy link. A Send that finds nobody writing first
// tries to write its message without waiting (link.TryWriter); pion takes
// a write at once unless the previous one is still in its pending queue,
// not yet taken by its write loop. If the link is busy, a small message is
// queued instead, like one sent behind another Send, and the session's
// queue writer (a goroutine started for the purpose) takes the write lock
// and sends the queue, and what is added to it meanwhile, as batch
// records. So one goroutine sending in a loop coalesces whenever the link
// falls behind, and a message sent alone to an idle link still goes out at
// once, from the Send that sends it.

// deferrable returns the transport's TryWriter if msg may be queued behind
// a busy link, nil if it is written the usual way.
func (s *Session) deferrable(msg []byte) link.TryWriter {
	if len(msg) > batchMax || !s.peerBatches.Load() {
		return nil
	}
	t, ok := s.transport().(interface{ tryWriter() link.TryWriter })
	if !ok {
		return nil
	}
	return t.tryWriter()
}

// tryLocked writes msg if the link takes it without waiting, and then
// what other Sends queued meanwhile; or, if the link is busy and nothing
// is queued yet, queues msg for the queue writer (called with wmu held,
// after Send's checks and startWriting). done false: the caller writes msg
// the usual way (the try failed, and the usual write reports why; or
// other messages queued behind it while it tried).
func (s *Session) tryLocked(ctx context.Context, tw link.TryWriter, msg []byte) (done bool, err error) {
	bp := recordBufs.Get().(*[]byte)
	defer recordBufs.Put(bp)
	ok := true
	if s.res != nil && s.res.ackPending.Load() {
		// The ack is tried too (a blocking write here would not be
		// bounded by ctx); if the link is busy, it stays pending and
		// goes before the queue.
		if ok, err = s.tryAckLocked(tw, bp); err != nil {
			return false, nil
		}
	}
	if ok {
		rec, err := s.sealer.Seal((*bp)[:0], seal.TypeData, msg)
		if err != nil {
			return false, nil
		}
		*bp = rec[:0]
		// A try that is not written leaves its record's sequence number
		// unused: the peer's replay window takes the next one all the
		// same.
		if ok, err = tw.TryWriteMessage(rec); err != nil {
			return false, nil
		}
	}
	if ok {
		s.recsSent.Add(1)
		s.msgsSent.Add(1)
		s.bytesSent.Add(uint64(len(msg)))
		return true, s.flushQueued(ctx)
	}
	q := &s.sendq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending != nil || s.closing.Load() {
		// Others queued behind msg while it tried (it must go first),
		// or Close has begun (and may be waiting for the session's
		// goroutines: no writer starts any more).
		return false, nil
	}
	q.pending = recordBufs.Get().(*[]byte)
	*q.pending = seal.AppendBatch((*q.pending)[:0], msg)
	q.n = 1
	q.unsent++
	s.wg.Add(1)
	go s.writeQueue()
	return true, nil
}

// tryAckLocked tries to write the pending ack (tryLocked), into the
// buffer bp; false: the link is busy and the ack is still pending.
func (s *Session) tryAckLocked(tw link.TryWriter, bp *[]byte) (bool, error) {
	rs := s.res
	v := rs.recvd.Load()
	if !rs.peerResumes.Load() || v <= rs.ackSent {
		rs.ackPending.Store(false)
		return true, nil
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	rec, err := s.sealer.Seal((*bp)[:0], seal.TypeAck, b[:])
	if err != nil {
		return false, err
	}
	*bp = rec[:0]
	ok, err := tw.TryWriteMessage(rec)
	if ok {
		rs.ackPending.Store(false)
		rs.ackSent = v
		s.recsSent.Add(1)
	}
	return ok, err
}

// writeQueue is the queue writer: it takes the write lock and sends what
// is queued.
func (s *Session) writeQueue() {
	defer s.wg.Done()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.flushQueued(context.Background())
}

// markClosing sets closing; under the queue's lock, so that no queue
// writer starts once Close may wait for the session's goroutines.
func (s *Session) markClosing() {
	s.sendq.mu.Lock()
	s.closing.Store(true)
	s.sendq.mu.Unlock()
}

// dropQueuedLocked forgets the queue at a resumption (called with wmu and
// the queue's lock held): its messages are in the retransmission buffer,
// which sends again what the peer did not take.
func (q *sendQueue) dropQueuedLocked() {
	if q.pending != nil {
		recordBufs.Put(q.pending)
		q.unsent -= q.n
		q.pending, q.n = nil, 0
	}
	// Nobody is between startWriting and a flush (wmu is held): a queue
	// writer still to come finds nothing, and a Send from here on must
	// not queue behind a writer that is not there.
	q.endWriting()
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
			q.endWriting()
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		err := s.writeQueued(*bp, n)
		recordBufs.Put(bp)
		q.mu.Lock()
		q.unsent -= n
		q.mu.Unlock()
		if err != nil {
			q.mu.Lock()
			q.endWriting()
			lost := n
			if q.pending != nil {
				recordBufs.Put(q.pending)
				lost += q.n
				q.unsent -= q.n
				q.pending, q.n = nil, 0
			}
			if s.closing.Load() {
				q.dropped += lost
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
