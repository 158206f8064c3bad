package main

import (
	"bufio"
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
				if err == nil {
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

// readPastedToken reads lines from r until they hold a complete token
// (mail and chat programs may have broken it over several lines).
func readPastedToken(ctx context.Context, r io.Reader) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 4096), invite.MaxTextSize)
		var acc strings.Builder
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			acc.WriteString(line)
			if acc.Len() > invite.MaxTextSize {
				ch <- res{"", errors.New("the pasted text is too long to be a token")}
				return
			}
			if _, _, err := invite.Decode(acc.String()); err == nil {
				ch <- res{acc.String(), nil}
				return
			}
		}
		err := sc.Err()
		if err == nil {
			err = errors.New("input ended before a complete token")
		}
		ch <- res{"", err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
