// Command sp2p makes serverless, end-to-end encrypted peer-to-peer channels.
//
// Exit status: 0 on success, 1 on failure, 2 on wrong usage, 130 when
// interrupted (Ctrl-C, also at a prompt, or SIGTERM). Data goes to
// standard output; messages and errors go to standard error as
// "sp2p: error: …", "sp2p: warning: …" and "sp2p: hint: …" (and, below
// an error that explains a library's error in other words, that error as
// "sp2p: detail: …").
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitInterrupted is the shells' 128+SIGINT.
	exitInterrupted = 130
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run executes one command line and returns the exit status. It is the one
// place that prints errors.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	if isInterrupt(err) {
		fmt.Fprintln(stderr, "sp2p: interrupted")
		return exitInterrupted
	}
	var ue *usageError
	if errors.As(err, &ue) || !a.started {
		fmt.Fprintf(stderr, "sp2p: error: %v\n", err)
		fmt.Fprintf(stderr, "sp2p: hint: run '%s --help' for usage\n", a.usageCommandPath(root, args))
		return exitUsage
	}
	fmt.Fprintf(stderr, "sp2p: error: %v\n", err)
	var te *tokenError
	if errors.As(err, &te) {
		fmt.Fprintf(stderr, "sp2p: detail: %v\n", te.err)
	}
	var he *hintError
	if errors.As(err, &he) {
		fmt.Fprintf(stderr, "sp2p: hint: %s\n", he.hint)
	}
	for _, h := range libraryHints(err) {
		fmt.Fprintf(stderr, "sp2p: hint: %s\n", h)
	}
	return exitError
}

// usageError marks a wrong command line: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// hintError adds a hint line to an error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// plainError says what err means in words of its own, keeping err for
// errors.Is.
type plainError struct {
	msg string
	err error
}

func (e *plainError) Error() string { return e.msg }
func (e *plainError) Unwrap() error { return e.err }
