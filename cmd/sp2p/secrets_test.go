package main

import (
	"bufio"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretForms returns a secret in every encoding it could leak in.
func secretForms(secret []byte) []string {
	return []string{
		string(secret),
		hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret), base64.RawStdEncoding.EncodeToString(secret),
		base64.URLEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret),
		base32.StdEncoding.EncodeToString(secret), base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret),
	}
}

// No key material or passphrase appears in anything sp2p prints: stdout,
// stderr, errors, --json output, across keygen, id, wrong passphrases, a
// whole session and a file transfer.
func TestNoSecretsInOutput(t *testing.T) {
	t.Parallel()
	var outputs []string
	collect := func(r result) { outputs = append(outputs, r.stdout, r.stderr) }

	// A passphrase-protected identity: the passphrase never shows.
	homeP := t.TempDir()
	pass := "correct horse battery staple 42"
	pf := filepath.Join(homeP, "pass")
	os.WriteFile(pf, []byte(pass+"\n"), 0o600)
	wrong := filepath.Join(homeP, "wrong")
	os.WriteFile(wrong, []byte("tr0ub4dor&3 wrong guess\n"), 0o600)
	collect(runBinary(t, homeP, "", "keygen", "--passphrase-file", pf))
	collect(runBinary(t, homeP, "", "id", "--json"))
	collect(runBinary(t, homeP, "", "invite", "--passphrase-file", wrong, "--loopback", "--json"))
	collect(runBinary(t, homeP, "", "keygen", "--passphrase-file", pf))

	// An unencrypted identity, so the test knows the seed; then a session
	// and a transfer with it, in JSON and text modes.
	homeA, homeB := newHome(t), newHome(t)
	seedOf := func(home string) []byte {
		f, err := os.Open(filepath.Join(home, ".config", "sp2p", "identity"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "secret-key: "); ok {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		t.Fatal("no secret-key line")
		return nil
	}
	seeds := [][]byte{seedOf(homeA), seedOf(homeB)}
	collect(runBinary(t, homeA, "", "id", "--json"))
	dir := t.TempDir()
	src := filepath.Join(dir, "file.txt")
	os.WriteFile(src, []byte("some content"), 0o644)
	out := t.TempDir()
	a := startBinary(t, homeA, nil, "send", "--offer-file", filepath.Join(dir, "o"), "--answer-file", filepath.Join(dir, "a"), "--yes", "--loopback", "--json", src)
	b := startBinary(t, homeB, nil, "receive", "--offer-file", filepath.Join(dir, "o"), "--answer-file", filepath.Join(dir, "a"), "--yes", "--loopback", "--json", "--out", out)
	b.wait(t, 60*time.Second)
	a.wait(t, 30*time.Second)
	outputs = append(outputs, a.stdout.String(), a.stderr.String(), b.stdout.String(), b.stderr.String())
	if !strings.Contains(b.stderr.String(), "received 1 file") {
		t.Fatalf("the transfer did not run:\n%s", b.stderr.String())
	}

	all := strings.Join(outputs, "\n")
	// The outputs do carry identity data (so the search below is over the
	// right text): the public IDs are there.
	for _, home := range []string{homeA, homeB} {
		id := strings.SplitN(runBinary(t, home, "", "id").stdout, "\n", 2)[0]
		if !strings.Contains(all, id) {
			t.Fatalf("the captured output lacks the public ID %s", id)
		}
	}
	if !strings.Contains(all, "wrong passphrase") {
		t.Fatalf("the wrong-passphrase case did not run:\n%s", all)
	}
	for _, secret := range [][]byte{[]byte(pass), []byte("tr0ub4dor&3")} {
		if strings.Contains(all, string(secret)) {
			t.Errorf("a passphrase appears in the output")
		}
	}
	for i, seed := range seeds {
		for _, form := range secretForms(seed) {
			if strings.Contains(all, form) {
				t.Errorf("identity %d's secret key appears in the output (as %q…)", i, form[:8])
			}
		}
	}
}
