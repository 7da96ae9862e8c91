package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeInstall: `make install` puts the three binaries, stamped with
// the version, in PREFIX/bin, and `make run` builds into BIN and runs
// BIN/viber up.
func TestMakeInstall(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed here")
	}
	tmp := t.TempDir()
	bin, prefix := filepath.Join(tmp, "bin"), filepath.Join(tmp, "prefix")
	cmd := exec.Command("make", "--no-print-directory", "-C", "..", "install", "BIN="+bin, "PREFIX="+prefix, "VERSION="+oddVersion, "BUILDFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, name := range []string{"viber", "vibergw", "viberd"} {
		path := filepath.Join(prefix, "bin", name)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Fatalf("%s: not installed as an executable (%v)", path, err)
		}
		out, err := exec.Command(path, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), oddVersion) {
			t.Errorf("%s --version: %v %q; want %s", name, err, out, oddVersion)
		}
	}
	out, err := exec.Command("make", "--no-print-directory", "-C", "..", "-n", "run", "BIN=/x/bin", "NPM=false").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "-o /x/bin/ ./cmd/...") || !strings.Contains(string(out), "/x/bin/viber up") {
		t.Errorf("make run does not build into BIN and run BIN/viber up:\n%s", out)
	}
}

// TestUpRefusesWhatItCannotDoSafely: a second `viber up` on a data
// directory in use, a NATS port already taken, and a NATS listener open to
// the network without auth all fail at once with a message that says what
// to do; --insecure starts the open listener with a warning.
func TestUpRefusesWhatItCannotDoSafely(t *testing.T) {
	t.Parallel()
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	data := t.TempDir()
	env := []string{"VIBER_HOME=" + t.TempDir(), "VIBER_NATS_URL=nats://" + natsAddr}
	up := start(t, env, "viber", "up", "--no-daemon", "--data", data, "--nats-listen", natsAddr, "--http-listen", httpAddr)
	waitHealthy(t, httpAddr, up)

	fails := func(what, want string, name string, args ...string) {
		t.Helper()
		t0 := time.Now()
		_, stderr, code := run(t, env, name, args...)
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure saying %q", what, code, stderr, want)
		}
		if took := time.Since(t0); took > 10*time.Second {
			t.Errorf("%s: took %s to fail; want at once", what, took)
		}
	}
	fails("second viber up on the same data", "give this one another --data",
		"viber", "up", "--no-daemon", "--data", data, "--nats-listen", freeAddr(t), "--http-listen", freeAddr(t))
	fails("viber up on a taken NATS port", "pick another --nats-listen",
		"viber", "up", "--no-daemon", "--data", t.TempDir(), "--nats-listen", natsAddr, "--http-listen", freeAddr(t))
	open := "0.0.0.0:" + strings.Split(freeAddr(t), ":")[1]
	fails("viber up open to the network", "--insecure",
		"viber", "up", "--no-daemon", "--data", t.TempDir(), "--nats-listen", open, "--http-listen", freeAddr(t))
	fails("vibergw open to the network", "--insecure",
		"vibergw", "--data", t.TempDir(), "--nats-listen", open, "--http-listen", freeAddr(t))

	gwHTTP := freeAddr(t)
	gw := start(t, nil, "vibergw", "--insecure", "--data", t.TempDir(), "--nats-listen", open, "--http-listen", gwHTTP)
	waitHealthy(t, gwHTTP, gw)
	if !strings.Contains(gw.out.String(), "INSECURE") {
		t.Errorf("vibergw --insecure started without a warning:\n%s", gw.out.String())
	}
	gw.stop(t)
	up.stop(t)
}
