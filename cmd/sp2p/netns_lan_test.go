//go:build linux

package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The LAN lab: one bridge (namespace br) and three hosts on it, alice,
// bob and eve (the stranger), 10.78.0.1 to .3. Namespaces are named after
// this branch and a random part, and deleted at the end.
const lanLabScript = `
set -eu
P=$1; shift
ns() { ip netns exec "$P-$1" "${@:2}"; }
down() { for n in br alice bob eve; do ip netns del "$P-$n" 2>/dev/null || true; done; }
if [ "$1" = down ]; then down; exit 0; fi
down
ip netns add $P-br
ns br ip link add lan type bridge mcast_snooping 0
ns br ip link set lan up
i=1
for h in alice bob eve; do
  ip netns add $P-$h
  ns $h ip link set lo up
  ns $h sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip link add eth0 netns $P-$h type veth peer name $h netns $P-br
  ns br ip link set $h master lan
  ns br ip link set $h up
  ns $h ip addr add 10.78.0.$i/24 dev eth0
  ns $h ip link set eth0 up
  i=$((i+1))
done
`

type lanLab struct {
	t      *testing.T
	prefix string
	script string
}

func newLANLab(t *testing.T) *lanLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("network namespace tests need %s", tool)
		}
	}
	b := make([]byte, 3)
	rand.Read(b)
	l := &lanLab{t: t, prefix: fmt.Sprintf("hdisc%x", b), script: filepath.Join(t.TempDir(), "lan.sh")}
	if err := os.WriteFile(l.script, []byte(lanLabScript), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("bash", l.script, l.prefix, "down").Run() })
	if out, err := exec.Command("bash", l.script, l.prefix, "up").CombinedOutput(); err != nil {
		if strings.Contains(string(out), "Operation not permitted") {
			t.Skipf("cannot create network namespaces here: %s", out)
		}
		t.Fatalf("building the LAN: %v\n%s", err, out)
	}
	return l
}

func (l *lanLab) ns(host string) string { return l.prefix + "-" + host }

// start runs the binary in host's namespace with extra environment.
func (l *lanLab) start(host, home string, env []string, args ...string) *cli {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(host), sp2pBinary}, args...)...)
	cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	c := &cli{cmd: cmd, in: in, out: &syncBuffer{}, err: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = c.out, c.err
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return c
}

// nft runs nft in host's namespace.
func (l *lanLab) nft(host, rules string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.ns(host), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft in %s: %v\n%s", host, err, out)
	}
}

type idInfo struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
}

func readID(t *testing.T, home string) idInfo {
	t.Helper()
	var v idInfo
	if err := json.Unmarshal([]byte(runBinary(t, home, "", "id", "--json").stdout), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// pairedHomes makes alice's and bob's homes, pins them to each other, and
// runs one token session between them (no LAN) so that both keep their
// pairing secret, as a first session does.
func (l *lanLab) pairedHomes() (homeA, homeB string, a, b idInfo) {
	t := l.t
	homeA, homeB = newHome(t), newHome(t)
	a, b = readID(t, homeA), readID(t, homeB)
	runBinary(t, homeA, "", "peers", "add", "bob", b.ID)
	runBinary(t, homeB, "", "peers", "add", "alice", a.ID)
	dir := t.TempDir()
	src := filepath.Join(dir, "first.txt")
	os.WriteFile(src, []byte("first contact, by token\n"), 0o644)
	files := []string{"--offer-file", filepath.Join(dir, "offer"), "--answer-file", filepath.Join(dir, "answer"), "--no-lan", "--yes"}
	s := l.start("alice", homeA, nil, append(append([]string{"send", "--to", "bob"}, files...), src)...)
	r := l.start("bob", homeB, nil, append([]string{"receive", "--out", t.TempDir()}, files...)...)
	if c := s.wait(t, 60*time.Second); c != 0 {
		t.Fatalf("first session: send exit %d\n%s", c, s.err.String())
	}
	if c := r.wait(t, 60*time.Second); c != 0 {
		t.Fatalf("first session: receive exit %d\n%s", c, r.err.String())
	}
	for _, h := range []string{homeA, homeB} {
		if _, err := os.Stat(filepath.Join(h, ".config", "sp2p", pairingFile)); err != nil {
			matches, _ := filepath.Glob(filepath.Join(h, "*", "*", pairingFile))
			if len(matches) == 0 {
				t.Fatalf("no pairing secret kept in %s after the first session", h)
			}
		}
	}
	return homeA, homeB, a, b
}

// (1) Known peers on one LAN: send --to / receive --from and invite --to /
// accept --from connect with nothing pasted, and the file arrives intact.
func TestNetnsLANKnownPeers(t *testing.T) {
	t.Parallel()
	l := newLANLab(t)
	homeA, homeB, a, b := l.pairedHomes()
	data := randomBytes(1 << 20)
	src := filepath.Join(t.TempDir(), "payload.bin")
	os.WriteFile(src, data, 0o644)
	out := t.TempDir()
	s := l.start("alice", homeA, nil, "send", "--to", "bob", "--yes", src)
	r := l.start("bob", homeB, nil, "receive", "--from", "alice", "--yes", "--out", out)
	cs, cr := s.wait(t, 60*time.Second), r.wait(t, 60*time.Second)
	if cs != 0 || cr != 0 {
		t.Fatalf("exit %d/%d\nsender:\n%s\nreceiver:\n%s", cs, cr, s.err.String(), r.err.String())
	}
	t.Logf("sender:\n%s\nreceiver:\n%s", s.err.String(), r.err.String())
	got, _ := os.ReadFile(filepath.Join(out, "payload.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("the file differs")
	}
	// The usual lines are shown: who, the fingerprint, the safety code.
	for _, w := range []string{a.ID, a.Fingerprint, "known peer: alice", "safety code"} {
		if !strings.Contains(r.err.String(), w) {
			t.Errorf("the receiver does not show %q:\n%s", w, r.err.String())
		}
	}
	for _, w := range []string{b.ID, b.Fingerprint, "safety code", "needs nothing pasted"} {
		if !strings.Contains(s.err.String(), w) {
			t.Errorf("the sender does not show %q:\n%s", w, s.err.String())
		}
	}
	if !strings.Contains(s.out.String(), "SP2P:") {
		t.Errorf("the sender did not print the token as the fallback:\n%s", s.out.String())
	}
	// A chat: invite --to bob, accept --from alice.
	ia := l.start("alice", homeA, nil, "invite", "--to", "bob")
	ib := l.start("bob", homeB, nil, "accept", "--from", "alice")
	waitFor(t, "both connected", func() bool {
		return strings.Contains(ia.err.String(), "safety code") && strings.Contains(ib.err.String(), "safety code")
	})
	fmt.Fprintln(ib.in, "hello over the LAN")
	waitFor(t, "alice to read bob's line", func() bool { return strings.Contains(ia.out.String(), "hello over the LAN") })
	// Alice's first line reaches Bob: no paste read left over from the
	// wait for the answer takes it.
	fmt.Fprintln(ia.in, "first line from alice")
	waitFor(t, "bob to read alice's first line", func() bool { return strings.Contains(ib.out.String(), "first line from alice") })
	ia.in.Close()
	if c := ia.wait(t, 20*time.Second); c != 0 {
		t.Fatalf("invite exit %d\n%s", c, ia.err.String())
	}
	ib.in.Close()
	ib.wait(t, 20*time.Second)
	sa, sb := safetyRE.FindStringSubmatch(ia.err.String()), safetyRE.FindStringSubmatch(ib.err.String())
	if sa == nil || sb == nil || sa[1] != sb[1] {
		t.Fatalf("safety codes %v and %v", sa, sb)
	}
}

// (4) Multicast (IPv4 and IPv6) dropped by nft on both hosts: both commands say so within
// a few seconds, the token is printed, and pasting it still works.
func TestNetnsLANMulticastBlocked(t *testing.T) {
	t.Parallel()
	l := newLANLab(t)
	homeA, homeB, _, _ := l.pairedHomes()
	drop := "table inet lanblock {\n chain out { type filter hook output priority 0; ip daddr 224.0.0.0/4 drop; ip6 daddr ff00::/8 drop; }\n chain in { type filter hook input priority 0; ip daddr 224.0.0.0/4 drop; ip6 daddr ff00::/8 drop; }\n}\n"
	l.nft("alice", drop)
	l.nft("bob", drop)
	src := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(src, []byte("through the pasted token\n"), 0o644)
	out := t.TempDir()
	began := time.Now()
	s := l.start("alice", homeA, nil, "send", "--to", "bob", "--yes", src)
	r := l.start("bob", homeB, nil, "receive", "--from", "alice", "--yes", "--out", out)
	waitFor(t, "both to say that multicast is blocked", func() bool {
		return strings.Contains(s.err.String(), "multicast is blocked") && strings.Contains(r.err.String(), "multicast is blocked")
	})
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("saying so took %v", d)
	}
	var offer string
	waitFor(t, "the offer token", func() bool {
		offer = strings.TrimSpace(s.out.String())
		return strings.HasPrefix(offer, "SP2P:")
	})
	waitFor(t, "the receiver to ask for the token", func() bool { return strings.Contains(r.err.String(), "paste the invitation token") })
	fmt.Fprintln(r.in, offer)
	var answer string
	waitFor(t, "the answer token", func() bool {
		answer = strings.TrimSpace(r.out.String())
		return strings.HasPrefix(answer, "SP2P:")
	})
	fmt.Fprintln(s.in, answer)
	cs, cr := s.wait(t, 60*time.Second), r.wait(t, 60*time.Second)
	if cs != 0 || cr != 0 {
		t.Fatalf("exit %d/%d\nsender:\n%s\nreceiver:\n%s", cs, cr, s.err.String(), r.err.String())
	}
	t.Logf("sender:\n%s\nreceiver:\n%s", s.err.String(), r.err.String())
	if got, _ := os.ReadFile(filepath.Join(out, "note.txt")); string(got) != "through the pasted token\n" {
		t.Fatalf("received %q", got)
	}
}

// One side without the pairing secret (Bob's file is gone): Bob is told
// and pastes the token; that session gives both a new secret, and the
// next time the LAN works again.
func TestNetnsLANOneSideWithoutSecret(t *testing.T) {
	t.Parallel()
	l := newLANLab(t)
	homeA, homeB, _, _ := l.pairedHomes()
	matches, _ := filepath.Glob(filepath.Join(homeB, "*", "*", pairingFile))
	if len(matches) != 1 {
		t.Fatalf("bob's pairing file: %v", matches)
	}
	os.Remove(matches[0])
	src := filepath.Join(t.TempDir(), "n.txt")
	os.WriteFile(src, []byte("n\n"), 0o644)
	s := l.start("alice", homeA, nil, "send", "--to", "bob", "--yes", src)
	r := l.start("bob", homeB, nil, "receive", "--from", "alice", "--yes", "--out", t.TempDir())
	waitFor(t, "bob to be told", func() bool { return strings.Contains(r.err.String(), "no LAN pairing with alice yet") })
	var offer, answer string
	waitFor(t, "the offer token", func() bool { offer = strings.TrimSpace(s.out.String()); return strings.HasPrefix(offer, "SP2P:") })
	fmt.Fprintln(r.in, offer)
	waitFor(t, "the answer token", func() bool { answer = strings.TrimSpace(r.out.String()); return strings.HasPrefix(answer, "SP2P:") })
	fmt.Fprintln(s.in, answer)
	if cs, cr := s.wait(t, 60*time.Second), r.wait(t, 60*time.Second); cs != 0 || cr != 0 {
		t.Fatalf("by token: exit %d/%d\n%s\n%s", cs, cr, s.err.String(), r.err.String())
	}
	s = l.start("alice", homeA, nil, "send", "--to", "bob", "--yes", src)
	r = l.start("bob", homeB, nil, "receive", "--from", "alice", "--yes", "--out", t.TempDir())
	if cs, cr := s.wait(t, 60*time.Second), r.wait(t, 60*time.Second); cs != 0 || cr != 0 || !strings.Contains(r.err.String(), "found it") {
		t.Fatalf("over the LAN again: exit %d/%d\n%s\n%s", cs, cr, s.err.String(), r.err.String())
	}
}
