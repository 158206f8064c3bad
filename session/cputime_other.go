//go:build !unix && !js

package session

// processCPU cannot tell the process's CPU time on this system.
func processCPU() (seconds float64, ok bool) { return 0, false }
