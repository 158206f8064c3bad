package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The terminal prompts: every question sp2p asks is asked on the
// controlling terminal (/dev/tty), never on stdin, which may carry data.

// openTTY opens the controlling terminal for one prompt; the caller
// closes it.
func openTTY() (*os.File, error) {
	return os.OpenFile("/dev/tty", os.O_RDWR, 0)
}

// confirm asks a yes/no question on the terminal.
func (a *app) confirm(question string) (bool, error) {
	tty, err := openTTY()
	if err != nil {
		return false, &hintError{errors.New("no terminal to ask for confirmation"), "use --yes, or pin the peer with --to/--expect"}
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s [y/N] ", question)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}

// askLine asks for one line on the terminal.
func (a *app) askLine(prompt string) (string, error) {
	tty, err := openTTY()
	if err != nil {
		return "", err
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimSpace(line), nil
}
