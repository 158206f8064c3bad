package transfer

import (
	"bytes"
	"encoding/binary"
	"path"
	"strings"
	"testing"
)

// FuzzManifest feeds arbitrary frames to the manifest decoder and checks:
// no panic, and every accepted manifest holds only names that stay inside
// the output directory.
func FuzzManifest(f *testing.F) {
	frame := func(s string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(s)))
		return append(b, s...)
	}
	h := strings.Repeat("ab", 32)
	f.Add(frame(`{"protocol":"sp2p-transfer v1","entries":[{"path":"a","size":1,"sha256":"` + h + `"}]}`))
	f.Add(frame(`{"protocol":"sp2p-transfer v1","entries":[{"path":"d","dir":true},{"path":"d/x","size":0,"sha256":"` + h + `"}]}`))
	f.Add(frame(`{"protocol":"sp2p-transfer v1","entries":[{"path":"../a","size":1,"sha256":"` + h + `"}]}`))
	f.Add(frame(`{"protocol":"sp2p-transfer v1","entries":[],"x":1}`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Manifest
		if err := readFrame(bytes.NewReader(data), &m); err != nil {
			return
		}
		if m.validate() != nil {
			return
		}
		for _, e := range m.Entries {
			clean := path.Clean("/out/" + e.Path)
			if !strings.HasPrefix(clean, "/out/") || strings.ContainsAny(e.Path, "\x00\x1b\\") {
				t.Fatalf("accepted an unsafe name %q", e.Path)
			}
		}
	})
}
