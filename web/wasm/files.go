//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"syscall/js"
)

// maxReceive bounds what receiveFiles keeps in memory (the page's Blobs).
const maxReceive = 1 << 30

// errTooLarge is an offer of files larger than a page can hold.
var errTooLarge = errors.New("sp2p: the files are larger than the page can hold")

func (b *bridge) sendFiles(a []js.Value) (any, error) {
	x, err := getHandle[*jsSession](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	if x.purpose != purposeFiles {
		return nil, fmt.Errorf("%w: this session is for %s, not files", errWrongPurpose, x.purpose)
	}
	return nil, fmt.Errorf("%w: sending files is not in this build yet", errWrongPurpose)
}

func (b *bridge) receiveFiles(a []js.Value) (any, error) {
	x, err := getHandle[*jsSession](&b.h, arg(a, 0))
	if err != nil {
		return nil, err
	}
	if x.purpose != purposeFiles {
		return nil, fmt.Errorf("%w: this session is for %s, not files", errWrongPurpose, x.purpose)
	}
	return nil, fmt.Errorf("%w: receiving files is not in this build yet", errWrongPurpose)
}
