package main

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLooksLikeCode(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"42-adroitness-aardvark-adviser": true,
		"7-x":                            true,
		"999-a-b-c":                      true,
		"1000-a-b-c":                     false,
		"SP2P:AIA":                       false,
		"-":                              false,
		"https://example.org/#SP2P:AIA":  false,
		"a1-b-c-d":                       false,
	} {
		if got := looksLikeCode(s); got != want {
			t.Errorf("looksLikeCode(%q) = %v", s, got)
		}
	}
}

// A mistyped code is a usage error that says what is wrong, before any
// network; --from names must resolve; the LAN's arguments do not go with
// --no-lan, and not with a token too.
func TestBinaryLANUsageErrors(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"receive", "--out", t.TempDir(), "42-adroitness-aardvark-advisor"}, "adviser"},
		{[]string{"receive", "--out", t.TempDir(), "42-aardvark"}, "words"},
		{[]string{"accept", "--from", "nobody"}, "nobody"},
		{[]string{"receive", "--out", t.TempDir(), "--no-lan", "42-adroitness-aardvark-adviser"}, "--no-lan"},
		{[]string{"accept", "--from", "nobody", "SP2P:AIA"}, "in one way"},
	} {
		r := runBinary(t, home, "", c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
}

// An answer that comes over the LAN is taken while the paste source waits,
// and after it ended (stdin closed); the paste source still works.
func TestMergeAnswers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lan := make(chan string, 1)
	ended := mergeAnswers(ctx, func() (string, error) { return "", io.EOF }, lan)
	go func() { time.Sleep(50 * time.Millisecond); lan <- "from the LAN" }()
	if got, err := ended(); err != nil || got != "from the LAN" {
		t.Fatalf("after stdin ended: %q, %v", got, err)
	}
	pasted := make(chan string)
	next := mergeAnswers(ctx, func() (string, error) { return <-pasted, nil }, lan)
	go func() { pasted <- "pasted" }()
	if got, err := next(); err != nil || got != "pasted" {
		t.Fatalf("pasted: %q, %v", got, err)
	}
	cancel()
	if _, err := next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("after the context ended: %v", err)
	}
	if f := mergeAnswers(ctx, nil, nil); f != nil {
		t.Fatal("without a LAN, the paste source is not kept as it is")
	}
}

// Once the LAN's answer has won, nothing is left reading stdin: the next
// line typed is there for the chat.
func TestLANAnswerLeavesStdinAlone(t *testing.T) {
	t.Parallel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	lan := make(chan string, 1)
	paste := newPasteReader(stopReader(ctx, pr))
	next := mergeAnswers(ctx, func() (string, error) { return paste.token(ctx, nil) }, lan)
	lan <- "from the LAN"
	if got, _ := next(); got != "from the LAN" {
		t.Fatalf("got %q", got)
	}
	cancel()
	time.Sleep(300 * time.Millisecond) // the paste read notices the end
	io.WriteString(pw, "first chat line\n")
	buf := make([]byte, 64)
	pr.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := pr.Read(buf)
	if string(buf[:n]) != "first chat line\n" {
		t.Fatalf("the chat reads %q", buf[:n])
	}
}
