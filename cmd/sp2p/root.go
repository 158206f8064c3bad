package main

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/safetext"
)

// app carries what every command needs: I/O, the environment and the global
// flags. Nothing here is a package global, so commands are testable.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	identityPath string
	passFile     string

	// started is set once a command's own code runs: an error before that
	// is a usage error (unknown command, bad flag, wrong arguments).
	started bool

	// stdinBusy is set while the chat reads lines from stdin.
	stdinBusy atomic.Bool
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sp2p",
		Short: "Serverless, end-to-end encrypted peer-to-peer channels",
		Long: `sp2p connects two people or programs directly over WebRTC data channels,
with no server in between. Connection details travel inside signed
invitation tokens that you paste, link or scan; the channel is end-to-end
encrypted and authenticated by your long-term identities.

New here? 'sp2p demo' shows the whole flow in a few seconds. Then
'sp2p keygen' makes your identity, 'sp2p invite' / 'sp2p accept' connect two
people, and 'sp2p send' / 'sp2p receive' move files.`,
		Example: `  sp2p demo
  sp2p keygen
  sp2p invite --to bob          # Bob runs: sp2p accept SP2P:...
  sp2p send report.pdf          # Bob runs: sp2p receive SP2P:...`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			a.started = true
			return nil
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetVersionTemplate("{{.Version}}\n") // --version prints what 'sp2p version' prints
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.identityPath, "identity", "", "identity file (default $SP2P_IDENTITY, else sp2p/identity in your config directory)")
	pf.StringVar(&a.passFile, "passphrase-file", "", "read the identity passphrase from the first line of `FILE` (default $SP2P_PASSPHRASE_FILE)")

	root.AddCommand(a.keygenCmd(), a.idCmd(), a.peersCmd(), a.inviteCmd(), a.acceptCmd(), a.sendCmd(), a.receiveCmd(), a.benchCmd(), a.relayCmd(), a.resumeCmd(), a.roomCmd(), a.webCmd(), a.demoCmd(), a.versionCmd())
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-validation errors usage errors, recursively.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return &usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// usageCommandPath names the command a usage hint should point to.
func (a *app) usageCommandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return root.Name()
	}
	return c.CommandPath()
}

// idPath returns the identity file to use: --identity, $SP2P_IDENTITY, or
// the default location.
func (a *app) idPath() (string, error) {
	if a.identityPath != "" {
		return a.identityPath, nil
	}
	if p := a.getenv("SP2P_IDENTITY"); p != "" {
		return p, nil
	}
	return identity.DefaultPath()
}

func (a *app) peers() (*identity.Peers, error) {
	p, err := a.idPath()
	if err != nil {
		return nil, err
	}
	return identity.OpenPeers(identity.PeersPath(p))
}

// loadIdentity loads the identity file, asking for its passphrase if needed.
func (a *app) loadIdentity() (*identity.Identity, string, error) {
	path, err := a.idPath()
	if err != nil {
		return nil, "", err
	}
	id, _, err := identity.Load(path, func() ([]byte, error) {
		return a.passphrase(fmt.Sprintf("Passphrase for %s: ", path), false)
	})
	return id, path, err
}

func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "sp2p: warning: "+format+"\n", args...)
}

// detailf prints the detail of the message above it (a library's own
// error, which that message put in other words).
func (a *app) detailf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "sp2p: detail: "+format+"\n", args...)
}

func (a *app) infof(format string, args ...any) {
	fmt.Fprintf(a.stderr, "sp2p: "+format+"\n", args...)
}

// sanitize makes peer- or user-supplied text safe to print on a terminal,
// with the same rules as file names (internal/safetext): control
// characters, line separators and bidi overrides are shown escaped instead
// of being interpreted.
func sanitize(s string) string { return safetext.Escape(s) }
