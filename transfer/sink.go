package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Sink is where ReceiveTo puts what it receives, in place of Receive's
// output directory (which is one Sink). The protocol makes every check
// itself (names, sizes, limits, free space, each file's SHA-256) before
// and while it calls the sink, and a sink cannot weaken them: it only
// says what it already has and stores bytes. Calls come from the one
// goroutine that runs ReceiveTo, in manifest order.
type Sink interface {
	// Plan is asked about each entry of the checked offer before the
	// receiver decides. For a file it returns how many of its first
	// bytes the sink already has, to resume from (0 to e.Size; a sink
	// that cannot resume says 0), or here if it holds a file of e's size
	// under e's name that may be e (have is then e.Size); for a directory
	// 0 and false. The receiver hashes those bytes (Open) and asks the
	// sender whether they are its own: only then is the file resumed or
	// skipped. An error refuses the offer; the sender is told that e's
	// name was refused (a *NameError describes why).
	Plan(e Entry) (have int64, here bool, err error)
	// Open reads the bytes Plan said the sink has of e: the file at e's
	// name (here) or the one to resume from.
	Open(e Entry, here bool) (io.ReadCloser, error)
	// Replace is called when the file Plan said was here is not e (its
	// bytes are not the sender's): nil means it will be received anew
	// (Create from 0, then Commit replaces it); an error (ErrExists for
	// a sink that does not replace files) refuses the offer.
	Replace(e Entry) error
	// Free is how many bytes the sink can still take, or -1 if it cannot
	// tell. An offer that needs more is refused with a *SpaceError.
	Free() int64
	// MakeDir is called for each directory of an accepted offer. An
	// error stops the transfer.
	MakeDir(e Entry) error
	// Create is called for each file of an accepted offer that is not
	// here, with the offset Plan gave. An error stops the transfer.
	Create(e Entry, off int64) (FileWriter, error)
}

// FileWriter takes the bytes of one file for a Sink. Exactly one of
// Commit and Abort ends it.
type FileWriter interface {
	// Write takes the file's bytes from the offset on, in order (the
	// bytes before it are those Open gave, which count toward the
	// SHA-256).
	io.Writer
	// Commit is called when all the bytes are written and the file's
	// SHA-256 matched: the sink keeps the file under its name. An error
	// that wraps ErrDiskFull or ErrIncomplete stops the transfer; any
	// other (ErrExists for a name that was taken meanwhile) fails this
	// file only.
	Commit() error
	// Abort is called when the file cannot be kept. A cause that wraps
	// ErrIntegrity means the content did not match its SHA-256: the sink
	// must drop it. Otherwise the bytes stopped (ErrIncomplete): the sink
	// may keep what it has to resume from later, and a non-nil error
	// (which should say what it kept) is reported instead of cause.
	Abort(cause error) error
}

// ReceivedFile is a file a MemorySink received, its SHA-256 checked.
type ReceivedFile struct {
	Path   string // as offered: slash-separated, checked by CheckName (use Quote to print it)
	Data   []byte
	SHA256 string // hex, lower case
	Exec   bool
}

// MemorySink is a Sink that keeps the files it receives in memory, at
// most a cap of bytes in all (the files' content; the memory it takes is
// that plus small buffers): an offer that needs more than what is left of
// the cap is refused before anything is accepted (a *SpaceError, so
// errors.Is(err, ErrNoSpace)). Directories are not kept (a file's path
// names its directories). It cannot resume, and refuses a name it already
// holds (ErrExists). It may take several transfers in turn.
type MemorySink struct {
	mu    sync.Mutex
	max   int64
	used  int64 // by the files held and the one being received
	files []ReceivedFile
	names map[string]bool
}

// NewMemorySink returns an empty MemorySink that holds at most max bytes
// (the zero MemorySink holds none).
func NewMemorySink(max int64) *MemorySink {
	return &MemorySink{max: max, names: map[string]bool{}}
}

// Files returns the files received so far, in the order they arrived.
func (s *MemorySink) Files() []ReceivedFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ReceivedFile(nil), s.files...)
}

// Plan refuses a name the sink holds; it has nothing to resume.
func (s *MemorySink) Plan(e Entry) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !e.Dir && s.names[e.Path] {
		return 0, false, &NameError{Name: e.Path, Problem: "exists", Err: ErrExists}
	}
	return 0, false, nil
}

// Open has nothing to read: Plan never says the sink has bytes.
func (s *MemorySink) Open(e Entry, _ bool) (io.ReadCloser, error) {
	return nil, fmt.Errorf("%w: a memory sink has nothing of %s", ErrIncomplete, Quote(e.Path))
}

// Replace refuses: Plan never says a file is here.
func (s *MemorySink) Replace(e Entry) error {
	return &NameError{Name: e.Path, Problem: "exists", Err: ErrExists}
}

// Free is what is left of the cap.
func (s *MemorySink) Free() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.max-s.used, 0)
}

// MakeDir does nothing: a MemorySink keeps files only.
func (s *MemorySink) MakeDir(Entry) error { return nil }

// Create reserves e.Size bytes of the cap and a buffer of that size.
func (s *MemorySink) Create(e Entry, off int64) (FileWriter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case off != 0:
		return nil, fmt.Errorf("%w: a memory sink cannot resume %s", ErrIncomplete, Quote(e.Path))
	case s.names[e.Path]:
		return nil, &NameError{Name: e.Path, Problem: "exists", Err: ErrExists}
	case e.Size < 0 || e.Size > s.max-s.used:
		return nil, &SpaceError{Need: e.Size, Free: max(s.max-s.used, 0)}
	}
	s.used += e.Size
	if s.names == nil {
		s.names = map[string]bool{}
	}
	s.names[e.Path] = true
	return &memoryFile{s: s, e: e, data: make([]byte, 0, e.Size)}, nil
}

// memoryFile is one file being received into a MemorySink.
type memoryFile struct {
	s    *MemorySink
	e    Entry
	data []byte
	done bool
}

var errPastSize = errors.New("transfer: more bytes than the file's size")

func (w *memoryFile) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("transfer: write after the end of the file")
	}
	if int64(len(p)) > w.e.Size-int64(len(w.data)) {
		return 0, errPastSize
	}
	w.data = append(w.data, p...)
	return len(p), nil
}

func (w *memoryFile) Commit() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.done {
		return errors.New("transfer: the file was already ended")
	}
	w.done = true
	sum := sha256.Sum256(w.data)
	w.s.files = append(w.s.files, ReceivedFile{Path: w.e.Path, Data: w.data, SHA256: hex.EncodeToString(sum[:]), Exec: w.e.Exec})
	return nil
}

// Abort drops the bytes and gives their room back.
func (w *memoryFile) Abort(error) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if !w.done {
		w.done = true
		w.s.used -= w.e.Size
		delete(w.s.names, w.e.Path)
		w.data = nil
	}
	return nil
}
