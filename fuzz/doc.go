// Package fuzz holds sp2p's fuzz targets: one for every decoder that reads
// untrusted bytes. Each target checks properties (no panic, limits hold,
// round trips are stable), not just that the code runs. Seed corpora live in
// testdata/fuzz/<Target>/ and are also run by plain `go test`.
//
// Run one target for a while:
//
//	go test -run '^$' -fuzz '^FuzzOpen$' -fuzztime 5m ./fuzz
package fuzz
