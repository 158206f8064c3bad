package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/sp2p/sp2p/internal/safefile"
	"github.com/sp2p/sp2p/invite"
)

// writeTokenFile writes a token to path atomically (a temporary file in
// the same directory, then a rename), so a reader never sees half a token.
// A named pipe is written directly.
func writeTokenFile(path, token string) error {
	if fi, err := os.Stat(path); err == nil && fi.Mode()&fs.ModeNamedPipe != 0 {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = io.WriteString(f, token+"\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	// Written whole or not at all, synced, replacing an older token file:
	// the same atomic writer as the identity file's.
	return safefile.WriteAtomic(path, []byte(token+"\n"), 0o644, true)
}

// waitTokenFile waits until path holds a complete token of the wanted kind
// and returns its text. A regular file larger than a token can be
// (invite.MaxTextSize) is refused from its size, before it is read; a named
// pipe or a character device is read once, through that limit, and the
// wait ends when ctx does.
func waitTokenFile(ctx context.Context, path string, want invite.Kind) (string, error) {
	return waitNewTokenFile(ctx, path, want, "")
}

// waitNewTokenFile is waitTokenFile passing over a regular file that still
// holds old (a token already refused): it waits for the file to change.
func waitNewTokenFile(ctx context.Context, path string, want invite.Kind, old string) (string, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		fi, err := os.Stat(path)
		if err == nil {
			switch mode := fi.Mode(); {
			case mode.IsRegular():
				b, err := readTokenRegular(path, fi)
				if errors.Is(err, invite.ErrLimit) {
					return "", err
				}
				if err == nil && (old == "" || string(b) != old) {
					if kind, _, err := invite.Decode(string(b)); err == nil {
						if kind != want {
							return "", fmt.Errorf("%s holds an %s token, expected an %s", path, kind, want)
						}
						return string(b), nil
					}
				}
			case mode&(fs.ModeNamedPipe|fs.ModeCharDevice) != 0:
				return readPipeToken(ctx, path)
			default:
				return "", fmt.Errorf("%s is not a file or a named pipe (%s)", path, mode.Type())
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for a token in %s: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

// tooLarge is the error for a token file over invite.MaxTextSize bytes.
func tooLarge(path string, size int64) error {
	what := fmt.Sprintf("%d bytes", size)
	if size < 0 {
		what = "more bytes"
	}
	return fmt.Errorf("%w: %s is too large to be a token: %s, a token has at most %d", invite.ErrLimit, path, what, invite.MaxTextSize)
}

// readTokenRegular reads a regular token file whose Stat was fi.
func readTokenRegular(path string, fi fs.FileInfo) ([]byte, error) {
	if fi.Size() > invite.MaxTextSize {
		return nil, tooLarge(path, fi.Size())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if fi.Size() > invite.MaxTextSize {
		return nil, tooLarge(path, fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, invite.MaxTextSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > invite.MaxTextSize {
		return nil, tooLarge(path, -1)
	}
	return b, nil
}

func readPipeToken(ctx context.Context, path string) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		// Opening a pipe blocks until a writer comes; the select below
		// stops waiting when ctx ends.
		f, err := os.Open(path)
		if err != nil {
			ch <- res{"", err}
			return
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, invite.MaxTextSize+1))
		if err == nil && len(b) > invite.MaxTextSize {
			err = tooLarge(path, -1)
		}
		ch <- res{string(b), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for a token in %s: %w", path, ctx.Err())
	}
}

// pasteIdle is how long a paste may pause before sp2p says that the token
// so far is incomplete.
const pasteIdle = time.Second

// pasteReader reads pasted tokens line by line. It reads one byte at a
// time, so that nothing after a token's last line is consumed: what
// follows on stdin (the chat, data) is left for whoever reads it next.
type pasteReader struct {
	r       io.Reader
	pending chan lineResult // the line being read, while a read is under way
}

type lineResult struct {
	line string
	err  error
}

func newPasteReader(r io.Reader) *pasteReader { return &pasteReader{r: r} }

// readPastedToken reads one pasted token from r (see pasteReader.token).
func readPastedToken(ctx context.Context, r io.Reader) (string, error) {
	return newPasteReader(r).token(ctx, nil)
}

// token reads lines until they hold a whole token (mail and chat programs
// break long tokens over several lines), or text that no more lines can
// make a token (see invite.Incomplete), or a blank line after some text,
// or the end of the input. It returns the text read, which the caller
// parses and so says why it is not a token. When the input pauses with
// the token still incomplete, it calls partial (if not nil) with the
// number of characters so far.
func (p *pasteReader) token(ctx context.Context, partial func(chars int)) (string, error) {
	var acc strings.Builder
	for {
		var idle func()
		if n := acc.Len(); n > 0 && partial != nil {
			idle = func() { partial(n) }
		}
		line, err := p.line(ctx, idle)
		if errors.Is(err, io.EOF) {
			if acc.Len() > 0 {
				return acc.String(), nil
			}
			return "", errors.New("input ended before a complete token")
		}
		if err != nil {
			return "", err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			if acc.Len() > 0 {
				return acc.String(), nil
			}
			continue
		}
		acc.WriteString(line)
		if acc.Len() > invite.MaxTextSize || !invite.Incomplete(acc.String()) {
			return acc.String(), nil
		}
	}
}

// line returns the next line, without its end. A read that ctx interrupts
// goes on, and the next call gets its line. idle, if not nil, is called
// once if no line comes within pasteIdle.
func (p *pasteReader) line(ctx context.Context, idle func()) (string, error) {
	if p.pending == nil {
		ch := make(chan lineResult, 1)
		p.pending = ch
		go func() { ch <- readLineBytes(p.r) }()
	}
	var timeout <-chan time.Time
	if idle != nil {
		t := time.NewTimer(pasteIdle)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case r := <-p.pending:
			p.pending = nil
			return r.line, r.err
		case <-ctx.Done():
			return "", ctx.Err()
		case <-timeout:
			idle()
			timeout = nil
		}
	}
}

// readLineBytes reads one line from r a byte at a time. It keeps at most
// invite.MaxTextSize+1 bytes of it (enough for the decoder to refuse a
// line that is too long); a last line without its end is a line.
func readLineBytes(r io.Reader) lineResult {
	var b []byte
	var c [1]byte
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				return lineResult{string(b), nil}
			}
			if len(b) <= invite.MaxTextSize {
				b = append(b, c[0])
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(b) > 0 {
				return lineResult{string(b), nil}
			}
			return lineResult{"", err}
		}
	}
}
