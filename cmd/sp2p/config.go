package main

import (
	"path/filepath"

	"github.com/sp2p/sp2p/internal/config"
)

// The config file, "config" next to the identity, holds defaults for the
// connection flags (see internal/config for the format):
//
//	stun stun:stun.example.org:3478
//	turn turn:relay.example.org:3478?transport=udp
//	turn-user friends
//
// Flags given on the command line come first; the file's servers are
// added after them. The TURN password never goes in this file: it comes
// from $SP2P_TURN_PASSWORD or --turn-password-file. The file is refused
// when another user owns it or its directory, or group or others can
// write either.
func (a *app) applyConfigDefaults(f *connFlags) error {
	idPath, err := a.idPath()
	if err != nil {
		return nil // no config directory: no defaults
	}
	c, err := config.Load(filepath.Join(filepath.Dir(idPath), config.Name))
	if err != nil {
		return err
	}
	f.stun = append(f.stun, c.STUN...)
	f.turn = append(f.turn, c.TURN...)
	if f.turnUser == "" {
		f.turnUser = c.TURNUser
	}
	return nil
}
