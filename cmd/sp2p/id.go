package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/qr"
)

func (a *app) idCmd() *cobra.Command {
	var showQR, asJSON bool
	var qrStyle string
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print your ID and fingerprint (no passphrase needed)",
		Long: `Print your public ID, which you give to the people you talk to, and its
fingerprint, which two people can compare by eye or read to each other to
make sure the ID was not swapped on its way.`,
		Example: `  sp2p id
  sp2p id --qr
  sp2p id --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := a.idPath()
			if err != nil {
				return err
			}
			style, err := a.qrStyle(qrStyle, a.stdout)
			if err != nil {
				return err
			}
			id, prot, err := identity.ReadPublic(path)
			if err != nil {
				return err
			}
			if prot == identity.Unprotected && !asJSON {
				a.warnf("the key in %s is not encrypted", path)
			}
			if err := a.printID(id, path, prot, asJSON); err != nil {
				return err
			}
			if showQR && !asJSON {
				// Upper case: QR's denser alphanumeric mode.
				q, err := qr.Terminal(strings.ToUpper(id.String()), style)
				if err != nil {
					return err
				}
				_, err = io.WriteString(a.stdout, q)
				return err
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&showQR, "qr", false, "also draw the ID as a QR code")
	cmd.Flags().StringVar(&qrStyle, "qr-style", "auto", "how --qr draws: colors, dark, light or auto (see invite --help)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON: id, fingerprint, path, protection")
	return cmd
}
