package transfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// manifestFrame is a manifest frame whose entries array holds the given
// JSON entries.
func manifestFrame(entries []string) []byte {
	body := `{"protocol":"sp2p-transfer v2","entries":[` + strings.Join(entries, ",") + `]}`
	return fuzzFrame(body)
}

// fillFrame repeats entry(i) until the frame would exceed MaxFrameSize.
func fillFrame(entry func(i int) string) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString(`{"protocol":"sp2p-transfer v2","entries":[`)
	n := 0
	for {
		e := entry(n)
		if b.Len()+len(e)+3 > MaxFrameSize {
			break
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e)
		n++
	}
	b.WriteString(`]}`)
	return fuzzFrame(b.String()), n
}

func allocated() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// A 16 MiB manifest of millions of entries is refused after at most
// MaxEntries entries, with a clear error, having allocated a bounded
// amount (everything allocated while decoding counts, not only what is
// left): the limits are checked while decoding, not after.
func TestHugeManifestBoundedMemory(t *testing.T) {
	const limit = 32 << 20
	cases := []struct {
		name  string
		entry func(i int) string
		want  string
	}{
		{"empty entries", func(int) string { return `{}` }, "empty"},
		{"directories", func(i int) string { return fmt.Sprintf(`{"path":"d%d","dir":true}`, i) }, "more than 100000 entries"},
		{"files", func(i int) string { return fmt.Sprintf(`{"path":"f%d"}`, i) }, "more than 100000 entries"},
		{"entries without names", func(int) string { return `{"dir":true}` }, "empty"},
	}
	for _, c := range cases {
		frame, n := fillFrame(c.entry)
		before := allocated()
		m, err := readManifest(bytes.NewReader(frame))
		used := allocated() - before
		t.Logf("%s: %d entries in %d bytes: %v; allocated %.1f MiB while decoding", c.name, n, len(frame), err, float64(used)/(1<<20))
		if err == nil || m != nil {
			t.Fatalf("%s: %d entries accepted", c.name, n)
		}
		if !errors.Is(err, ErrBadManifest) && !errors.Is(err, ErrUnsafeName) {
			t.Errorf("%s: error %v is neither ErrBadManifest nor ErrUnsafeName", c.name, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.want)
		}
		if used > limit {
			t.Errorf("%s: decoding allocated %d MiB (at most %d MiB)", c.name, used>>20, limit>>20)
		}
	}
}

// The limits are inclusive: MaxEntries entries are accepted.
func TestManifestAtTheLimits(t *testing.T) {
	t.Parallel()
	entries := make([]string, MaxEntries)
	for i := range entries {
		entries[i] = fmt.Sprintf(`{"path":"d%d","dir":true}`, i)
	}
	if _, err := readManifest(bytes.NewReader(manifestFrame(entries))); err != nil {
		t.Fatalf("%d entries: %v", MaxEntries, err)
	}
	deep := strings.TrimSuffix(strings.Repeat("a/", MaxPathDepth), "/")
	if err := CheckName(deep); err != nil {
		t.Errorf("%d components: %v", MaxPathDepth, err)
	}
	if err := CheckName(deep + "/a"); !errors.Is(err, ErrUnsafeName) || !strings.Contains(err.Error(), "more than 64 components") {
		t.Errorf("%d components: %v", MaxPathDepth+1, err)
	}
	one := fmt.Sprintf(`{"path":"big","size":%d}`, int64(MaxTotalSize))
	if _, err := readManifest(bytes.NewReader(manifestFrame([]string{one}))); err != nil {
		t.Errorf("a file of MaxTotalSize: %v", err)
	}
}

// deepPaths is n distinct paths of MaxPathDepth components, each close to
// MaxPathLen bytes, as manifest entries; with a file at the parent of the
// first when fileParent is set.
func deepPaths(n int) []string {
	comp := strings.Repeat("c", 62)
	tail := strings.TrimSuffix(strings.Repeat(comp+"/", MaxPathDepth-1), "/")
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf(`{"path":"%060d/%s"}`, i, tail)
	}
	return entries
}

// Deep paths validate in time linear in the input: 3,900 paths of 64
// components (about 4 KiB each, a full frame) are accepted, and the
// nesting check touches at most twice the bytes of the paths. Paths deeper
// than MaxPathDepth (the review's 2,048 components) are refused at once.
func TestDeepPathsLinear(t *testing.T) {
	t.Parallel()
	entries := deepPaths(3900)
	frame := manifestFrame(entries)
	if len(frame) > MaxFrameSize {
		t.Fatalf("frame of %d bytes", len(frame))
	}
	m, work, err := decodeManifest(bytes.NewReader(frame[4:]), int64(len(frame)-4))
	if err != nil {
		t.Fatal(err)
	}
	var pathBytes int64
	for _, e := range m.Entries {
		pathBytes += int64(len(e.Path))
	}
	t.Logf("%d paths, %d path bytes, nesting check work %d", len(m.Entries), pathBytes, work)
	if work > 2*pathBytes {
		t.Errorf("nesting check did %d units of work for %d bytes of paths", work, pathBytes)
	}
	// The nesting check still finds a file among the ancestors, in either
	// order.
	p0 := m.Entries[0].Path
	parent := p0[:strings.LastIndexByte(p0, '/')]
	for _, order := range [][]string{
		{entries[0], fmt.Sprintf(`{"path":"%s"}`, parent)},
		{fmt.Sprintf(`{"path":"%s"}`, parent), entries[0]},
	} {
		if _, err := readManifest(bytes.NewReader(manifestFrame(order))); !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), "is inside the file") {
			t.Errorf("an entry inside a file: %v", err)
		}
	}
	// The review's input: 3,951 paths of about 2,048 one-letter components.
	attack := make([]string, 3951)
	for i := range attack {
		first := fmt.Sprint(i)
		k := (MaxPathLen - len(first)) / 2
		attack[i] = fmt.Sprintf(`{"path":"%s/%s"}`, first, strings.TrimSuffix(strings.Repeat("a/", k), "/"))
	}
	if _, err := readManifest(bytes.NewReader(manifestFrame(attack))); !errors.Is(err, ErrUnsafeName) || !strings.Contains(err.Error(), "components") {
		t.Errorf("paths of 2,048 components: %v", err)
	}
}

// BenchmarkManifestDeepPaths decodes and validates n paths of 64
// components (about 4 KiB each): the time per path stays the same as n
// grows (linear in the input).
func BenchmarkManifestDeepPaths(b *testing.B) {
	for _, n := range []int{1000, 2000, 3900} {
		frame := manifestFrame(deepPaths(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := readManifest(bytes.NewReader(frame)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/path")
		})
	}
}

// Sizes cannot overflow the total or exceed the caps: an offer of 16 EiB
// (16,384 files of 1 PiB, which summed into a wrapped int64 read as a
// small number) is refused, as is one file over MaxFileSize or a total
// over MaxTotalSize.
func TestTotalSizeCapped(t *testing.T) {
	t.Parallel()
	file := func(i int, size int64) string {
		return fmt.Sprintf(`{"path":"f%d","size":%d}`, i, size)
	}
	var huge []string
	for i := range 16384 {
		huge = append(huge, file(i, MaxFileSize))
	}
	huge = append(huge, file(99999, 2048))
	cases := map[string][]string{
		"16 EiB in all":       huge,
		"two files of 1 PiB":  {file(0, MaxFileSize), file(1, MaxFileSize)},
		"over the total":      {file(0, MaxTotalSize), file(1, 1)},
		"one file over 1 PiB": {file(0, MaxFileSize+1)},
		"int64 max":           {file(0, 1<<63-1)},
	}
	for name, entries := range cases {
		m, err := readManifest(bytes.NewReader(manifestFrame(entries)))
		if !errors.Is(err, ErrBadManifest) {
			var total int64
			if m != nil {
				_, _, total = m.Totals()
			}
			t.Errorf("%s: accepted (%v), total %d", name, err, total)
		}
	}
}

// The largest files come first, however the offer is sorted by name.
func TestLargestFiles(t *testing.T) {
	t.Parallel()
	m := &Manifest{Entries: []Entry{{Path: "d", Dir: true}, {Path: "a", Size: 1}, {Path: "zz", Size: 1 << 40}, {Path: "b", Size: 5}, {Path: "c", Size: 5}, {Path: "y", Size: 1 << 30}}}
	var got []string
	for _, e := range m.Largest(4) {
		got = append(got, e.Path)
	}
	if strings.Join(got, ",") != "zz,y,b,c" {
		t.Errorf("Largest(4) = %v", got)
	}
	if len(m.Largest(100)) != 5 || len(m.Largest(0)) != 0 {
		t.Error("Largest does not cap to the files there are")
	}
	m.Entries = append(m.Entries, Entry{Path: "x", Size: 1<<63 - 1})
	if _, _, total := m.Totals(); total != 1<<63-1 {
		t.Errorf("Totals does not saturate: %d", total)
	}
}

// A hostile receiver cannot make the sender allocate: a decision or a
// result frame beyond its limit (bounded by the size of the offer) is
// refused from its header.
func TestDecisionAndResultFramesBounded(t *testing.T) {
	m := &Manifest{Protocol: protocolHeader, Entries: []Entry{{Path: "f", Size: 1}}}
	offsets := "0" + strings.Repeat(",0", (MaxFrameSize-64)/2)
	frame := fuzzFrame(`{"accept":true,"offsets":[` + offsets + `]}`)
	before := allocated()
	_, err := readDecision(bytes.NewReader(frame), m, nil)
	used := allocated() - before
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("a 16 MiB decision: %v", err)
	}
	if used > 1<<20 {
		t.Errorf("a 16 MiB decision frame allocated %d KiB", used>>10)
	}
	res := fuzzFrame(`{"ok":false,"error":"` + strings.Repeat("x", MaxFrameSize-64) + `"}`)
	if err := readResult(bytes.NewReader(res)); !errors.Is(err, ErrProtocol) {
		t.Errorf("a 16 MiB result: %v", err)
	}
	long := fuzzFrame(`{"accept":false,"reason":"` + strings.Repeat("x", MaxReasonLen+1) + `"}`)
	if _, err := readDecision(bytes.NewReader(long), m, nil); !errors.Is(err, ErrProtocol) {
		t.Errorf("a long reason: %v", err)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], maxDecisionFrame(1)+1)
	if _, err := readDecision(bytes.NewReader(hdr[:]), m, nil); !errors.Is(err, ErrProtocol) {
		t.Errorf("one byte over the limit: %v", err)
	}
	// The query (the receiver's first frame may be one) and the sender's
	// answer to it are bounded the same way.
	binary.BigEndian.PutUint32(hdr[:], max(maxDecisionFrame(1), maxQueryFrame(1))+1)
	if _, err := readReply(bytes.NewReader(hdr[:]), m); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("a query one byte over the limit: %v", err)
	}
	binary.BigEndian.PutUint32(hdr[:], maxMatchFrame(1)+1)
	rw := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(hdr[:]), io.Discard}
	if _, err := ask(rw, []have{{Entry: 0, Bytes: 1}}, [][]byte{make([]byte, 32)}); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("an answer one byte over the limit: %v", err)
	}
	// The receiver's own report stays within the limit.
	reports := make([]string, 1000)
	for i := range reports {
		reports[i] = reasonName(strings.Repeat("n", 200))
	}
	if r := joinReports(reports); len(r) > MaxResultLen || !strings.Contains(r, "more") {
		t.Errorf("joined report of %d bytes", len(r))
	}
}
