//go:build !(linux || darwin || freebsd || dragonfly)

package transfer

import (
	"errors"
	"os"
)

// freeSpace cannot tell on this system: the offer is not checked against
// the free space (a full disk still stops the transfer with ErrDiskFull).
func freeSpace(*os.Root) (int64, error) {
	return -1, errors.ErrUnsupported
}
