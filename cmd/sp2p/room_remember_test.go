package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startPiped starts the binary with HOME=home, stdin a pipe and stdout
// and stderr captured; cleanup kills it if the test has not waited for it.
func startPiped(t *testing.T, home string, args ...string) (*exec.Cmd, io.WriteCloser, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(sp2pBinary, args...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, errb := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, in, out, errb
}

// lastToken returns a function that finds the last token of kind ("A"
// offer, "B" answer) in b, as a line or in a --json invitation event.
func lastToken(b *syncBuffer, kind string) func() string {
	return func() string {
		lines := strings.Split(b.String(), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			l := lines[i]
			if strings.HasPrefix(l, "{") {
				var e map[string]any
				if json.Unmarshal([]byte(l), &e) == nil && e["type"] == "invitation" {
					l, _ = e["token"].(string)
				}
			}
			if strings.HasPrefix(l, "SP2P:AI"+kind) {
				return l
			}
		}
		return ""
	}
}

// Rooms are remembered. Alice creates a room; from another terminal,
// `sp2p room invite NAME` makes the invitation in the running room (a
// pasted offer is refused there with the reason), and Bob joins it there.
// Both list the room. With nothing running, `room invite` enters the room
// itself from the remembered file, and Carol joins it with the three
// members known. A room file others can read is refused.
func TestBinaryRoomRemembered(t *testing.T) {
	t.Parallel()
	homeA, homeB, homeC := newHome(t), newHome(t), newHome(t)
	ca, ina, outa, erra := startPiped(t, homeA, "room", "create", "club", "--loopback")
	waitFor(t, "the room", func() bool { return strings.Contains(erra.String(), `room "club" created`) })
	// The room says it is created just before it listens for `room
	// invite` (its control socket): the list shows it open once it does.
	var list result
	waitFor(t, "the list to show the room open", func() bool {
		list = runBinary(t, homeA, "", "room", "list")
		return list.code != 0 || strings.Contains(list.stdout, "open in another sp2p")
	})
	if list.code != 0 || !strings.Contains(list.stdout, "club  (1 member, created by you, open in another sp2p)") {
		t.Fatalf("room list: %d\n%s%s", list.code, list.stdout, list.stderr)
	}

	inviter, ini, outi, erri := startPiped(t, homeA, "room", "invite", "club", "--loopback")
	var offer string
	waitFor(t, "the invitation through the running room", func() bool { offer = lastToken(outi, "A")(); return offer != "" })
	io.WriteString(ini, offer+"\n")
	waitFor(t, "the pasted offer to be refused", func() bool { return strings.Contains(erri.String(), "not an answer") })
	cb, inb, outb, errb := startPiped(t, homeB, "room", "join", offer, "--loopback", "--yes")
	var answer string
	waitFor(t, "bob's answer", func() bool { answer = lastToken(outb, "B")(); return answer != "" })
	io.WriteString(ini, answer+"\n")
	if code := waitExit(t, inviter, 30*time.Second, erri.String); code != 0 {
		t.Fatalf("room invite exited %d:\n%s", code, erri.String())
	}
	if !strings.Contains(erri.String(), "joined the room (in the sp2p that runs it); safety code with the newcomer: ") {
		t.Errorf("room invite did not say bob joined:\n%s", erri.String())
	}
	waitFor(t, "bob in the room", func() bool { return strings.Contains(errb.String(), `joined room "club"`) })
	codeAfter := func(s, prefix string) string {
		_, rest, ok := strings.Cut(s, prefix)
		if !ok {
			return ""
		}
		code, _, _ := strings.Cut(rest, "\n")
		return code
	}
	if a, b := codeAfter(erri.String(), "safety code with the newcomer: "), codeAfter(errb.String(), "safety code with the inviter: "); a == "" || a != b {
		t.Errorf("safety codes differ: inviter %q, newcomer %q", a, b)
	}
	io.WriteString(inb, "hi from bob\n")
	waitFor(t, "alice's running room to get bob's line", func() bool { return strings.Contains(outa.String(), ": hi from bob") })
	if r := runBinary(t, homeB, "", "room", "list", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"name":"club"`) || !strings.Contains(r.stdout, `"members":2`) {
		t.Fatalf("bob's room list: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ina.Close()
	inb.Close()
	if code := waitExit(t, ca, 10*time.Second, erra.String); code != 0 {
		t.Fatalf("alice exited %d:\n%s", code, erra.String())
	}
	waitExit(t, cb, 10*time.Second, errb.String)
	if r := runBinary(t, homeA, "", "room", "list"); !strings.Contains(r.stdout, "club  (2 members") || strings.Contains(r.stdout, "open in another") {
		t.Fatalf("room list after leaving:\n%s%s", r.stdout, r.stderr)
	}

	alone, inA, outA, errA := startPiped(t, homeA, "room", "invite", "club", "--loopback")
	waitFor(t, "the standalone invitation", func() bool { offer = lastToken(outA, "A")(); return offer != "" })
	if !strings.Contains(errA.String(), "not open in another sp2p: entering it here") {
		t.Errorf("room invite did not say it enters the room:\n%s", errA.String())
	}
	_, inc, outc, errc := startPiped(t, homeC, "room", "join", offer, "--loopback", "--yes")
	waitFor(t, "carol's answer", func() bool { answer = lastToken(outc, "B")(); return answer != "" })
	io.WriteString(inA, answer+"\n")
	waitFor(t, "carol in the room", func() bool { return strings.Contains(errc.String(), `joined room "club"`) })
	if !strings.Contains(errc.String(), "3 members") {
		t.Errorf("carol did not get the remembered membership:\n%s", errc.String())
	}
	io.WriteString(inc, "hi from carol\n")
	waitFor(t, "alice to get carol's line", func() bool { return strings.Contains(outA.String(), ": hi from carol") })
	inA.Close()
	inc.Close()
	if code := waitExit(t, alone, 10*time.Second, errA.String); code != 0 {
		t.Fatalf("alice exited %d:\n%s", code, errA.String())
	}

	files, _ := filepath.Glob(filepath.Join(homeA, ".config", "sp2p", "rooms", "*.room"))
	if len(files) != 1 {
		t.Fatalf("room files: %v", files)
	}
	if err := os.Chmod(files[0], 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, homeA, "", "room", "invite", "club", "--loopback")
	if r.code == 0 || !strings.Contains(r.stderr, "could not be read") || !strings.Contains(r.stderr, "unsafe") {
		t.Fatalf("a world-readable room file: %d\n%s", r.code, r.stderr)
	}
}
