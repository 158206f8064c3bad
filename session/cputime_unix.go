//go:build unix

package session

import "syscall"

// processCPU is the CPU time (user and system) this process has used, for
// the benchmark's CPU per byte; ok is false where it cannot tell.
func processCPU() (seconds float64, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), true
}
