package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
	"github.com/sp2p/sp2p/transfer"
)

// sp2pBinary is the real binary, built once by TestMain.
var sp2pBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sp2p-bin-")
	if err != nil {
		panic(err)
	}
	sp2pBinary = filepath.Join(dir, "sp2p")
	// The binary embeds the browser page's WebAssembly (web/dist), which
	// go generate ./web builds; build it first, so that sp2p web and the
	// browser tests run the page of this very source.
	if out, err := exec.Command("go", "run", "../../internal/webbuild").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building the WebAssembly (go generate ./web): " + err.Error() + "\n" + string(out))
	}
	out, err := exec.Command("go", "build", "-o", sp2pBinary, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("building sp2p: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// runBinary runs the built sp2p with a temporary HOME and no inherited
// sp2p settings.
func runBinary(t *testing.T, home string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(sp2pBinary, args...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func TestBinaryKeygenThenID(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	passFile := filepath.Join(home, "pass")
	if err := os.WriteFile(passFile, []byte("a long passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kg := runBinary(t, home, "", "keygen", "--passphrase-file", passFile)
	if kg.code != 0 {
		t.Fatalf("keygen: exit %d\n%s", kg.code, kg.stderr)
	}
	keygenID := strings.SplitN(kg.stdout, "\n", 2)[0]
	if _, err := identity.ParseID(keygenID); err != nil {
		t.Fatalf("keygen printed %q: %v", kg.stdout, err)
	}
	path := filepath.Join(home, ".config", "sp2p", "identity")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("identity file not at the default location: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v", fi.Mode().Perm())
	}

	id := runBinary(t, home, "", "id")
	if id.code != 0 || strings.SplitN(id.stdout, "\n", 2)[0] != keygenID {
		t.Fatalf("id printed %q (exit %d), keygen printed %q", id.stdout, id.code, keygenID)
	}
	if id.stdout != kg.stdout {
		t.Errorf("id output %q differs from keygen output %q", id.stdout, kg.stdout)
	}

	js := runBinary(t, home, "", "id", "--json")
	var got idJSON
	if err := json.Unmarshal([]byte(js.stdout), &got); err != nil {
		t.Fatalf("id --json is not JSON: %v\n%s", err, js.stdout)
	}
	if got.ID != keygenID || got.Protection != "passphrase" || got.Path != path || got.Fingerprint == "" {
		t.Errorf("id --json = %+v", got)
	}

	// The key really is encrypted under that passphrase.
	ident, _, err := identity.Load(path, func() ([]byte, error) { return []byte("a long passphrase"), nil })
	if err != nil || ident.ID().String() != keygenID {
		t.Fatalf("loading the key with the passphrase: %v", err)
	}
	if _, _, err := identity.Load(path, func() ([]byte, error) { return []byte("wrong"), nil }); err == nil {
		t.Fatal("the key opened with a wrong passphrase")
	}

	// keygen again: refused without --force, the identity is unchanged.
	again := runBinary(t, home, "", "keygen", "--passphrase-file", passFile)
	if again.code != 1 || !strings.Contains(again.stderr, "--force") {
		t.Fatalf("second keygen: exit %d, %s", again.code, again.stderr)
	}
	if id2 := runBinary(t, home, "", "id"); id2.stdout != id.stdout {
		t.Fatal("identity changed after a refused keygen")
	}
	forced := runBinary(t, home, "", "keygen", "--no-passphrase", "--force")
	if forced.code != 0 || forced.stdout == kg.stdout || !strings.Contains(forced.stderr, "NOT encrypted") {
		t.Fatalf("keygen --force --no-passphrase: exit %d\n%s\n%s", forced.code, forced.stdout, forced.stderr)
	}
}

func TestBinaryEnvironmentAndPassphraseSources(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	keyPath := filepath.Join(home, "elsewhere", "me.key")
	// No terminal and no passphrase file: a clear error, exit 1.
	r := runBinary(t, home, "", "keygen", "--identity", keyPath)
	if r.code != 1 || !strings.Contains(r.stderr, "no terminal") || !strings.Contains(r.stderr, "--passphrase-file") {
		t.Fatalf("keygen without a passphrase source: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(keyPath); err == nil {
		t.Fatal("a key file was written without a passphrase")
	}
	r = runBinary(t, home, "", "keygen", "--identity", keyPath, "--no-passphrase", "--json")
	if r.code != 0 {
		t.Fatalf("keygen --identity: %d %s", r.code, r.stderr)
	}
	var kg idJSON
	if err := json.Unmarshal([]byte(r.stdout), &kg); err != nil || kg.Protection != "none" {
		t.Fatalf("keygen --json: %v %q", err, r.stdout)
	}
	// SP2P_IDENTITY selects the same file.
	cmd := exec.Command(sp2pBinary, "id")
	cmd.Env = []string{"HOME=" + home, "SP2P_IDENTITY=" + keyPath}
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), kg.ID+"\n") {
		t.Fatalf("id with SP2P_IDENTITY: %v %q", err, out)
	}
	// A group-readable key is refused with the fix.
	if err := os.Chmod(keyPath, 0o640); err != nil {
		t.Fatal(err)
	}
	r = runBinary(t, home, "", "id", "--identity", keyPath)
	if r.code != 1 || !strings.Contains(r.stderr, "chmod 600") {
		t.Fatalf("group-readable key: exit %d %s", r.code, r.stderr)
	}
}

func TestBinaryPeers(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	bob, _ := identity.Generate()
	mallory, _ := identity.Generate()
	if r := runBinary(t, home, "", "peers", "add", "bob", bob.ID().String()); r.code != 0 {
		t.Fatalf("peers add: %d %s", r.code, r.stderr)
	}
	r := runBinary(t, home, "", "peers", "add", "bob", mallory.ID().String())
	if r.code != 1 || !strings.Contains(r.stderr, "already bound") {
		t.Fatalf("conflicting peers add: exit %d %s", r.code, r.stderr)
	}
	r = runBinary(t, home, "", "peers", "list", "--json")
	var rows []struct {
		Name, ID, Fingerprint string
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].ID != bob.ID().String() {
		t.Fatalf("peers list --json: %v %q", err, r.stdout)
	}
	r = runBinary(t, home, "", "peers", "list")
	if !strings.Contains(r.stdout, "bob") || !strings.Contains(r.stdout, bob.ID().Fingerprint()) {
		t.Fatalf("peers list: %q", r.stdout)
	}
	if r := runBinary(t, home, "", "peers", "remove", "bob"); r.code != 0 {
		t.Fatalf("peers remove: %d %s", r.code, r.stderr)
	}
	if r := runBinary(t, home, "", "peers", "remove", "bob"); r.code != 1 {
		t.Fatalf("removing an unknown peer: exit %d", r.code)
	}
}

// Exit codes and messages, run in-process.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	cases := []struct {
		args    []string
		code    int
		stderr  string
		nostdin bool
	}{
		{[]string{"version"}, 0, "", false},
		{[]string{"--help"}, 0, "", false},
		{[]string{"nosuchcommand"}, 2, "unknown command", false},
		{[]string{"id", "--nosuchflag"}, 2, "unknown flag", false},
		{[]string{"peers", "add", "bob"}, 2, "accepts 2 arg", false},
		{[]string{"peers", "add", "bob", "sp2p1notanid"}, 2, "invalid ID", false},
		{[]string{"peers", "add", "-bob", "x"}, 2, "", false},
		{[]string{"peers"}, 2, "missing subcommand", false},
		{[]string{"id", "--identity", key}, 1, "sp2p keygen", false},
		{[]string{"completion", "bash"}, 0, "", false},
		{[]string{"invite", "--qr-style", "bogus", "--loopback"}, 2, "--qr-style", false},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(c.args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, code, c.code, errb.String())
		}
		if c.code != 0 && !strings.HasPrefix(errb.String(), "sp2p: error: ") {
			t.Errorf("%v: stderr %q does not start with 'sp2p: error: '", c.args, errb.String())
		}
		if !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("%v: stderr %q does not mention %q", c.args, errb.String(), c.stderr)
		}
	}
}

// Every command has a one-line summary and an example.
func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	a := &app{getenv: func(string) string { return "" }}
	root := a.rootCmd()
	var check func(path string, cmds []*cobra.Command)
	check = func(path string, cmds []*cobra.Command) {
		for _, c := range cmds {
			if c.Name() == "help" || c.Name() == "completion" || c.Hidden {
				continue
			}
			if c.Short == "" || strings.Contains(c.Short, "\n") {
				t.Errorf("%s %s: no one-line summary", path, c.Name())
			}
			if c.Example == "" {
				t.Errorf("%s %s: no example in --help", path, c.Name())
			}
			check(path+" "+c.Name(), c.Commands())
		}
	}
	check("sp2p", root.Commands())
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	if got := sanitize("bob\x1b[2J\r\n\u009b"); got != `bob\x1b[2J\x0d\x0a\x9b` {
		t.Errorf("sanitize = %q", got)
	}
	if got := sanitize("gpj.\u202eexe\u2028sp2p: connected"); got != `gpj.\u202eexe\u2028sp2p: connected` {
		t.Errorf("sanitize = %q", got)
	}
}

// The demo runs the whole flow with no identity, no input and no network
// beyond loopback, and narrates it.
func TestDemo(t *testing.T) {
	t.Parallel()
	r := runBinary(t, t.TempDir(), "", "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"offer token (", "refuses it: invite: bad signature", "equal: nobody substituted", "Bob: Hi Alice", "answer replayed", "Session stats"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// sp2p bench --json prints one object with every figure the README and
// BENCHMARKS.md name.
func TestBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for several seconds")
	}
	t.Parallel()
	r := runBinary(t, t.TempDir(), "", "bench", "--duration", "100ms", "--json")
	if r.code != 0 {
		t.Fatalf("bench: exit %d\n%s", r.code, r.stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"bulk_mb_s", "bulk_cpu_s_per_gib", "small_msgs_s", "small_msgs_4_senders_s", "rtt_us", "connect_ms", "session_kib", "idle_kib", "token_chars", "qr_version"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %s", k, r.stdout)
		}
	}
	bulk, _ := got["bulk_mb_s"].(map[string]any)
	if _, ok := bulk["raw"].(float64); !ok {
		t.Errorf("bulk_mb_s.raw missing: %v", bulk)
	}
	// Raw pion may measure zero in a 100 ms run (a one-second SCTP stall
	// with its default buffers); sp2p's tuned figures may not.
	for _, k := range []string{"raw_tuned", "sealed"} {
		if v, _ := bulk[k].(float64); v <= 0 {
			t.Errorf("bulk_mb_s.%s = %v", k, bulk[k])
		}
	}
	if r := runBinary(t, t.TempDir(), "", "bench", "--duration", "1ns"); r.code != 2 {
		t.Errorf("bench --duration 1ns: exit %d, want 2", r.code)
	}
}

// The config file adds default STUN/TURN servers; a bad line is reported
// with its number.
func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("# defaults\nstun stun:127.0.0.1:3478\n\nturn turn:127.0.0.1:3479?transport=udp  # relay\nturn-user friends\n"), 0o600)
	a := &app{identityPath: filepath.Join(dir, "identity"), getenv: func(string) string { return "" }}
	var f connFlags
	f.heartbeat = time.Second
	opts, err := a.sessionOptions(&f)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.ICEServers) != 2 || opts.ICEServers[0].URLs[0] != "stun:127.0.0.1:3478" || opts.ICEServers[1].Username != "friends" {
		t.Fatalf("servers %+v", opts.ICEServers)
	}
	os.WriteFile(cfg, []byte("stun stun:x:1\nstnu stun:y:2\n"), 0o600)
	if _, err := a.sessionOptions(&connFlags{heartbeat: time.Second}); err == nil || !strings.Contains(err.Error(), "config "+cfg+":2") {
		t.Fatalf("bad line: %v", err)
	}
}

// sp2p relay: a bad --allow-peer says what was wrong and exits 2, as do
// other usage errors of the command.
func TestBinaryRelayUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--allow-peer", "10.0.0.0/33"}, `--allow-peer: bad peer range "10.0.0.0/33": want a CIDR range`},
		{[]string{"--allow-peer", "lab"}, `--allow-peer: bad peer range "lab"`},
		{[]string{"--max-allocations", "0"}, "--max-allocations 0: want at least 1"},
		{[]string{"--ports", "9-1"}, `--ports "9-1": want MIN-MAX`},
	} {
		args := append([]string{"relay", "--relay-ip", "127.0.0.1", "--user", "u", "--listen", "127.0.0.1:0"}, c.args...)
		cmd := exec.Command(sp2pBinary, args...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "SP2P_TURN_PASSWORD=p"}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("relay %v: %v, want exit 2 saying %q:\n%s", c.args, err, c.want, errb.String())
		}
	}
}

// The libraries' failure data become hint lines that name the flags and
// commands; the library messages themselves name none.
func TestLibraryHints(t *testing.T) {
	t.Parallel()
	for cause, want := range map[session.FailureCause]string{
		session.CauseStrictNAT:       "sp2p relay",
		session.CauseNoPublicAddress: "--stun",
		session.CauseRelayFailed:     "--turn",
	} {
		err := fmt.Errorf("connecting: %w", &session.ConnectFailure{Cause: cause, Err: session.ErrConnectFailed})
		hints := libraryHints(err)
		if len(hints) != 1 || !strings.Contains(hints[0], want) {
			t.Errorf("cause %v: hints %q, want one naming %q", cause, hints, want)
		}
		if strings.Contains(err.Error(), want) {
			t.Errorf("the library message names %q: %v", want, err)
		}
	}
	if h := libraryHints(fmt.Errorf("x: %w", transfer.ErrExists)); len(h) != 1 || !strings.Contains(h[0], "--overwrite") || strings.Contains(transfer.ErrExists.Error(), "--") {
		t.Errorf("file exists: hints %q", h)
	}
	if h := libraryHints(session.ErrCertificateMismatch); len(h) != 1 {
		t.Errorf("certificate mismatch: hints %q", h)
	}
}

// No library error names a flag or a command: the CLI adds those as hints.
func TestIdentityHints(t *testing.T) {
	t.Parallel()
	id, _ := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	other, _ := identity.FromSeed(bytes.Repeat([]byte{2}, 32))
	for err, want := range map[error]string{
		fmt.Errorf("x: %w", identity.ErrNoIdentity):                                    "sp2p keygen",
		fmt.Errorf("x: %w", identity.ErrExists):                                        "--force",
		fmt.Errorf("x: %w", identity.ErrUnknownPeer):                                   "sp2p peers list",
		&identity.PeerConflictError{Name: "bob", Pinned: id.ID(), Offered: other.ID()}: "sp2p peers remove bob",
	} {
		h := libraryHints(err)
		if len(h) != 1 || !strings.Contains(h[0], want) {
			t.Errorf("%v: hints %q, want one naming %q", err, h, want)
		}
		if strings.Contains(err.Error(), "sp2p ") || strings.Contains(err.Error(), "--") {
			t.Errorf("library error names a command or flag: %v", err)
		}
	}
}
