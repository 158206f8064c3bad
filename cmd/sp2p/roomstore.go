package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/safefile"
	"github.com/sp2p/sp2p/room"
)

// roomStore holds the rooms this user belongs to: one file per room in
// the rooms directory next to the identity file, named by the room's ID
// in hex, holding room.Save's bytes (the room's name, creator and signed
// membership records: nothing secret). The directory is 0700 and each
// file 0600; a file that group or others can read or write, or that
// another user owns, is refused, as for known_peers.
type roomStore struct{ dir string }

// roomFilePolicy is known_peers' policy, and private.
var roomFilePolicy = safefile.Policy{Max: room.MaxSaved, Private: true, Strict: true}

func (a *app) roomStore() (*roomStore, error) {
	p, err := a.idPath()
	if err != nil {
		return nil, err
	}
	return &roomStore{dir: filepath.Join(filepath.Dir(p), "rooms")}, nil
}

// findRoom opens the store and finds the remembered room name (see find).
func (a *app) findRoom(name string) (*roomStore, savedRoom, error) {
	st, err := a.roomStore()
	if err != nil {
		return nil, savedRoom{}, err
	}
	sr, err := st.find(name)
	return st, sr, err
}

func (s *roomStore) file(id room.ID) string {
	return filepath.Join(s.dir, hex.EncodeToString(id[:])+".room")
}

// socket is where a running member of the room listens for `room invite`
// (short, for the 108-byte limit of a Unix socket's path).
func (s *roomStore) socket(id room.ID) string {
	return filepath.Join(s.dir, hex.EncodeToString(id[:8])+".sock")
}

// privateDir checks that dir is a directory of this user's that nobody
// else can enter (the rooms directory holds the control sockets): one
// that group or others may read or enter is closed to them (0700).
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := ownedByMe(fi); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("%s is open to other users and cannot be closed: %w", dir, err)
		}
	}
	return nil
}

// save writes the room's current state.
func (s *roomStore) save(r *room.Room) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("remembering the room: %w", err)
	}
	if err := privateDir(s.dir); err != nil {
		return fmt.Errorf("remembering the room: %w", err)
	}
	if err := safefile.WriteAtomic(s.file(r.ID()), r.Save(), 0o600, true); err != nil {
		return fmt.Errorf("remembering the room: %w", err)
	}
	return nil
}

// savedRoom is one remembered room.
type savedRoom struct {
	*room.Saved
	path string
	data []byte
}

// list reads every remembered room. A file that cannot be read or does
// not verify is reported, not skipped silently.
func (s *roomStore) list() ([]savedRoom, []error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	var out []savedRoom
	var errs []error
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".room") {
			continue
		}
		p := filepath.Join(s.dir, e.Name())
		data, err := safefile.ReadFile(p, roomFilePolicy)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sr, err := room.ParseSaved(data)
		if err == nil && e.Name() != hex.EncodeToString(sr.ID[:])+".room" {
			err = fmt.Errorf("it holds room %s, not the one its name says", sr.ID)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		out = append(out, savedRoom{Saved: sr, path: p, data: data})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errs
}

// find picks the remembered room called name, or whose ID (in hex)
// starts with it (at least 8 digits).
func (s *roomStore) find(name string) (savedRoom, error) {
	rooms, errs := s.list()
	var hits []savedRoom
	for _, r := range rooms {
		hexID := hex.EncodeToString(r.ID[:])
		if r.Name == name || (len(name) >= 8 && strings.HasPrefix(hexID, strings.ToLower(name))) {
			hits = append(hits, r)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		msg := fmt.Sprintf("no remembered room %q (see sp2p room list)", sanitize(name))
		if len(errs) > 0 {
			msg += fmt.Sprintf("; %d room file(s) could not be read: %v", len(errs), errors.Join(errs...))
		}
		return savedRoom{}, &usageError{errors.New(msg)}
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = hex.EncodeToString(h.ID[:8])
	}
	return savedRoom{}, &usageError{fmt.Errorf("%d remembered rooms are called %q: name one by the start of its ID (%s)", len(hits), sanitize(name), strings.Join(ids, ", "))}
}

func (a *app) roomListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the rooms you belong to",
		Example: `  sp2p room list
  sp2p room list --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.roomStore()
			if err != nil {
				return err
			}
			peers, err := a.peers()
			if err != nil {
				return err
			}
			var self identity.ID
			if p, err := a.idPath(); err == nil {
				self, _, _ = identity.ReadPublic(p)
			}
			rooms, errs := st.list()
			for _, e := range errs {
				a.warnf("%v", e)
			}
			enc := json.NewEncoder(a.stdout)
			for _, r := range rooms {
				hexID := hex.EncodeToString(r.ID[:])
				creator, _ := peers.LookupID(r.Creator)
				running := roomRunning(st.socket(r.ID))
				if asJSON {
					enc.Encode(map[string]any{"type": "room", "room": hexID, "name": r.Name, "creator": r.Creator.String(), "creator_name": creator, "members": len(r.Members()), "running": running})
					continue
				}
				switch {
				case r.Creator == self:
					creator = "you"
				case creator == "":
					creator = r.Creator.String()[:16] + "…"
				}
				state := ""
				if running {
					state = ", open in another sp2p"
				}
				members := fmt.Sprintf("%d members", len(r.Members()))
				if len(r.Members()) == 1 {
					members = "1 member"
				}
				fmt.Fprintf(a.stdout, "%s  %s  (%s, created by %s%s)\n", hexID[:16], sanitize(r.Name), members, sanitize(creator), state)
			}
			if len(rooms) == 0 && !asJSON {
				a.infof("you belong to no room yet: sp2p room create NAME, or sp2p room join TOKEN")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per room")
	return cmd
}

func (a *app) roomForgetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "forget NAME|ID",
		Short:   "Forget a remembered room (you stay a member for the others)",
		Example: `  sp2p room forget "book club"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.roomStore()
			if err != nil {
				return err
			}
			r, err := st.find(args[0])
			if err != nil {
				return err
			}
			if err := os.Remove(r.path); err != nil {
				return err
			}
			a.infof("forgot room %q (ID %s); to come back, join with a member's invitation", sanitize(r.Name), r.ID)
			return nil
		},
	}
}
