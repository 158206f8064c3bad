package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
)

func (a *app) peersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "Manage known peers (names pinned to IDs)",
		Long: `Known peers are names you give to IDs you have checked. Once a name is
pinned, sp2p refuses a different ID under that name: that is what a swapped
key looks like. The list is a plain-text file next to your identity
(known_peers), which you may also edit by hand.`,
		Example: `  sp2p peers add bob sp2p1...
  sp2p peers list
  sp2p peers remove bob`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &usageError{fmt.Errorf("missing subcommand: add, list or remove")}
		},
	}
	cmd.AddCommand(a.peersAddCmd(), a.peersListCmd(), a.peersRemoveCmd())
	return cmd
}

func (a *app) peersAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "add NAME ID",
		Short:   "Pin a peer's ID under a name",
		Example: `  sp2p peers add bob sp2p1...`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := identity.CheckPeerName(name); err != nil {
				return &usageError{err}
			}
			id, err := identity.ParseID(args[1])
			if err != nil {
				return &usageError{err}
			}
			p, err := a.peers()
			if err != nil {
				return err
			}
			if err := p.Add(name, id); err != nil {
				return err
			}
			a.infof("pinned %s to %s\nsp2p: fingerprint: %s", name, id, id.Fingerprint())
			return nil
		},
	}
}

func (a *app) peersListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List known peers",
		Example: `  sp2p peers list --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.peers()
			if err != nil {
				return err
			}
			list := p.List()
			if asJSON {
				type row struct {
					identity.Peer
					Fingerprint string `json:"fingerprint"`
				}
				rows := make([]row, 0, len(list))
				for _, peer := range list {
					rows = append(rows, row{peer, peer.ID.Fingerprint()})
				}
				return json.NewEncoder(a.stdout).Encode(rows)
			}
			if len(list) == 0 {
				a.infof("no known peers yet (add one with: sp2p peers add NAME ID)")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tFINGERPRINT")
			for _, peer := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", peer.Name, peer.ID, peer.ID.Fingerprint())
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as a JSON array")
	return cmd
}

func (a *app) peersRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Forget a known peer",
		Example: `  sp2p peers remove bob`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.peers()
			if err != nil {
				return err
			}
			if err := p.Remove(args[0]); err != nil {
				return err
			}
			a.infof("removed %s", sanitize(args[0]))
			return nil
		},
	}
}
