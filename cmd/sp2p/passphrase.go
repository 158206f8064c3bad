package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/sp2p/sp2p/internal/safefile"
)

const maxPassphraseFile = 4096

var errNoTerminal = errors.New("no terminal to ask for a passphrase")

// passphrase returns the identity passphrase: from --passphrase-file or
// $SP2P_PASSPHRASE_FILE when set, otherwise typed on the terminal without
// echo (twice when confirm is set). It never comes from a command-line
// argument.
func (a *app) passphrase(prompt string, confirm bool) ([]byte, error) {
	file := a.passFile
	if file == "" {
		file = a.getenv("SP2P_PASSPHRASE_FILE")
	}
	if file != "" {
		return readPassphraseFile(file)
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, &hintError{errNoTerminal, "use --passphrase-file FILE (or $SP2P_PASSPHRASE_FILE) in scripts"}
	}
	defer tty.Close()
	ask := func(p string) ([]byte, error) {
		fmt.Fprint(tty, p)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("reading passphrase: %w", err)
		}
		return b, nil
	}
	p, err := ask(prompt)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase (use --no-passphrase for an unencrypted key file)")
	}
	if confirm {
		again, err := ask("Repeat passphrase: ")
		if err != nil {
			return nil, err
		}
		defer clear(again)
		if !bytes.Equal(p, again) {
			clear(p)
			return nil, errors.New("the passphrases do not match")
		}
	}
	return p, nil
}

// readPassphraseFile returns the first line of path. A regular file over
// maxPassphraseFile bytes is refused from its size, before it is read; a
// pipe (such as a shell's <(...)) is read through that limit.
func readPassphraseFile(path string) ([]byte, error) {
	b, err := safefile.ReadFile(path, safefile.Policy{Max: maxPassphraseFile, AllowPipe: true})
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		clear(b[i:])
		b = b[:i]
	}
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("passphrase file %s: the first line is empty", path)
	}
	return b, nil
}
