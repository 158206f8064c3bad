//go:build js && wasm

package main

import (
	"fmt"
	"runtime/debug"
	"sync"
	"syscall/js"
)

// errorValue is how an error crosses into JavaScript: a plain object that
// sp2p.js turns into an SP2PError.
func errorValue(err error, role tokenRole) js.Value {
	e := classify(err, role)
	return js.ValueOf(map[string]any{"__sp2p_error": true, "code": e.Code, "message": e.Message, "detail": e.Detail})
}

// promise returns a JavaScript Promise settled by fn, which runs in its own
// goroutine so that nothing waits on the browser's event loop. A panic in
// fn rejects the Promise with an "internal" error instead of ending the
// program.
func promise(role tokenRole, fn func() (any, error)) js.Value {
	executor := js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			var v any
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
					}
				}()
				v, err = fn()
			}()
			if err != nil {
				reject.Invoke(errorValue(err, role))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	// The executor runs inside the Promise constructor, so it can be
	// released as soon as the Promise exists.
	p := js.Global().Get("Promise").New(executor)
	executor.Release()
	return p
}

// sync wraps a synchronous bridge method: a returned error becomes the
// error object, which sp2p.js throws.
func syncFn(fn func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = errorValue(fmt.Errorf("panic: %v", r), noToken)
			}
		}()
		v, err := fn(args)
		if err != nil {
			return errorValue(err, noToken)
		}
		return v
	})
}

// asyncFn wraps a bridge method that returns a Promise.
func asyncFn(role tokenRole, fn func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		args = append([]js.Value(nil), args...)
		return promise(role, func() (any, error) { return fn(args) })
	})
}

// arg returns args[i], or undefined.
func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// bytesFrom copies a Uint8Array (or ArrayBuffer) into Go.
func bytesFrom(v js.Value) ([]byte, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, invalid("expected a Uint8Array", nil)
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}

// bytesTo copies b into a new Uint8Array.
func bytesTo(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// str returns v as a string, "" for undefined or null.
func str(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// handles are the Go objects JavaScript refers to by number.
type handles struct {
	mu   sync.Mutex
	next int
	m    map[int]any
}

func (h *handles) add(v any) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[int]any{}
	}
	h.next++
	h.m[h.next] = v
	return h.next
}

func (h *handles) drop(n int) {
	h.mu.Lock()
	delete(h.m, n)
	h.mu.Unlock()
}

func getHandle[T any](h *handles, v js.Value) (T, error) {
	var zero T
	if v.Type() != js.TypeNumber {
		return zero, invalid("no such object", nil)
	}
	h.mu.Lock()
	x, ok := h.m[v.Int()]
	h.mu.Unlock()
	t, ok2 := x.(T)
	if !ok || !ok2 {
		return zero, &apiError{Code: "closed", Message: "this was closed", Detail: "sp2p: no such handle"}
	}
	return t, nil
}
