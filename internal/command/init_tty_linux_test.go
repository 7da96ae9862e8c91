package command

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/viberhq/viber/agents/openaitest"
)

// openPTY opens a pseudo-terminal pair: what is written to the master is
// read from the terminal end, which isatty reports as a terminal.
func openPTY(t *testing.T) (master, term *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (/dev/ptmx: %v)", err)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("no pseudo-terminals here (TIOCGPTN: %v)", e)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Fatalf("unlock pty: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestInitAsksOnATerminal(t *testing.T) {
	t.Parallel()
	model := openaitest.New(t, func(*openaitest.Request) openaitest.Reply { return openaitest.Reply{Text: "ok"} })
	model.SetModels("listed-model")
	home := t.TempDir()
	path := filepath.Join(home, ".viber", "config.yaml")
	master, term := openPTY(t)
	// Pick the first thing found (the --detect server), another model,
	// and confirm. A terminal hands over one line per read.
	if _, err := master.WriteString("1\npicked-model\ny\n"); err != nil {
		t.Fatal(err)
	}
	out, err := runViberWith(t, term, map[string]string{"HOME": home, "OPENAI_API_KEY": "sk-not-used"}, "init", "--detect", model.URL)
	if err != nil {
		t.Fatalf("interactive init: %v\n%s", err, out)
	}
	for _, want := range []string{"use which (1-2) [1]:", "model [listed-model]:", "This goes to " + path, "Write it? [Y/n]:"} {
		if !strings.Contains(out, want) {
			t.Errorf("init did not ask %q:\n%s", want, out)
		}
	}
	body, _ := os.ReadFile(path)
	if !strings.Contains(string(body), `model: "picked-model"`) || !strings.Contains(string(body), model.URL) {
		t.Fatalf("config does not hold the answers:\n%s", body)
	}
	reqs := model.Requests()
	if len(reqs) != 1 || reqs[0].Model != "picked-model" {
		t.Fatalf("test completion: %d requests %+v, want one for picked-model", len(reqs), reqs)
	}
}

func TestInitWritesNothingWhenNotConfirmed(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	master, term := openPTY(t)
	if _, err := master.WriteString("my-model\nn\n"); err != nil {
		t.Fatal(err)
	}
	out, err := runViberWith(t, term, map[string]string{"HOME": home}, "init", "--provider", "custom", "--base-url", "http://127.0.0.1:9/v1", "--no-check")
	if err == nil || !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("init answered n: err %v, want 'nothing written'\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, ".viber", "config.yaml")); err == nil {
		t.Fatal("a config was written although the answer was n")
	}
}
