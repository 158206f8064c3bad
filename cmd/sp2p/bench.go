package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/internal/bench"
	"github.com/sp2p/sp2p/internal/qr"
	_ "github.com/sp2p/sp2p/session" // sets bench.Run
)

func (a *app) benchCmd() *cobra.Command {
	var d time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure sp2p against plain WebRTC on this machine (loopback)",
		Long: `Measure, in this process over loopback, a plain pion data channel with
pion's defaults ("raw"), the same with the transport settings sp2p uses
("raw tuned"), and an sp2p session ("sealed"): bulk throughput and the
CPU seconds it costs per GiB (both ends share this process), small
messages per second from one sender and from four at once (a backlog,
which a session coalesces into batch records), round-trip latency,
connect time and memory per idle session with 2 (one pair), 50, 64 and
256 open,
side by side with their ratios, plus the size of an invitation token.
Each throughput figure runs for --duration.`,
		Example: `  sp2p bench
  sp2p bench --duration 10s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if d < 100*time.Millisecond || d > 10*time.Minute {
				return &usageError{fmt.Errorf("--duration %v: from 100ms to 10m", d)}
			}
			ctx, stop := signalContext()
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, 9*d+10*time.Minute)
			defer cancel()
			r, err := bench.Run(ctx, d, func(step string) {
				if !asJSON {
					a.infof("measuring %s…", step)
				}
			})
			if err != nil {
				return err
			}
			if r.QRVersion, err = qr.Version(r.Token); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(r)
			}
			a.printBench(r)
			return nil
		},
	}
	cmd.Flags().DurationVar(&d, "duration", 3*time.Second, "how long each throughput measurement runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func (a *app) printBench(r *bench.Result) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	ratio := func(x, base float64) string {
		if base <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f", x/base)
	}
	fmt.Fprintln(tw, "figure\traw\traw tuned\tsealed\tsealed/raw\tsealed/tuned\t")
	fmt.Fprintf(tw, "bulk MB/s (60 KB msgs)\t%.1f\t%.1f\t%.1f\t%s\t%s\t\n", r.BulkMBs.Raw, r.BulkMBs.RawTuned, r.BulkMBs.Sealed, ratio(r.BulkMBs.Sealed, r.BulkMBs.Raw), ratio(r.BulkMBs.Sealed, r.BulkMBs.RawTuned))
	fmt.Fprintf(tw, "bulk CPU s per GiB (both ends)\t%.2f\t%.2f\t%.2f\t%s\t%s\t\n", r.BulkCPUPerGiB.Raw, r.BulkCPUPerGiB.RawTuned, r.BulkCPUPerGiB.Sealed, ratio(r.BulkCPUPerGiB.Sealed, r.BulkCPUPerGiB.Raw), ratio(r.BulkCPUPerGiB.Sealed, r.BulkCPUPerGiB.RawTuned))
	fmt.Fprintf(tw, "small msgs/s (100 B)\t%.0f\t%.0f\t%.0f\t%s\t%s\t\n", r.SmallMsgs.Raw, r.SmallMsgs.RawTuned, r.SmallMsgs.Sealed, ratio(r.SmallMsgs.Sealed, r.SmallMsgs.Raw), ratio(r.SmallMsgs.Sealed, r.SmallMsgs.RawTuned))
	c := r.SmallMsgsConcurrent
	fmt.Fprintf(tw, "small msgs/s, 4 senders (coalesced)\t%.0f\t%.0f\t%.0f\t%s\t%s\t\n", c.Raw, c.RawTuned, c.Sealed, ratio(c.Sealed, c.Raw), ratio(c.Sealed, c.RawTuned))
	fmt.Fprintf(tw, "round trip µs (median)\t%.0f\t—\t%.0f\t%s\t—\t\n", r.RTTMicros.Raw, r.RTTMicros.Sealed, ratio(r.RTTMicros.Sealed, r.RTTMicros.Raw))
	fmt.Fprintf(tw, "connect ms (median)\t%.1f\t—\t%.1f\t%s\t—\t\n", r.ConnectMs.Raw, r.ConnectMs.Sealed, ratio(r.ConnectMs.Sealed, r.ConnectMs.Raw))
	fmt.Fprintf(tw, "KiB per idle session (50 open)\t%.0f\t—\t%.0f\t%s\t—\t\n", r.SessionKiB.Raw, r.SessionKiB.Sealed, ratio(r.SessionKiB.Sealed, r.SessionKiB.Raw))
	for _, m := range r.IdleKiB {
		fmt.Fprintf(tw, "KiB per idle session (%d open)\t%.0f\t—\t%.0f\t%s\t—\t\n", m.Sessions, m.KiB.Raw, m.KiB.Sealed, ratio(m.KiB.Sealed, m.KiB.Raw))
	}
	fmt.Fprintf(tw, "goroutines per session\t%.1f\t—\t%.1f\t%s\t—\t\n", r.Goroutines.Raw, r.Goroutines.Sealed, ratio(r.Goroutines.Sealed, r.Goroutines.Raw))
	tw.Flush()
	fmt.Fprintf(a.stdout, "\ninvitation token: %d characters, QR version %d (medium error correction)\n", r.TokenChars, r.QRVersion)
	fmt.Fprintf(a.stdout, "measured in %.1f s\n", r.DurationSec)
}
