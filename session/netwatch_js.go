//go:build js

package session

import "log/slog"

// watchNetwork does nothing in a browser: the page cannot see the host's
// addresses (the browser's own ICE restarts are its business).
func watchNetwork(log *slog.Logger, fn func()) (stop func()) { return func() {} }
