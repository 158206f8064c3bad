//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// ownedByMe refuses a file another user owns.
func ownedByMe(fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) != os.Getuid() {
		return fmt.Errorf("owned by user %d, not by you", st.Uid)
	}
	return nil
}
