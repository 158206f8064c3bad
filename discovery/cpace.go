//go:build !js

package discovery

import "github.com/sp2p/sp2p/internal/cpace"

func init() {
	newPAKE = func(initiator bool, prs, sid []byte) (pake, error) {
		role := cpace.Responder
		if initiator {
			role = cpace.Initiator
		}
		return cpace.New(role, prs, []byte(CPaceCI), sid, nil)
	}
}
