package transfer

import (
	"io"
)

// Pipelined copying: one goroutine fills buffers (reading a file and
// hashing it on the sender, reading the stream on the receiver) while the
// caller empties them (writing to the stream on the sender, hashing and
// writing to the file on the receiver), so that the disk, the hash and the
// session's sealing overlap instead of taking turns.

const (
	// copyBuffer is the size of one buffer of the pipeline: reads and
	// writes of the files are this large.
	copyBuffer = 1 << 20
	// pipeDepth is the number of buffers of one pipeline.
	pipeDepth = 4
)

// pipe is a ring of buffers reused for every file of a transfer.
type pipe struct {
	free chan []byte
}

func newPipe() *pipe {
	p := &pipe{free: make(chan []byte, pipeDepth)}
	for range pipeDepth {
		p.free <- make([]byte, copyBuffer)
	}
	return p
}

type chunk struct {
	b   []byte
	err error
}

// copy moves n bytes: fill, in a goroutine of its own, reads into a buffer
// (at most its length) and returns how many bytes it read; drain, in the
// caller's goroutine, takes each filled buffer in order. It returns the
// bytes drained and the first error of either. fill must not be called
// again after it returned an error. When drain fails, copy returns at
// once; the goroutine stops after the fill in progress (which may block
// until its source ends, as when it reads a stream that the caller closes
// after such an error) and hands its buffer back.
func (p *pipe) copy(n int64, fill func([]byte) (int, error), drain func([]byte) error) (int64, error) {
	full := make(chan chunk, pipeDepth)
	stop := make(chan struct{})
	go func() {
		defer close(full)
		left := n
		for left > 0 {
			var b []byte
			select {
			case b = <-p.free:
			case <-stop:
				return
			}
			k, err := fill(b[:min(int64(len(b)), left)])
			left -= int64(k)
			if k < len(b) && err == nil && left > 0 {
				err = io.ErrUnexpectedEOF
			}
			full <- chunk{b[:k], err}
			if err != nil {
				return
			}
		}
	}()
	var done int64
	for c := range full {
		var err error
		if len(c.b) > 0 {
			err = drain(c.b)
		}
		p.free <- c.b[:cap(c.b)]
		if err == nil {
			done += int64(len(c.b))
			err = c.err
		}
		if err != nil {
			close(stop)
			go func() { // give back the buffers still in flight
				for c := range full {
					p.free <- c.b[:cap(c.b)]
				}
			}()
			return done, err
		}
	}
	return done, nil
}

// readFull is a fill that reads the whole buffer from r.
func readFull(r io.Reader) func([]byte) (int, error) {
	return func(b []byte) (int, error) {
		k, err := io.ReadFull(r, b)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return k, err
	}
}
