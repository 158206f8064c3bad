// Package browser starts Debian's Chromium, headless, for end-to-end tests
// of sp2p's browser build, and drives its tabs through the DevTools
// protocol (chromedp over a pipe, so it also works inside a network
// namespace). It is test support: every function takes a testing.TB and
// registers its own cleanup, which kills Chromium's whole process group
// (Chromium leaves children behind) and removes its profile directory.
//
// Everything but this comment is built natively only (a browser cannot
// start one), so the package is empty under GOOS=js.
package browser
