package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/relay"
)

func (a *app) relayCmd() *cobra.Command {
	var listen, relayIP, ports, realm, user, passFile string
	var maxAlloc int
	var allowPeers []string
	cmd := &cobra.Command{
		Use:   "relay --relay-ip IP --user NAME",
		Short: "Run a TURN relay for peers that cannot reach each other directly",
		Long: `Run your own TURN relay (pion/turn) on a machine both peers can reach, for
when both sit behind networks that block direct connections (symmetric NAT,
strict firewalls). The relay only forwards encrypted packets: it sees
addresses, timing and sizes, never content, and cannot alter what sp2p
delivers. The password comes from $SP2P_TURN_PASSWORD or --password-file,
never from the command line.

The relay serves TURN over UDP and over TCP on the same port; a peer whose
firewall blocks UDP uses the ?transport=tcp form. Relayed traffic is UDP
only.

The relay will not carry traffic into its own network: peers on loopback,
private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
cloud metadata), CGNAT (100.64/10), multicast, broadcast, documentation and
benchmark ranges, and this machine's own addresses are refused. --allow-peer
opens a range, for a lab or a relay that serves a private network.

sp2p relay is meant for a few friends; for a relay with many users, run
coturn (see the README for a configuration).`,
		Example: `  SP2P_TURN_PASSWORD=... sp2p relay --relay-ip 203.0.113.7 --user friends
  # peers then add: --turn turn:203.0.113.7:3478?transport=udp --turn-user friends
  # behind a firewall that blocks UDP: --turn 'turn:203.0.113.7:3478?transport=tcp'
  # a lab whose peers sit on 10.77.0.0/16: add --allow-peer 10.77.0.0/16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ip := net.ParseIP(relayIP)
			if ip == nil || ip.To4() == nil {
				return &usageError{fmt.Errorf("--relay-ip %q: an IPv4 address peers can reach is required", relayIP)}
			}
			lo, hi, ok := strings.Cut(ports, "-")
			min, err1 := strconv.ParseUint(lo, 10, 16)
			max, err2 := strconv.ParseUint(hi, 10, 16)
			if !ok || err1 != nil || err2 != nil || min == 0 || min > max {
				return &usageError{fmt.Errorf("--ports %q: want MIN-MAX", ports)}
			}
			if user == "" {
				return &usageError{errors.New("--user NAME is required")}
			}
			pass := a.getenv("SP2P_TURN_PASSWORD")
			if passFile != "" {
				b, err := readPassphraseFile(passFile)
				if err != nil {
					return err
				}
				pass = string(b)
			}
			if pass == "" {
				return &usageError{errors.New("no password: set $SP2P_TURN_PASSWORD or use --password-file")}
			}
			var allow []netip.Prefix
			for _, v := range allowPeers {
				p, err := relay.ParsePeerRange(v)
				if err != nil {
					return &usageError{fmt.Errorf("--allow-peer: %w", err)}
				}
				allow = append(allow, p)
			}
			if maxAlloc <= 0 {
				return &usageError{fmt.Errorf("--max-allocations %d: want at least 1", maxAlloc)}
			}
			srv, err := relay.Start(relay.Config{Listen: listen, RelayIP: ip, MinPort: uint16(min), MaxPort: uint16(max),
				Realm: realm, Users: map[string]string{user: pass}, MaxAllocationsPerUser: maxAlloc, AllowPeers: allow})
			if err != nil {
				return err
			}
			defer srv.Close()
			a.infof("relay running; peers use: --turn '%s' --turn-user %s (password from $SP2P_TURN_PASSWORD)", srv.URL(), user)
			a.infof("a peer whose firewall blocks UDP uses: --turn '%s'", srv.TCPURL())
			for _, p := range allow {
				a.infof("peers in %s are allowed (--allow-peer)", p)
			}
			a.infof("Ctrl-C stops it")
			ctx, stop := signalContext()
			defer stop()
			<-ctx.Done()
			a.infof("relay stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "0.0.0.0:3478", "`ADDRESS` to listen on (UDP and TCP)")
	cmd.Flags().StringVar(&relayIP, "relay-ip", "", "the public IPv4 address of this machine, as peers reach it")
	cmd.Flags().StringVar(&ports, "ports", "49152-65535", "UDP port range for relayed traffic")
	cmd.Flags().StringVar(&realm, "realm", "sp2p", "TURN realm")
	cmd.Flags().StringVar(&user, "user", "", "user `NAME` peers authenticate with")
	cmd.Flags().StringVar(&passFile, "password-file", "", "read the password from the first line of `FILE`")
	cmd.Flags().IntVar(&maxAlloc, "max-allocations", relay.DefaultMaxAllocationsPerUser, "concurrent allocations allowed per user")
	cmd.Flags().StringArrayVar(&allowPeers, "allow-peer", nil, "allow relaying to peers in `CIDR` (repeatable), which are refused by default if loopback, private, link-local and the like")
	return cmd
}
