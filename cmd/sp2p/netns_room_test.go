package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// roomProc is one `sp2p room` process in a namespace of the lab, with its
// stdin open.
type roomProc struct {
	*cli
	id, home string
}

func (l *netnsLab) room(n string, args ...string) *roomProc {
	l.t.Helper()
	home := newHome(l.t)
	id := strings.SplitN(runBinary(l.t, home, "", "id").stdout, "\n", 2)[0]
	return &roomProc{cli: startCLI(l.t, home, l.prefix+"-"+n, append([]string{"room"}, args...)...), id: id, home: home}
}

// token returns the newest token of kind ("A" offer, "B" answer) that the
// process printed, as a line or in a JSON line, or "".
func (p *roomProc) token(kind string) string {
	lines := strings.Split(p.out.String(), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if strings.HasPrefix(l, "{") {
			var e map[string]any
			if json.Unmarshal([]byte(l), &e) == nil {
				l, _ = e["token"].(string)
			}
		}
		if strings.HasPrefix(l, "SP2P:AI"+kind) {
			return l
		}
	}
	return ""
}

// join lets a newcomer into the room in namespace n: via types /invite,
// the newcomer (started with args after the token) answers, via takes the
// answer, and the newcomer says it joined room name.
func (l *netnsLab) join(n string, via *roomProc, name string, args ...string) *roomProc {
	l.t.Helper()
	before := via.token("A")
	io.WriteString(via.in, "/invite\n")
	var offer string
	waitFor(l.t, "an invitation", func() bool { offer = via.token("A"); return offer != "" && offer != before })
	m := l.room(n, append([]string{"join", offer}, args...)...)
	var answer string
	waitFor(l.t, "the answer", func() bool { answer = m.token("B"); return answer != "" })
	io.WriteString(via.in, answer+"\n")
	waitFor(l.t, "the newcomer in the room", func() bool { return strings.Contains(m.err.String(), `joined room "`+name+`"`) })
	return m
}

// got reports whether the process printed a message with this text.
func (p *roomProc) got(text string) bool {
	for _, l := range strings.Split(p.out.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil && e["type"] == "message" && e["text"] == text {
			return true
		}
	}
	return false
}

// Four members of one room: one on the "public" network, two behind one
// symmetric NAT and one behind another, so that two pairs (each of the
// first two with the last) cannot reach each other directly (no relay is
// configured). Each joins with one token exchange with the public member;
// the room introduces the others to each other where it can, and every
// message still reaches every member, through the others.
func TestNetnsRoomAcrossSymmetricNATs(t *testing.T) {
	t.Parallel()
	l := newNetnsLab(t, "symmetric", "symmetric")
	l.relay() // only as the STUN server: no member is given --turn
	common := []string{"--json", "--yes", "--stun", "stun:198.18.0.1:3478"}
	p := l.room("pub", append([]string{"create", "lab"}, common...)...)
	members := []*roomProc{p}
	join := func(n string, via *roomProc) *roomProc {
		t.Helper()
		m := l.join(n, via, "lab", common...)
		members = append(members, m)
		return m
	}
	a := join("ha", p)
	a2 := join("ha", p)
	b := join("hb", p)

	// Every member's line reaches the three others.
	for i, m := range members {
		text := "hello from member " + string(rune('1'+i))
		io.WriteString(m.in, text+"\n")
		for j, o := range members {
			if j == i {
				continue
			}
			deadline := time.Now().Add(60 * time.Second)
			for !o.got(text) {
				if time.Now().After(deadline) {
					t.Fatalf("member %d never got %q\nits output:\n%s\nits log:\n%s", j+1, text, o.out.String(), o.err.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	// The two behind the same NAT were introduced to each other in-band
	// (they share a LAN): introductions work where a path exists.
	waitFor(t, "the two members behind one NAT introduced", func() bool {
		return strings.Contains(a.out.String(), `"member":"`+a2.id+`","state":"up"`)
	})
	// The members behind different symmetric NATs never became
	// neighbours: their messages went through the public member.
	for _, pair := range [][2]*roomProc{{a, b}, {b, a}, {a2, b}, {b, a2}} {
		if strings.Contains(pair[0].out.String(), `"member":"`+pair[1].id+`","state":"up"`) {
			t.Fatalf("the members behind symmetric NATs connected directly; the test does not test relaying through the room:\n%s", pair[0].out.String())
		}
	}
	for _, m := range members {
		m.in.Close()
	}
}
