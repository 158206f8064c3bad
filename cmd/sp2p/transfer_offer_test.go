package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/transfer"
)

// The offer prompt shows the true total and the largest files, so big
// files cannot hide behind many small ones that sort first by name.
func TestOfferShowsTotalAndLargest(t *testing.T) {
	t.Parallel()
	m := &transfer.Manifest{}
	for i := range 30 {
		m.Entries = append(m.Entries, transfer.Entry{Path: fmt.Sprintf("a%02d.txt", i), Size: 1024})
	}
	m.Entries = append(m.Entries,
		transfer.Entry{Path: "zz-disk.img", Size: 1 << 40},
		transfer.Entry{Path: "zz-other.img", Size: 3 << 30},
		transfer.Entry{Path: "zz-dir", Dir: true})
	files, dirs, total := m.Totals()
	o := &transfer.Offer{Manifest: m, Files: files, Dirs: dirs, Bytes: total, Need: total, Free: 5 << 40}
	text := strings.Join(offerLines(o), "\n")
	t.Log("\n" + text)
	for _, want := range []string{
		"32 files and 1 folder, 1.0 TiB in all",
		`largest: "zz-disk.img" (1.0 TiB), "zz-other.img" (3.0 GiB), "a00.txt" (1.0 KiB)`,
		`"a00.txt" (1.0 KiB)`,
		"… and 17 more",
		"1.0 TiB to write, 5.0 TiB free",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the offer does not say %q", want)
		}
	}
}
