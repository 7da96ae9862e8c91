package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/viberhq/viber/bus/server"
)

// NATS is a NATS server the task phases run against, apart from the
// processes measured.
type NATS struct {
	// URL is its client URL.
	URL string
	// CPU returns the CPU time it used so far (0 when unknown).
	CPU func() time.Duration
	// RSS, when set, returns its resident memory in bytes.
	RSS func() int64
	// Stop stops it.
	Stop func()
}

// ServeNATS runs the benchmark's NATS server in this process: it prints the
// client URL on stdout and serves until stdin is closed. `viber bench`
// runs it in a child process (the hidden `viber bench serve-nats`), so that
// the CPU the server uses is not counted as Viber's.
// With cpuProfile set it writes the server's CPU profile there.
func ServeNATS(dir, cpuProfile string, stdin io.Reader, stdout io.Writer) error {
	srv, err := server.Start(server.Options{Dir: dir, Listen: "127.0.0.1:0", Domain: "hub"})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	if cpuProfile != "" {
		stop, err := StartCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintln(stdout, srv.ClientURL())
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

// ChildNATS starts `<this executable> bench serve-nats --dir DIR` and
// returns the server it runs.
func ChildNATS(ctx context.Context, dir string) (*NATS, error) { return childNATS(ctx, dir, "") }

// ProfiledChildNATS is [ChildNATS] with the server's CPU profile written
// to file (`viber bench --cpuprofile`).
func ProfiledChildNATS(file string) func(ctx context.Context, dir string) (*NATS, error) {
	return func(ctx context.Context, dir string) (*NATS, error) { return childNATS(ctx, dir, file) }
}

// StartCPUProfile writes this process's CPU profile to file until the
// returned function is called.
func StartCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

func childNATS(ctx context.Context, dir, cpuProfile string) (*NATS, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"bench", "serve-nats", "--dir", dir}
	if cpuProfile != "" {
		args = append(args, "--cpuprofile", cpuProfile)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the benchmark's NATS server: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("the benchmark's NATS server did not start: %w", err)
	}
	pid := cmd.Process.Pid
	return &NATS{
		URL: strings.TrimSpace(line),
		CPU: func() time.Duration { return procCPU(pid) },
		RSS: func() int64 { return procRSS(pid) },
		Stop: func() {
			_ = stdin.Close()
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		},
	}, nil
}

// InProcessNATS runs the server in this process (its CPU is then counted
// with Viber's): for tests of the benchmark itself.
func InProcessNATS(_ context.Context, dir string) (*NATS, error) {
	srv, err := server.Start(server.Options{Dir: dir, Listen: "127.0.0.1:0", Domain: "hub"})
	if err != nil {
		return nil, err
	}
	return &NATS{URL: srv.ClientURL(), CPU: func() time.Duration { return 0 }, Stop: srv.Shutdown}, nil
}

// selfCPU is the CPU time (user and system) this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads another process's CPU time from /proc (Linux; 0 elsewhere).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}
