// Package config reads sp2p's config file: defaults for the connection
// flags, one "KEY VALUE" per line, '#' starting a comment:
//
//	stun stun:stun.example.org:3478
//	turn turn:relay.example.org:3478?transport=udp
//	turn-user friends
//
// The TURN password never goes in this file. The file is trusted (it
// chooses the relays a session uses), so Load refuses one that another
// user owns or could change, like known_peers.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/sp2p/sp2p/internal/safefile"
)

// Name is the config file's name, next to the identity file.
const Name = "config"

// Limits of the config file.
const (
	MaxSize    = 64 << 10 // bytes
	MaxLineLen = 4096     // bytes
	MaxServers = 64       // stun and turn lines together
)

// Errors of Load and Parse; test with errors.Is.
var (
	ErrSyntax = errors.New("invalid line")
	// ErrUnsafe: the file or its directory is owned by another user or
	// writable by group or others.
	ErrUnsafe   = safefile.ErrUnsafe
	ErrTooLarge = safefile.ErrTooLarge
)

// Config is the parsed file.
type Config struct {
	STUN     []string // "stun:" URLs, in file order
	TURN     []string // "turn:" or "turns:" URLs, in file order
	TURNUser string   // the first turn-user line
}

// Load reads and parses the config file at path. A missing file is an
// empty Config and no error.
func Load(path string) (*Config, error) {
	data, err := safefile.ReadFile(path, safefile.Policy{Max: MaxSize, Strict: true})
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s:%w", path, err)
	}
	return c, nil
}

// Parse parses the file's contents (Load bounds them to MaxSize). Errors
// wrap ErrSyntax and start with the line number: "N: ...".
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 256), MaxLineLen)
	n := 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		key, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		value = strings.TrimSpace(value)
		if strings.ContainsFunc(value, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
			return nil, fmt.Errorf("%d: %w: a value has no spaces or control characters", n, ErrSyntax)
		}
		switch {
		case key == "":
		case key == "stun" && strings.HasPrefix(value, "stun:"):
			c.STUN = append(c.STUN, value)
		case key == "turn" && (strings.HasPrefix(value, "turn:") || strings.HasPrefix(value, "turns:")):
			c.TURN = append(c.TURN, value)
		case key == "turn-user" && value != "":
			if c.TURNUser == "" {
				c.TURNUser = value
			}
		default:
			return nil, fmt.Errorf("%d: %w: want \"stun URL\", \"turn URL\" or \"turn-user NAME\"", n, ErrSyntax)
		}
		if len(c.STUN)+len(c.TURN) > MaxServers {
			return nil, fmt.Errorf("%d: %w: more than %d servers", n, ErrSyntax, MaxServers)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%d: %w: %v (lines have at most %d bytes)", n+1, ErrSyntax, err, MaxLineLen)
	}
	return c, nil
}
