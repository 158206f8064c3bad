package main

import (
	"encoding/json"
	"fmt"

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
An existing identity is never replaced without --force.`,
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
