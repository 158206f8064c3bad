package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sp2p/sp2p/internal/safefile"
)

const maxPassphraseFile = 4096

var errNoTerminal = errors.New("no terminal to ask for a passphrase")

// passphrase returns the identity passphrase: from --passphrase-file or
// $SP2P_PASSPHRASE_FILE when set, otherwise typed on the terminal without
// echo. It never comes from a command-line argument. With confirm, the
// passphrase is a new one (keygen): it is asked twice, and the advice for
// giving none is --no-passphrase; without, it opens an existing identity.
// Ctrl-C at the prompt returns errInterrupted.
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
	none := func(what string) error {
		if confirm {
			return &hintError{errors.New(what), "use --no-passphrase for an unencrypted key file"}
		}
		return &hintError{errors.New(what), "your identity file is encrypted: type its passphrase, or give --passphrase-file FILE (or $SP2P_PASSPHRASE_FILE)"}
	}
	p, err := askSecret(tty, prompt)
	if errors.Is(err, errNoInput) {
		return nil, none("no passphrase given (Ctrl-D)")
	}
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, none("empty passphrase")
	}
	if confirm {
		again, err := askSecret(tty, "Repeat passphrase: ")
		defer clear(again)
		if err != nil || !bytes.Equal(p, again) {
			clear(p)
		}
		if errors.Is(err, errNoInput) {
			return nil, errors.New("the passphrase was not repeated (Ctrl-D)")
		}
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(p, again) {
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
