package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(Files(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The meta tag carries exactly the policy a server sends.
func TestPageCSP(t *testing.T) {
	html := read(t, "index.html")
	want := `<meta http-equiv="Content-Security-Policy" content="` + ContentSecurityPolicy + `">`
	if !strings.Contains(html, want) {
		t.Errorf("index.html has no meta tag %s", want)
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe-inline") || strings.Contains(ContentSecurityPolicy, "'unsafe-eval'") {
		t.Errorf("policy allows inline or eval: %s", ContentSecurityPolicy)
	}
	// No inline script: every script element has a src and no body.
	for _, m := range regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script: %s", m[0])
		}
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(html) || strings.Contains(html, "style=") {
		t.Error("index.html has an inline event handler or style attribute (the policy blocks them)")
	}
}

// The ids tests and assistive technology rely on are there, once each.
func TestPageIDs(t *testing.T) {
	html := read(t, "index.html")
	for _, id := range []string{"invite-button", "offer-token", "offer-link", "accept-input", "accept-button",
		"answer-token", "answer-input", "connect-button", "status", "safety-code", "messages", "message-input",
		"send-button", "file-input", "transfers", "refuse-button", "accept-confirm-button", "error", "identity-id",
		"tab-offers", "file-accept-button", "file-decline-button", "purpose-chat", "purpose-files"} {
		if n := strings.Count(html, `id="`+id+`"`); n != 1 {
			t.Errorf("id %q occurs %d times", id, n)
		}
	}
}

// Peer data goes into the page as text only: app.js builds no markup from
// strings, and loads nothing from elsewhere.
func TestPageNoMarkupFromStrings(t *testing.T) {
	js := read(t, "app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	for _, name := range []string{"index.html", "style.css"} {
		if s := read(t, name); strings.Contains(s, "https://") || strings.Contains(s, "http://") || strings.Contains(s, "@import") {
			t.Errorf("%s refers to another origin", name)
		}
	}
}

func TestMissing(t *testing.T) {
	for _, name := range Missing() {
		if name != "sp2p.js" && !strings.HasPrefix(name, "dist/") {
			t.Errorf("%s is missing: only generated files and the API module may be", name)
		}
	}
}
