package qr

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// rasterize draws the SVG that SVG makes (a viewBox, a white rectangle,
// one path of "MX Yh W v1h-W z" runs) at scale pixels per module.
func rasterize(t *testing.T, svg string, scale int) image.Image {
	t.Helper()
	m := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindStringSubmatch(svg)
	if m == nil || m[1] != m[2] {
		t.Fatalf("no square viewBox in %.200s", svg)
	}
	n, _ := strconv.Atoi(m[1])
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	d := regexp.MustCompile(` d="([^"]*)"`).FindStringSubmatch(svg)
	if d == nil {
		t.Fatal("no path")
	}
	runs := regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
	if rest := runs.ReplaceAllString(d[1], ""); rest != "" {
		t.Fatalf("path has more than runs: %.100q", rest)
	}
	for _, r := range runs.FindAllStringSubmatch(d[1], -1) {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		w, _ := strconv.Atoi(r[3])
		if r[3] != r[4] || x+w > n || y >= n {
			t.Fatalf("bad run %q in a %d-module image", r[0], n)
		}
		for py := y * scale; py < (y+1)*scale; py++ {
			for px := x * scale; px < (x+w)*scale; px++ {
				img.SetGray(px, py, color.Gray{})
			}
		}
	}
	return img
}

func TestSVGScansBack(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"SP2P:" + strings.Repeat("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 12),
		"HELLO",
	} {
		svg, err := SVG(text)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>") {
			t.Fatalf("not an svg element: %.80s", svg)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, rasterize(t, svg, 4)); err != nil {
			t.Fatal(err)
		}
		got, err := ReadImage(&buf)
		if err != nil {
			t.Fatalf("reading the SVG's image back: %v", err)
		}
		if got != text {
			t.Errorf("read %q, want %q", got, text)
		}
	}
}

// The SVG has as many modules as the version at Level needs (four of quiet
// zone on each side), so it is the PNG's code.
func TestSVGVersion(t *testing.T) {
	t.Parallel()
	text := "SP2P:" + strings.Repeat("A", 600)
	v, err := Version(text)
	if err != nil {
		t.Fatal(err)
	}
	svg, err := SVG(text)
	if err != nil {
		t.Fatal(err)
	}
	n := 17 + 4*v + 8
	if want := fmt.Sprintf(`viewBox="0 0 %d %d"`, n, n); !strings.Contains(svg, want) {
		t.Errorf("want %s in %.120s", want, svg)
	}
	if _, err := SVG(strings.Repeat("x", 8000)); err == nil {
		t.Error("no error for text too long for a QR code")
	}
}
