//go:build linux

package discovery

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// envInside names the test that runs inside its own network namespace.
const envInside = "SP2P_DISCOVERY_NETNS_TEST"

// inNetns runs the calling test again in a network namespace of its own
// (unshare -n: the namespace goes away with the process), where setup (a
// shell script) runs first; it returns true inside, where the test goes
// on, and false outside, after the inner run (its failure fails this one).
func inNetns(t *testing.T, setup string) bool {
	t.Helper()
	if os.Getenv(envInside) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("network namespace tests need %s", tool)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := "set -e\nip link set lo up\n" + setup + "\nexec \"$0\" -test.run '^" + t.Name() + "$' -test.v -test.count=1\n"
	cmd := exec.Command("unshare", "-n", "sh", "-c", script, exe)
	cmd.Env = append(os.Environ(), envInside+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "unshare failed") && strings.Contains(string(out), "Operation not permitted") {
		t.Skipf("cannot create a network namespace here: %s", out)
	}
	if err != nil {
		t.Fatalf("inside its network namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the inner run did not pass:\n%s", out)
	}
	t.Logf("inner run:\n%s", out)
	return false
}

// multicastLo is the setup of a namespace whose loopback can multicast.
const multicastLo = "ip link set lo multicast on\nip route add 239.0.0.0/8 dev lo src 127.0.0.1"
