//go:build !unix

package main

import "os"

// ownedByMe: owners are checked on Unix systems only.
func ownedByMe(os.FileInfo) error { return nil }
