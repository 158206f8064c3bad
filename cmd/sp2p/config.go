package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The config file, "config" next to the identity, holds defaults for the
// connection flags, one per line, '#' for comments:
//
//	stun stun:stun.example.org:3478
//	turn turn:relay.example.org:3478?transport=udp
//	turn-user friends
//
// Flags given on the command line come first; the file's servers are
// added after them. The TURN password never goes in this file: it comes
// from $SP2P_TURN_PASSWORD or --turn-password-file.
const configName = "config"

func (a *app) applyConfigDefaults(f *connFlags) error {
	idPath, err := a.idPath()
	if err != nil {
		return nil // no config directory: no defaults
	}
	path := filepath.Join(filepath.Dir(idPath), configName)
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		key, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		value = strings.TrimSpace(value)
		switch {
		case key == "":
		case key == "stun" && strings.HasPrefix(value, "stun:"):
			f.stun = append(f.stun, value)
		case key == "turn" && (strings.HasPrefix(value, "turn:") || strings.HasPrefix(value, "turns:")):
			f.turn = append(f.turn, value)
		case key == "turn-user" && value != "":
			if f.turnUser == "" {
				f.turnUser = value
			}
		default:
			return fmt.Errorf("config %s:%d: want \"stun URL\", \"turn URL\" or \"turn-user NAME\"", path, n)
		}
	}
	return sc.Err()
}
