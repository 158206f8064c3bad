//go:build unix || js

package safefile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkOwnerAndDir refuses a file owned by someone other than the current
// user or root, and a directory holding it that such a user owns or that
// group or others can write (they could replace the file).
func checkOwnerAndDir(path string, fi fs.FileInfo) error {
	me := os.Geteuid()
	if err := checkOwner(path, fi, me); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if perm := di.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%w: the directory %s that holds %s is writable by group or others (permissions %04o), who could replace the file (fix with: chmod go-w %s)",
			ErrUnsafe, dir, path, perm, dir)
	}
	return checkOwner(dir, di, me)
}

func checkOwner(path string, fi fs.FileInfo, me int) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(st.Uid); uid != me && uid != 0 {
		return fmt.Errorf("%w: %s is owned by uid %d, not by you (uid %d) or root (fix with: chown %d %s)",
			ErrUnsafe, path, uid, me, me, path)
	}
	return nil
}
