package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

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
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := io.WriteString(tmp, token+"\n"); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// waitTokenFile waits until path holds a complete token of the wanted kind
// and returns its text. A named pipe is read once, blocking.
func waitTokenFile(ctx context.Context, path string, want invite.Kind) (string, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		fi, err := os.Stat(path)
		if err == nil && fi.Mode()&fs.ModeNamedPipe != 0 {
			return readPipeToken(ctx, path)
		}
		if err == nil {
			b, err := os.ReadFile(path)
			if err == nil && len(b) <= invite.MaxTextSize {
				if kind, _, err := invite.Decode(string(b)); err == nil {
					if kind != want {
						return "", fmt.Errorf("%s holds an %s token, expected an %s", path, kind, want)
					}
					return string(b), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for a token in %s: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}

func readPipeToken(ctx context.Context, path string) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			ch <- res{"", err}
			return
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, invite.MaxTextSize+1))
		ch <- res{string(b), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return "", ctx.Err()
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
