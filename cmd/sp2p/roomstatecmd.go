package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/state"
)

func (a *app) roomStateCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "state NAME|ID",
		Short: "Show a room's shared map (as this member holds it)",
		Example: `  sp2p room state "book club"
  sp2p room state "book club" --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			st, sr, err := a.findRoom(args[0])
			if err != nil {
				return err
			}
			peers, err := a.peers()
			if err != nil {
				return err
			}
			var sj stateJSON
			var v *state.View
			var forks []state.Evidence
			reply, running, err := stateThroughRunning(ctx, st, sr.ID, "state", "")
			switch {
			case running && err != nil:
				return err
			case running:
				if err := json.Unmarshal(reply.State, &sj); err != nil {
					return fmt.Errorf("the running room sent a bad state: %w", err)
				}
			default:
				rep, err := a.openSavedState(st, sr)
				if err != nil {
					return err
				}
				defer rep.Close()
				v, forks = rep.View(), rep.Evidence()
				sj = newStateJSON(sr.ID, v, forks)
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(sj)
			}
			if v == nil { // from the running room: print what it sent
				printStateJSON(a, sj)
				return nil
			}
			self := identity.ID{}
			if p, err := a.idPath(); err == nil {
				self, _, _ = identity.ReadPublic(p)
			}
			label := func(id identity.ID) (string, string) {
				if id == self {
					return "", "you"
				}
				return (&roomChat{peers: peers}).label(id)
			}
			printState(func(format string, args ...any) { fmt.Fprintf(a.stdout, format, args...) }, v, forks, label)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print one JSON object: {"type":"state","room":…,"map":{…},"set":[…],"counters":{…},"messages":N}`)
	return cmd
}

func printStateJSON(a *app, sj stateJSON) {
	v := &state.View{Map: map[string]state.MapEntry{}, Set: sj.Set, Counters: sj.Counters}
	for k, val := range sj.Map {
		v.Map[k] = state.MapEntry{Value: []byte(val)}
	}
	for range sj.Messages {
		v.History = append(v.History, state.Message{})
	}
	printState(func(format string, args ...any) { fmt.Fprintf(a.stdout, format, args...) }, v, nil,
		func(identity.ID) (string, string) { return "", "" })
	for _, f := range sj.Forks {
		fmt.Fprintf(a.stdout, "  WARNING: %s signed two different histories (a fork)\n", f)
	}
}

func (a *app) roomExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "export NAME|ID FILE",
		Short:   "Write a room's state (every signed operation) to FILE, for import by any member",
		Example: `  sp2p room export "book club" club.snapshot`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			st, sr, err := a.findRoom(args[0])
			if err != nil {
				return err
			}
			file, err := filepath.Abs(args[1])
			if err != nil {
				return err
			}
			reply, running, err := stateThroughRunning(ctx, st, sr.ID, "export", file)
			if !running {
				rep, oerr := a.openSavedState(st, sr)
				if oerr != nil {
					return oerr
				}
				defer rep.Close()
				err = rep.SaveSnapshot(file)
				reply.Ops = rep.Ops()
			}
			if err != nil {
				return err
			}
			a.infof("room %q: %d operations written to %s", sanitize(sr.Name), reply.Ops, args[1])
			return nil
		},
	}
}

func (a *app) roomImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "import FILE",
		Short:   "Take in the operations of a file sp2p room export wrote (each one is verified)",
		Example: `  sp2p room import club.snapshot`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			file, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			rid, err := snapshotRoom(file)
			if err != nil {
				return err
			}
			st, err := a.roomStore()
			if err != nil {
				return err
			}
			sr, err := st.find(hex.EncodeToString(rid[:]))
			if err != nil {
				return fmt.Errorf("%s holds the state of room %x…, which you do not belong to: %w", args[0], rid[:8], err)
			}
			reply, running, err := stateThroughRunning(ctx, st, sr.ID, "import", file)
			if !running {
				rep, oerr := a.openSavedState(st, sr)
				if oerr != nil {
					return oerr
				}
				defer rep.Close()
				var res state.ImportResult
				res, err = rep.ImportFile(file)
				reply.Ops, reply.Taken, reply.Skipped = res.Ops, res.Taken, res.Skipped
			}
			if err != nil {
				return err
			}
			a.infof("room %q: %d operations in %s, %d new here, %d skipped (not by members)", sanitize(sr.Name), reply.Ops, args[0], reply.Taken, reply.Skipped)
			return nil
		},
	}
}

// snapshotRoom reads the room ID from a snapshot's header (the rest is
// checked by the import).
func snapshotRoom(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	rid, err := state.SnapshotRoom(f)
	if err != nil {
		return rid, fmt.Errorf("%s is not a room state written by sp2p room export: %w", path, err)
	}
	return rid, nil
}
