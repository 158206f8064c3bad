package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
)

func (a *app) keygenCmd() *cobra.Command {
	var noPass, force, asJSON bool
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create a new identity (asks for a passphrase to encrypt it)",
		Long: `Create a new ed25519 identity and save it, encrypted with a passphrase
(age, scrypt), to the identity file. The file is written with mode 0600.
An existing identity is never replaced without --force. A weak passphrase
(short, a common password in it, or of one kind of character) gets a
warning; the identity is made all the same.`,
		Example: `  sp2p keygen
  sp2p keygen --passphrase-file ~/.sp2p-pass
  sp2p keygen --identity ./alice.key --no-passphrase`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := a.idPath()
			if err != nil {
				return err
			}
			opts := identity.SaveOptions{Overwrite: force, InsecureUnencrypted: noPass}
			if !force {
				// Fail before asking for a passphrase.
				if _, _, err := identity.ReadPublic(path); err == nil {
					return &hintError{fmt.Errorf("an identity already exists at %s", path),
						"use --force to replace it (the old identity is then lost), or --identity PATH for another one"}
				}
			}
			if !noPass {
				p, err := a.passphrase("New passphrase for "+path+": ", true)
				if err != nil {
					return err
				}
				defer clear(p)
				opts.Passphrase = p
				if why := weakPassphrase(p); why != "" {
					a.warnf("this passphrase is weak (%s): whoever gets a copy of the identity file can guess it", why)
					a.warnf("for a stronger one, run 'sp2p keygen --force' now, before anyone pins this identity")
				}
			}
			id, err := identity.Generate()
			if err != nil {
				return err
			}
			if err := identity.Save(path, id, opts); err != nil {
				return err
			}
			if noPass {
				a.warnf("the key in %s is NOT encrypted: anyone who can read the file can act as you", path)
			}
			a.infof("new identity saved to %s", path)
			return a.printID(id.ID(), path, protectionOf(noPass), asJSON)
		},
	}
	cmd.Flags().BoolVar(&noPass, "no-passphrase", false, "store the key unencrypted (mode 0600); anyone who reads the file can act as you")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing identity (the old one is lost)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func protectionOf(noPass bool) identity.Protection {
	if noPass {
		return identity.Unprotected
	}
	return identity.Passphrase
}

// idJSON is the --json output of keygen and id.
type idJSON struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Path        string `json:"path"`
	Protection  string `json:"protection"`
}

func (a *app) printID(id identity.ID, path string, prot identity.Protection, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		return enc.Encode(idJSON{ID: id.String(), Fingerprint: id.Fingerprint(), Path: path, Protection: prot.String()})
	}
	_, err := fmt.Fprintf(a.stdout, "%s\nfingerprint: %s\n", id, id.Fingerprint())
	return err
}

// minPassphrase is the length under which a new passphrase is weak.
const minPassphrase = 12

// commonPassphrases are the words and runs that guessers try first; a
// passphrase that contains one (in any case) is weak.
var commonPassphrases = []string{"password", "passwort", "passphrase", "123456", "654321", "qwerty", "azerty",
	"letmein", "welcome", "iloveyou", "admin", "abc123", "111111", "000000", "secret", "sp2p"}

// weakPassphrase says why p is easy to guess, or "" when this simple
// estimate finds nothing: shorter than minPassphrase characters, a common
// word in it, a short one of a single character class (only lowercase
// letters, say), or only a few distinct characters. The reason never
// quotes p.
func weakPassphrase(p []byte) string {
	n := utf8.RuneCount(p)
	if n < minPassphrase {
		return fmt.Sprintf("shorter than %d characters", minPassphrase)
	}
	lower := bytes.ToLower(p)
	defer clear(lower) // a copy of the passphrase
	for _, w := range commonPassphrases {
		if bytes.Contains(lower, []byte(w)) {
			return "it contains a common password"
		}
	}
	distinct := map[rune]bool{}
	classes := map[string]bool{}
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		i += size
		distinct[r] = true
		switch {
		case unicode.IsLower(r):
			classes["lowercase letters"] = true
		case unicode.IsUpper(r):
			classes["uppercase letters"] = true
		case unicode.IsDigit(r):
			classes["digits"] = true
		default:
			classes["symbols"] = true
		}
	}
	if len(distinct) <= 3 {
		return "only a few different characters"
	}
	// A long passphrase of one class (many lowercase words) is fine.
	if len(classes) == 1 && n < 20 {
		for c := range classes {
			return "only " + c
		}
	}
	return ""
}
