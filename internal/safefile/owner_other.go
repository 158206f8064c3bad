//go:build !unix && !js

package safefile

import "io/fs"

// checkOwnerAndDir has no owner to check on systems without Unix owners
// (Windows, Plan 9, WASI); the permission bits are still checked by the caller.
func checkOwnerAndDir(string, fs.FileInfo) error { return nil }
