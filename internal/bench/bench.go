// Package bench carries the figures of sp2p's built-in benchmark (the
// CLI's bench command) from the session package, which alone can build
// the raw pion baseline with sp2p's transport settings, to the CLI, which
// prints them. It is not part of sp2p's public API.
package bench

import (
	"context"
	"time"
)

// Run measures; package session sets it when it is linked in.
var Run func(ctx context.Context, d time.Duration, progress func(string)) (*Result, error)

// Result holds the figures of the benchmark: each measured on a plain pion
// data channel with pion's defaults (Raw), the same with sp2p's transport
// settings (RawTuned), and an sp2p session (Sealed), in one run.
type Result struct {
	BulkMBs Triple `json:"bulk_mb_s"` // 60,000-byte messages, MB/s
	// BulkCPUPerGiB is the process's CPU seconds (both ends, which share
	// it) per GiB of the bulk figure; 0 where the system cannot tell.
	BulkCPUPerGiB Triple `json:"bulk_cpu_s_per_gib"`
	SmallMsgs     Triple `json:"small_msgs_s"` // 100-byte messages per second, one sender
	// SmallMsgsConcurrent is the small-message rate from 4 goroutines
	// sending at once: a backlog, which a session coalesces into batch
	// records (raw pion sends each message alone).
	SmallMsgsConcurrent Triple  `json:"small_msgs_4_senders_s"`
	RTTMicros           Pair    `json:"rtt_us"`      // 64-byte ping-pong, median
	ConnectMs           Pair    `json:"connect_ms"`  // offer created → open, median
	SessionKiB          Pair    `json:"session_kib"` // heap per idle open session, 50 open
	IdleKiB             []Idle  `json:"idle_kib"`    // the same with 1, 64 and 256 sessions open
	Goroutines          Pair    `json:"goroutines_per_session"`
	TokenChars          int     `json:"token_chars"`
	QRVersion           int     `json:"qr_version"` // set by the CLI, which draws QR codes
	Token               string  `json:"-"`          // a token of the run, for its QR version
	DurationSec         float64 `json:"duration_s"`
}

// Triple is a figure for raw pion, tuned raw pion and sp2p.
type Triple struct {
	Raw      float64 `json:"raw"`
	RawTuned float64 `json:"raw_tuned"`
	Sealed   float64 `json:"sealed"`
}

// Pair is a figure for raw pion and sp2p.
type Pair struct {
	Raw    float64 `json:"raw"`
	Sealed float64 `json:"sealed"`
}

// Idle is the heap per idle session with Sessions sessions open (both
// ends of each pair count: 2 is one pair).
type Idle struct {
	Sessions int  `json:"sessions"`
	KiB      Pair `json:"kib"`
}
