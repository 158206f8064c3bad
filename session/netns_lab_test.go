//go:build linux

package session

// Network namespaces for this package's tests: a test makes namespaces
// (named after its branch, h-anchor, and the process), runs this test
// binary inside them as children (TestNetnsChild), talks to them over
// their stdin and stdout, and deletes what it made.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// nsLabs numbers the labs of this process (their namespaces' names).
var nsLabs atomic.Int64

// childEnv names the role a child of a namespace test plays.
const childEnv = "SP2P_H_ANCHOR_CHILD"

type nsLab struct {
	t      *testing.T
	prefix string
}

// newNSLab makes the namespaces names (each with its loopback up), or
// skips the test where namespaces cannot be made.
func newNSLab(t *testing.T, names ...string) *nsLab {
	t.Helper()
	if testing.Short() {
		t.Skip("network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	l := &nsLab{t: t, prefix: fmt.Sprintf("h-anchor-%d-%d", os.Getpid(), nsLabs.Add(1))}
	for _, n := range names {
		if out, err := exec.Command("ip", "netns", "add", l.ns(n)).CombinedOutput(); err != nil {
			t.Skipf("cannot make a network namespace: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", l.ns(n)).Run() })
		l.ip(n, "link", "set", "lo", "up")
	}
	return l
}

func (l *nsLab) ns(n string) string { return l.prefix + "-" + n }

// ip runs ip -n <namespace n> args.
func (l *nsLab) ip(n string, args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", l.ns(n)}, args...)...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip -n %s %s: %v: %s", n, strings.Join(args, " "), err, out)
	}
}

// veth links namespaces a and b with a veth pair, ifA in a, ifB in b.
func (l *nsLab) veth(a, ifA, b, ifB string) {
	l.t.Helper()
	if out, err := exec.Command("ip", "link", "add", ifA, "netns", l.ns(a), "type", "veth", "peer", "name", ifB, "netns", l.ns(b)).CombinedOutput(); err != nil {
		l.t.Fatalf("veth: %v: %s", err, out)
	}
	l.ip(a, "link", "set", ifA, "up")
	l.ip(b, "link", "set", ifB, "up")
}

// nsChild is this test binary running TestNetnsChild in a namespace.
type nsChild struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	mu     sync.Mutex
	output bytes.Buffer // what the child printed other than its answers
}

// logs returns the child's test output and stderr.
func (c *nsChild) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.output.String() + c.stderr.String()
}

// start runs the child role in namespace n.
func (l *nsLab) start(n, role string) *nsChild {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.ns(n), os.Args[0], "-test.run=^TestNetnsChild$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	c := &nsChild{t: l.t, name: role, cmd: cmd, lines: make(chan string, 64)}
	cmd.Stderr = &c.stderr
	var err error
	if c.in, err = cmd.StdinPipe(); err != nil {
		l.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "@@ "); ok {
				c.lines <- line
			} else {
				c.mu.Lock()
				fmt.Fprintln(&c.output, sc.Text())
				c.mu.Unlock()
			}
		}
	}()
	l.t.Cleanup(func() {
		c.in.Close()
		done := make(chan error, 1)
		go func() { wg.Wait(); done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				l.t.Logf("%s exited: %v; output:\n%s", role, err, c.logs())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			l.t.Logf("%s killed; output:\n%s", role, c.logs())
		}
	})
	return c
}

// send writes one command line to the child.
func (c *nsChild) send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		c.t.Fatalf("to %s: %v", c.name, err)
	}
}

// recv returns the child's next line, which must begin with word.
func (c *nsChild) recv(word string, timeout time.Duration) string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("%s ended; output:\n%s", c.name, c.logs())
		}
		rest, found := strings.CutPrefix(line, word)
		if !found {
			c.t.Fatalf("%s said %q, want %s", c.name, line, word)
		}
		return strings.TrimSpace(rest)
	case <-time.After(timeout):
		c.t.Fatalf("%s said nothing in %v (want %s)", c.name, timeout, word)
	}
	return ""
}

// TestNetnsChild is a namespace test's child (it does nothing unless run
// as one).
func TestNetnsChild(t *testing.T) {
	role := os.Getenv(childEnv)
	if role == "" {
		t.Skip("runs only as a namespace test's child")
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	say := func(format string, args ...any) { fmt.Printf("@@ "+format+"\n", args...) }
	next := func() string {
		if !in.Scan() {
			return ""
		}
		return in.Text()
	}
	switch role {
	case "netwatch":
		netwatchChild(t, say, next)
	case "anchorA", "anchorB":
		anchorChild(t, role == "anchorA", say, next)
	default:
		t.Fatalf("unknown role %q", role)
	}
}

// execIn runs a command in namespace ns.
func execIn(ns string, name string, args ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
}
