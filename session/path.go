package session

import "github.com/sp2p/sp2p/link"

// Path reports the session's network path: connectivity checks sent and
// answered on the path in use, and their round trip. It is false when the
// link knows no network path (an in-memory link, the browser's).
func (s *Session) Path() (link.PathStats, bool) {
	ct, ok := s.transport().(interface{ channel() link.Channel })
	if !ok {
		return link.PathStats{}, false
	}
	r, ok := ct.channel().(link.PathReporter)
	if !ok {
		return link.PathStats{}, false
	}
	return r.PathStats()
}
