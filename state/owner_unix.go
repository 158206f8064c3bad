//go:build unix || js

package state

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a file or directory owned by someone other than the
// current user or root.
func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid, me := int(st.Uid), os.Geteuid(); uid != me && uid != 0 {
		return fmt.Errorf("%w: %s is owned by uid %d, not by you (uid %d) or root", ErrUnsafeFile, path, uid, me)
	}
	return nil
}
