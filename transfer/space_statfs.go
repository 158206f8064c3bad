//go:build linux || darwin || freebsd || dragonfly

package transfer

import (
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// freeSpace is what the filesystem holding root has available to an
// unprivileged user, in bytes.
func freeSpace(root *os.Root) (int64, error) {
	d, err := root.Open(".")
	if err != nil {
		return -1, err
	}
	defer d.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &st); err != nil {
		return -1, err
	}
	avail, bsize := uint64(st.Bavail), uint64(st.Bsize)
	if bsize != 0 && avail > math.MaxInt64/bsize {
		return math.MaxInt64, nil
	}
	return int64(avail * bsize), nil
}
