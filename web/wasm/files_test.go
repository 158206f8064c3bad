//go:build js && wasm

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"syscall/js"
	"testing"
)

// fileReader is the page's read(i, start, end) over files held here.
func fileReader(t *testing.T, files [][]byte) js.Value {
	f := js.FuncOf(func(_ js.Value, a []js.Value) any {
		i, start, end := a[0].Int(), a[1].Int(), a[2].Int()
		return js.Global().Get("Promise").Call("resolve", bytesTo(files[i][start:end]))
	})
	t.Cleanup(f.Release)
	return f.Value
}

func TestFilesThroughBridge(t *testing.T) {
	must := mustOf(t)
	a, b := newTestBridge(t), newTestBridge(t)
	ha, hb, _, _ := connectFor(t, a, b, "files")
	listen(t, a, ha)
	lb := listen(t, b, hb)
	// A files session has no messages: onMessage does not take it, and
	// send is refused.
	must(b.sessionFlow([]js.Value{hb, js.ValueOf(true)}))
	if _, err := a.sessionSend([]js.Value{ha, js.ValueOf("hi")}); classify(err, noToken).Code != "wrong-purpose" {
		t.Errorf("send on a files session: %v", err)
	}

	big := make([]byte, 3*readChunk+12345)
	for i := range big {
		big[i] = byte(i * 7)
	}
	files := [][]byte{big, []byte("hello\n"), {}}
	descs := js.ValueOf([]any{
		map[string]any{"path": "big.bin", "size": len(files[0])},
		map[string]any{"path": "dir/hello.txt", "size": len(files[1])},
		map[string]any{"path": "empty", "size": 0},
	})

	offers := make(chan js.Value, 1)
	offered := js.FuncOf(func(_ js.Value, v []js.Value) any {
		offers <- v[0]
		v[1].Invoke(true)
		return nil
	})
	defer offered.Release()
	var progressed int
	progress := js.FuncOf(func(_ js.Value, v []js.Value) any { progressed++; return nil })
	defer progress.Release()

	got := make(chan any, 1)
	go func() {
		r, err := b.receiveFiles([]js.Value{hb, offered.Value, progress.Value})
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	res := must(a.sendFiles([]js.Value{ha, descs, fileReader(t, files), js.Undefined()})).(map[string]any)
	if res["files"] != 3 || res["bytes"].(float64) != float64(len(big)+6) {
		t.Errorf("send result %v", res)
	}
	o := <-offers
	if o.Get("files").Length() != 3 || o.Get("bytes").Int() != len(big)+6 {
		t.Errorf("offer %v", js.Global().Get("JSON").Call("stringify", o))
	}
	list := (<-got).([]any)
	if len(list) != 3 {
		t.Fatalf("%d files received", len(list))
	}
	for i, f := range list {
		m := f.(map[string]any)
		data, _ := bytesFrom(m["parts"].([]any)[0].(js.Value))
		sum := sha256.Sum256(files[i])
		if !bytes.Equal(data, files[i]) || m["sha256"] != hex.EncodeToString(sum[:]) || m["size"] != float64(len(files[i])) {
			t.Errorf("file %d (%v): %d bytes, sha256 %v", i, m["path"], len(data), m["sha256"])
		}
	}
	if progressed == 0 {
		t.Error("no progress reported")
	}

	// The sender closes: the receiver's session ends cleanly.
	must(a.sessionClose([]js.Value{ha}))
	if e := <-lb.closed; !e.IsNull() {
		t.Errorf("onClose(%v)", js.Global().Get("JSON").Call("stringify", e))
	}
}

func TestFilesDeclined(t *testing.T) {
	a, b := newTestBridge(t), newTestBridge(t)
	ha, hb, _, _ := connectFor(t, a, b, "files")
	listen(t, a, ha)
	listen(t, b, hb)
	offered := js.FuncOf(func(_ js.Value, v []js.Value) any { v[1].Invoke(false); return nil })
	defer offered.Release()
	recv := make(chan error, 1)
	go func() {
		_, err := b.receiveFiles([]js.Value{hb, offered.Value})
		recv <- err
	}()
	descs := js.ValueOf([]any{map[string]any{"path": "a", "size": 1}})
	_, err := a.sendFiles([]js.Value{ha, descs, fileReader(t, [][]byte{{1}})})
	if c := classify(err, noToken).Code; c != "declined" {
		t.Errorf("sender: %v (%s)", err, c)
	}
	if err := <-recv; classify(err, noToken).Code != "declined" {
		t.Errorf("receiver: %v", err)
	}
	// Files go from the inviter to the invitee, over a session for files.
	if _, err := b.sendFiles([]js.Value{hb, descs, fileReader(t, [][]byte{{1}})}); classify(err, noToken).Code != "wrong-purpose" {
		t.Errorf("the invitee sends: %v", err)
	}
	c, d := newTestBridge(t), newTestBridge(t)
	hc, hd, _, _ := connect(t, c, d)
	listen(t, c, hc)
	listen(t, d, hd)
	if _, err := c.sendFiles([]js.Value{hc, descs, fileReader(t, [][]byte{{1}})}); classify(err, noToken).Code != "wrong-purpose" {
		t.Errorf("files over a chat: %v", err)
	}
	if _, err := d.receiveFiles([]js.Value{hd, offered.Value}); classify(err, noToken).Code != "wrong-purpose" {
		t.Errorf("files over a chat: %v", err)
	}
}
