package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The room's shared state from the command line: /set in one member shows
// up in the other's /get; a member that leaves and comes back is shown
// what it missed, marked as history, and gets the map; `room state` reads
// it (offline from the file, or from the running member); `room export`
// and `room import` carry it, and a tampered export is refused.
func TestBinaryRoomState(t *testing.T) {
	t.Parallel()
	homeA, homeB := newHome(t), newHome(t)
	idOf := func(home string) string { return strings.SplitN(runBinary(t, home, "", "id").stdout, "\n", 2)[0] }
	aliceID, bobID := idOf(homeA), idOf(homeB)
	runBinary(t, homeA, "", "peers", "add", "bob", bobID)
	runBinary(t, homeB, "", "peers", "add", "alice", aliceID)

	// invite lets Bob into Alice's running room through `room invite`.
	invite := func(joinArgs ...string) (*syncBuffer, *syncBuffer, io.WriteCloser, func() int) {
		t.Helper()
		inviter, ini, outi, erri := startPiped(t, homeA, "room", "invite", "club", "--loopback", "--to", "bob")
		var offer string
		waitFor(t, "the invitation", func() bool { offer = lastToken(outi, "A")(); return offer != "" })
		cb, inb, outb, errb := startPiped(t, homeB, append([]string{"room", "join", offer, "--loopback"}, joinArgs...)...)
		var answer string
		waitFor(t, "bob's answer", func() bool { answer = lastToken(outb, "B")(); return answer != "" })
		io.WriteString(ini, answer+"\n")
		if code := waitExit(t, inviter, 30*time.Second, erri.String); code != 0 {
			t.Fatalf("room invite: %d\n%s", code, erri.String())
		}
		waitFor(t, "bob in the room", func() bool { return strings.Contains(errb.String(), `joined room "club"`) })
		return outb, errb, inb, func() int { return waitExit(t, cb, 10*time.Second, errb.String) }
	}

	ca, ina, outa, erra := startPiped(t, homeA, "room", "create", "club", "--loopback")
	waitFor(t, "the room", func() bool { return strings.Contains(erra.String(), `room "club" created`) })
	outb, errb, inb, waitB := invite()
	io.WriteString(ina, "/set topic release planning\n")
	waitFor(t, "bob to see the change", func() bool { return strings.Contains(errb.String(), `alice set "topic"`) })
	io.WriteString(inb, "/get topic\n")
	waitFor(t, "bob's /get", func() bool { return strings.Contains(outb.String(), `"topic" = release planning`) })
	io.WriteString(inb, "live line from bob\n")
	waitFor(t, "alice to get bob's line", func() bool { return strings.Contains(outa.String(), "bob: live line from bob") })
	inb.Close()
	if code := waitB(); code != 0 {
		t.Fatalf("bob exited %d", code)
	}
	waitFor(t, "alice to see bob go", func() bool { return strings.Contains(erra.String(), "no longer connected to bob") })

	// While Bob is away.
	io.WriteString(ina, "you missed this\n")
	io.WriteString(ina, "/set agenda item 1\n")
	time.Sleep(2500 * time.Millisecond) // older than the history mark when Bob is back
	r := runBinary(t, homeB, "", "room", "state", "club", "--json")
	var offline stateJSON
	if err := json.Unmarshal([]byte(r.stdout), &offline); r.code != 0 || err != nil {
		t.Fatalf("room state offline: %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if offline.Map["topic"] != "release planning" || offline.Map["agenda"] != "" {
		t.Fatalf("bob's state file holds %v", offline.Map)
	}

	outb, _, inb, waitB = invite("--json")
	waitFor(t, "bob to be shown what he missed, as history", func() bool {
		for _, l := range strings.Split(outb.String(), "\n") {
			var e roomEvent
			if json.Unmarshal([]byte(l), &e) == nil && e.Type == "message" && e.Text == "you missed this" {
				return e.History && e.Name == "alice" && e.Time != ""
			}
		}
		return false
	})
	if strings.Contains(outb.String(), `"text":"live line from bob"`) {
		t.Error("bob was shown his own line as history")
	}
	io.WriteString(inb, "/get agenda\n")
	waitFor(t, "bob's /get agenda", func() bool {
		for _, l := range strings.Split(outb.String(), "\n") {
			var e roomEvent
			if json.Unmarshal([]byte(l), &e) == nil && e.Type == "value" && e.Key == "agenda" {
				return e.Value != nil && *e.Value == "item 1"
			}
		}
		return false
	})

	// room state from the running member, through its socket.
	r = runBinary(t, homeA, "", "room", "state", "club")
	if r.code != 0 || !strings.Contains(r.stdout, `"agenda" = item 1`) || !strings.Contains(r.stdout, `"topic" = release planning`) {
		t.Fatalf("room state through the running room: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	snap := filepath.Join(t.TempDir(), "club.state")
	if r := runBinary(t, homeA, "", "room", "export", "club", snap); r.code != 0 {
		t.Fatalf("export: %s", r.stderr)
	}
	inb.Close()
	waitB()
	if r := runBinary(t, homeB, "", "room", "import", snap); r.code != 0 || !strings.Contains(r.stderr, "0 new here") {
		t.Fatalf("import of what bob holds already: %d\n%s", r.code, r.stderr)
	}
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(snap, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runBinary(t, homeB, "", "room", "import", snap); r.code == 0 {
		t.Fatalf("a tampered export was imported:\n%s", r.stderr)
	}
	ina.Close()
	waitExit(t, ca, 10*time.Second, erra.String)
}
