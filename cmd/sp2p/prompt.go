package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// The terminal prompts. Every question sp2p asks goes to the controlling
// terminal (/dev/tty), never to stdin, which may carry data. The answer is
// read with the terminal in raw mode, so that the keys arrive as bytes:
// Ctrl-C cannot be swallowed by a command's own signal handler, and
// Ctrl-D is seen even where a cooked read would just wait again.
//
//	Enter          ends the line
//	Backspace      deletes the last character; Ctrl-U the whole line
//	Ctrl-C         errInterrupted: exit 130, nothing left behind
//	Ctrl-D         errNoInput on an empty line (each prompt says what
//	               that means for it); ignored after some input
//
// The terminal's state is restored before a prompt returns, also when a
// signal (SIGINT, SIGTERM, SIGHUP) comes while it waits.

var (
	// errInterrupted is Ctrl-C at a prompt, or a signal while sp2p waits:
	// run exits 130 saying "sp2p: interrupted".
	errInterrupted = errors.New("interrupted")
	// errNoInput is Ctrl-D on an empty line, or the end of the terminal.
	errNoInput = errors.New("no input (Ctrl-D)")
)

// maxPromptLine bounds a typed line (a passphrase at most as long as a
// passphrase file may be).
const maxPromptLine = maxPassphraseFile

// isInterrupt reports whether err comes from Ctrl-C or a signal: a prompt's
// errInterrupted, or the cancellation of the signal context (every other
// context in cmd/sp2p ends by a deadline, not by cancellation).
func isInterrupt(err error) bool {
	return errors.Is(err, errInterrupted) || errors.Is(err, context.Canceled)
}

// openTTY opens the controlling terminal for one prompt; the caller
// closes it.
func openTTY() (*os.File, error) {
	return os.OpenFile("/dev/tty", os.O_RDWR, 0)
}

// readLine reads one line typed on tty, in raw mode, echoing it when echo
// is set (never for a passphrase). The line is the caller's to clear. The
// line's end is echoed for Enter and Ctrl-C; after errNoInput the caller
// finishes the line with what Ctrl-D meant.
func readLine(tty *os.File, echo bool) ([]byte, error) {
	// Signals are caught before the terminal changes, so that none can
	// end the process between the change and its undoing.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	raw, err := tty.SyscallConn()
	if err != nil {
		return nil, err
	}
	// Through Control, not Fd: Fd would make tty blocking, and the read
	// below could then not be ended by a deadline.
	var old *term.State
	cerr := raw.Control(func(fd uintptr) { old, err = term.MakeRaw(int(fd)) })
	if err = errors.Join(cerr, err); err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	restore := func() { raw.Control(func(fd uintptr) { term.Restore(int(fd), old) }) }

	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := editLine(tty, tty, echo)
		done <- result{line, err}
	}()
	select {
	case r := <-done:
		restore()
		return r.line, r.err
	case <-sigs:
		// End the read; if the terminal cannot take a deadline, leave the
		// reader to the process's exit.
		if tty.SetReadDeadline(time.Now()) == nil {
			r := <-done
			clear(r.line)
		}
		restore()
		fmt.Fprintln(tty)
		return nil, errInterrupted
	}
}

// editLine is readLine's line editor, on any reader and writer (the
// terminal in raw mode: Enter is "\r", output needs "\r\n"). It reads one
// byte at a time, so nothing after the line's end is consumed. Escape
// sequences (arrow keys and the like) and other control characters are
// ignored; input beyond maxPromptLine bytes rings the bell.
func editLine(r io.Reader, w io.Writer, echo bool) ([]byte, error) {
	line := make([]byte, 0, maxPromptLine) // never grown: no stray copies of a secret
	show := func(s string) {
		if echo {
			io.WriteString(w, s)
		}
	}
	const (
		plain = iota
		escape
		sequence
	)
	state := plain
	var b [1]byte
	defer clear(b[:])
	for {
		n, err := r.Read(b[:])
		if n == 0 {
			if err == nil {
				continue
			}
			clear(line)
			if errors.Is(err, io.EOF) {
				return nil, errNoInput
			}
			return nil, fmt.Errorf("reading the terminal: %w", err)
		}
		c := b[0]
		switch state {
		case escape:
			state = plain
			if c == '[' || c == 'O' {
				state = sequence
			}
			continue
		case sequence:
			if c >= 0x40 && c <= 0x7e {
				state = plain
			}
			continue
		}
		switch c {
		case 0x03: // Ctrl-C
			clear(line)
			io.WriteString(w, "^C\r\n")
			return nil, errInterrupted
		case 0x04: // Ctrl-D
			if len(line) == 0 {
				return nil, errNoInput
			}
		case '\r', '\n':
			io.WriteString(w, "\r\n")
			return line, nil
		case 0x7f, 0x08: // Backspace
			if len(line) > 0 {
				_, size := utf8.DecodeLastRune(line)
				clear(line[len(line)-size:])
				line = line[:len(line)-size]
				show("\b \b")
			}
		case 0x15: // Ctrl-U
			show(strings.Repeat("\b \b", utf8.RuneCount(line)))
			clear(line)
			line = line[:0]
		case 0x1b:
			state = escape
		default:
			switch {
			case c < 0x20:
			case len(line) == cap(line):
				io.WriteString(w, "\a")
			default:
				line = append(line, c)
				show(string(b[:]))
			}
		}
	}
}

// confirm asks a yes/no question on the terminal. Ctrl-D answers no;
// Ctrl-C returns errInterrupted. What was typed or pasted before the
// question (a token pasted twice, say) is thrown away first: only what
// is typed after the question answers it.
func (a *app) confirm(question string) (bool, error) {
	tty, err := openTTY()
	if err != nil {
		return false, &hintError{errors.New("no terminal to ask for confirmation"), "use --yes, or pin the peer with --to/--expect"}
	}
	defer tty.Close()
	if n := discardTyped(tty); n > 0 {
		a.infof("ignored %d characters typed or pasted before the question", n)
	}
	fmt.Fprintf(tty, "%s [y/N] ", question)
	line, err := readLine(tty, true)
	if errors.Is(err, errNoInput) {
		fmt.Fprintln(tty, "no (Ctrl-D)")
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(string(line)))
	return ans == "y" || ans == "yes", nil
}

// askLine asks for one line on the terminal; Ctrl-D gives an empty line,
// Ctrl-C errInterrupted.
func (a *app) askLine(prompt string) (string, error) {
	tty, err := openTTY()
	if err != nil {
		return "", err
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	line, err := readLine(tty, true)
	if errors.Is(err, errNoInput) {
		fmt.Fprintln(tty)
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(line)), nil
}

// askSecret asks for a secret on the terminal, without echo.
func askSecret(tty *os.File, prompt string) ([]byte, error) {
	fmt.Fprint(tty, prompt)
	p, err := readLine(tty, false)
	if errors.Is(err, errNoInput) {
		fmt.Fprintln(tty)
	}
	return p, err
}

// discardTyped reads and throws away what waits to be read on tty (typed
// or pasted ahead), with the terminal in raw mode so that a line not yet
// ended goes too, and returns how many bytes it threw away. It needs a
// terminal that takes read deadlines; on one that does not, it discards
// nothing.
func discardTyped(tty *os.File) int {
	raw, err := tty.SyscallConn()
	if err != nil {
		return 0
	}
	var old *term.State
	if cerr := raw.Control(func(fd uintptr) { old, err = term.MakeRaw(int(fd)) }); cerr != nil || err != nil {
		return 0
	}
	defer raw.Control(func(fd uintptr) { term.Restore(int(fd), old) })
	defer tty.SetReadDeadline(time.Time{})
	n := 0
	buf := make([]byte, 512)
	for n < 1<<20 {
		// Whatever is waiting is there at once; a pause ends it.
		if tty.SetReadDeadline(time.Now().Add(50*time.Millisecond)) != nil {
			break
		}
		k, err := tty.Read(buf)
		n += k
		if err != nil {
			break
		}
	}
	clear(buf)
	return n
}

// discardTerminalInput throws away what waits on stdin when stdin is the
// terminal (typed or pasted ahead: no question or chat asked for it),
// saying so. Stdin that is not a terminal (data) is left alone.
func (a *app) discardTerminalInput() {
	f, ok := a.stdin.(*os.File)
	if !ok {
		return
	}
	raw, err := f.SyscallConn()
	if err != nil {
		return
	}
	isTTY := false
	raw.Control(func(fd uintptr) { isTTY = term.IsTerminal(int(fd)) })
	if !isTTY {
		return
	}
	tty, err := openTTY()
	if err != nil {
		return
	}
	defer tty.Close()
	if n := discardTyped(tty); n > 0 {
		a.infof("ignored %d characters typed or pasted after the token", n)
	}
}
