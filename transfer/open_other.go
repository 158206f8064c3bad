//go:build !unix

package transfer

// openNonblock is not needed where there are no FIFOs to open.
const openNonblock = 0
