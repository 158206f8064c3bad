//go:build unix

package transfer

import "syscall"

// openNonblock keeps an open from blocking when a FIFO was swapped in for
// a file (the open then fails the regular-file check instead of hanging).
const openNonblock = syscall.O_NONBLOCK
