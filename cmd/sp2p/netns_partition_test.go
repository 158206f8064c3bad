package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// lastState returns the newest /state the process printed (--json).
func (p *roomProc) lastState() (stateJSON, bool) {
	lines := strings.Split(p.out.String(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var s stateJSON
		if json.Unmarshal([]byte(lines[i]), &s) == nil && s.Type == "state" {
			return s, true
		}
	}
	return stateJSON{}, false
}

// Partition and heal with the real binary: a room of four, two members on
// each side of a router. The router drops everything; every session across
// it ends, and each side chats and edits the shared map (the same key on
// both sides) on its own. The link comes back; one member on each side
// reconnects with one token pair (/invite, /join), and then every member
// shows the same map and has every line of the other side.
func TestNetnsRoomPartitionHeal(t *testing.T) {
	t.Parallel()
	l := newNetnsLab(t, "cone", "cone")
	l.relay() // as the STUN server
	common := []string{"--json", "--yes", "--stun", "stun:198.18.0.1:3478", "--heartbeat", "3s"}
	a1 := l.room("ha", append([]string{"create", "split"}, common...)...)
	waitFor(t, "the room", func() bool { return strings.Contains(a1.err.String(), `room "split" created`) })
	join := func(n string, via *roomProc) *roomProc { return l.join(n, via, "split", common...) }
	a2 := join("ha", a1)
	b1 := join("hb", a1)
	b2 := join("hb", b1)
	members := []*roomProc{a1, a2, b1, b2}
	saidBy := map[string]*roomProc{}
	say := func(m *roomProc, text string) {
		saidBy[text] = m
		io.WriteString(m.in, text+"\n")
	}
	gotAll := func(what string, texts ...string) {
		t.Helper()
		for _, m := range members {
			for _, text := range texts {
				if saidBy[text] == m {
					continue // own lines are not shown again
				}
				deadline := time.Now().Add(60 * time.Second)
				for !m.got(text) {
					if time.Now().After(deadline) {
						t.Fatalf("%s: a member never got %q\nits output:\n%s\nits log:\n%s", what, text, m.out.String(), m.err.String())
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
	}
	say(b2, "before the split")
	gotAll("before the split", "before the split")

	// The split: every session across the router ends.
	l.nft("ra", dropForwarded("split", 100))
	for _, a := range []*roomProc{a1, a2} {
		for _, b := range []*roomProc{b1, b2} {
			waitFor(t, "the sessions across the split to end", func() bool {
				up := strings.Count(a.out.String(), `"member":"`+b.id+`","state":"up"`)
				down := strings.Count(a.out.String(), `"member":"`+b.id+`","state":"down"`)
				return up == down
			})
		}
	}
	say(a1, "/set topic left side")
	say(a1, "from the left")
	say(a2, "/set left yes")
	time.Sleep(100 * time.Millisecond) // a later clock on the right: it wins
	say(b1, "/set topic right side")
	say(b2, "from the right")
	time.Sleep(time.Second)
	if b1.got("from the left") || a1.got("from the right") {
		t.Fatal("a line crossed the split")
	}

	// The heal: the link is back, and one token pair reconnects the sides.
	l.nft("ra", "delete table ip split\n")
	before := a1.token("A")
	io.WriteString(a1.in, "/invite\n")
	var offer string
	waitFor(t, "the reconnecting invitation", func() bool { offer = a1.token("A"); return offer != "" && offer != before })
	joinAnswer := b1.token("B") // its answer when it joined
	io.WriteString(b1.in, "/join "+offer+"\n")
	var answer string
	waitFor(t, "the reconnecting answer", func() bool { answer = b1.token("B"); return answer != "" && answer != joinAnswer })
	io.WriteString(a1.in, answer+"\n")
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(b1.err.String(), "reconnected; safety code"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the sides did not reconnect\ninviter:\n%s\ninvitee:\n%s", a1.err.String(), b1.err.String())
		}
	}

	gotAll("after the heal", "from the left", "from the right")
	var want stateJSON
	for i, m := range members {
		deadline := time.Now().Add(30 * time.Second)
		for {
			io.WriteString(m.in, "/state\n")
			time.Sleep(300 * time.Millisecond)
			st, ok := m.lastState()
			if ok && len(st.Map) == 2 && st.Messages == 3 {
				if i == 0 {
					want = st
				}
				if fmt.Sprint(st.Map) == fmt.Sprint(want.Map) {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %d shows %+v, want the map %v and 3 lines of history\n%s", i+1, st, want.Map, m.err.String())
			}
		}
	}
	if want.Map["topic"] != "right side" || want.Map["left"] != "yes" {
		t.Fatalf("the merged map is %v: want the later topic (right side) and the left side's key", want.Map)
	}
	for _, m := range members {
		m.in.Close()
	}
}
