package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
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
	tty, err := openTTY()
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

func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPassphraseFile+1))
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if len(b) > maxPassphraseFile {
		return nil, fmt.Errorf("passphrase file %s is longer than %d bytes", path, maxPassphraseFile)
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
