package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// shellWaitDelay is how long a finished or killed command's output pipe may
// stay open (held by background processes) before the tool stops reading.
const shellWaitDelay = 2 * time.Second

type shellTool struct {
	ws      *Workspace
	o       Options
	deny    []*regexp.Regexp
	denyErr error
	env     []string
}

func newShell(ws *Workspace, o Options) *shellTool {
	t := &shellTool{ws: ws, o: o}
	for _, p := range o.DenyCommands {
		re, err := regexp.Compile(p)
		if err != nil {
			t.denyErr = errors.Join(t.denyErr, err)
			continue
		}
		t.deny = append(t.deny, re)
	}
	env := o.ShellEnv
	if env == nil {
		env = filterEnv(os.Environ())
	}
	t.env = append(withoutVar(env, "PWD"), "PWD="+ws.Root())
	return t
}

type shellArgs struct {
	Command        string   `json:"command"`
	TimeoutSeconds *float64 `json:"timeout_seconds"`
}

func (*shellTool) Name() string { return "shell" }

func (t *shellTool) Description() string {
	return fmt.Sprintf("Run a shell command with /bin/sh -c in the workspace root directory and return its "+
		"combined stdout and stderr and its exit code. Stdin is empty, so interactive commands fail; pass "+
		"non-interactive flags. The command is killed (with every process it started) after %s unless "+
		"timeout_seconds asks for another limit (at most %s). Output beyond %d bytes is cut, keeping the "+
		"beginning and the end. Background processes must redirect their output to a file. Obviously "+
		"destructive commands (deleting /, formatting disks, shutting down, ...) are refused.",
		t.o.ShellTimeout, t.o.MaxShellTimeout, t.o.MaxOutputBytes)
}

func (t *shellTool) Parameters() map[string]any {
	return schema(map[string]any{
		"command": prop("string", "The command line, interpreted by /bin/sh."),
		"timeout_seconds": map[string]any{
			"type":             "number",
			"exclusiveMinimum": 0,
			"description":      fmt.Sprintf("Time limit in seconds (default %g, at most %g).", t.o.ShellTimeout.Seconds(), t.o.MaxShellTimeout.Seconds()),
		},
	}, "command")
}

func (t *shellTool) Call(ctx context.Context, raw json.RawMessage) Result {
	var a shellArgs
	if r, ok := decodeArgs(raw, &a); !ok {
		return r
	}
	if strings.TrimSpace(a.Command) == "" {
		return Errorf("command is required")
	}
	if strings.ContainsRune(a.Command, 0) {
		return Errorf("command contains a NUL byte")
	}
	if t.denyErr != nil {
		return Errorf("refused: the shell tool is misconfigured (invalid DenyCommands pattern: %v); no command can run until an operator fixes it", t.denyErr)
	}
	if reason := denied(a.Command, t.deny); reason != "" {
		return Errorf("refused: %s. This command is on the deny list and will not run; do not try to work around it. If it is really needed, ask the user to run it themselves.", reason)
	}
	timeout := t.o.ShellTimeout
	var note string
	if a.TimeoutSeconds != nil {
		s := *a.TimeoutSeconds
		if s <= 0 || math.IsNaN(s) {
			return Errorf("timeout_seconds must be positive")
		}
		if max := t.o.MaxShellTimeout.Seconds(); s > max {
			s = max
			note = fmt.Sprintf("[timeout_seconds capped at %s]\n", t.o.MaxShellTimeout)
		}
		timeout = time.Duration(s * float64(time.Second))
	}
	if err := ctx.Err(); err != nil {
		return Errorf("cancelled before the command started: %v", err)
	}

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, "/bin/sh", "-c", a.Command)
	cmd.Dir = t.ws.Root()
	cmd.Env = t.env
	startOwnGroup(cmd)
	// Kill the whole process group, not only sh: children must not outlive
	// a timeout or a cancel.
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = shellWaitDelay
	out := newCapWriter(t.o.MaxOutputBytes)
	cmd.Stdout = out
	cmd.Stderr = out

	start := time.Now()
	err := cmd.Start()
	if err != nil {
		return Errorf("could not start /bin/sh: %v", err)
	}
	err = cmd.Wait()
	elapsed := time.Since(start).Round(time.Millisecond)

	body, truncated := out.Result()
	var b strings.Builder
	b.WriteString(note)
	b.WriteString(body)
	if body != "" && !strings.HasSuffix(body, "\n") {
		b.WriteByte('\n')
	}
	res := Result{Truncated: truncated}
	switch {
	case ctx.Err() != nil:
		res.IsError = true
		fmt.Fprintf(&b, "[cancelled after %s (%v); the command and its child processes were killed]", elapsed, context.Cause(ctx))
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		res.IsError = true
		fmt.Fprintf(&b, "[timed out after %s; the command and its child processes were killed. Use a longer timeout_seconds (at most %s) or run less at once]", timeout, t.o.MaxShellTimeout)
	case err == nil:
		b.WriteString("[exit code 0]")
	case errors.Is(err, exec.ErrWaitDelay):
		fmt.Fprintf(&b, "[exit code %d; background processes kept the output open, so output after exit was not collected]", cmd.ProcessState.ExitCode())
		res.IsError = cmd.ProcessState.ExitCode() != 0
	default:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			res.IsError = true
			if sig, ok := exitSignal(ee); ok {
				fmt.Fprintf(&b, "[killed by signal: %s]", sig)
			} else {
				fmt.Fprintf(&b, "[exit code %d]", ee.ExitCode())
			}
		} else {
			res.IsError = true
			fmt.Fprintf(&b, "[failed: %v]", err)
		}
	}
	res.Output = b.String()
	return res
}

// capWriter keeps the first and the last bytes written, up to max in all,
// and counts the rest.
type capWriter struct {
	mu      sync.Mutex
	headMax int
	tailMax int
	head    []byte
	tail    []byte
	total   int64
}

func newCapWriter(max int) *capWriter {
	h := max / 2
	return &capWriter{headMax: h, tailMax: max - h}
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	w.total += int64(n)
	if room := w.headMax - len(w.head); room > 0 {
		k := min(room, len(p))
		w.head = append(w.head, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		w.tail = append(w.tail, p...)
		if len(w.tail) > 2*w.tailMax+4096 {
			w.tail = append(w.tail[:0:0], w.tail[len(w.tail)-w.tailMax:]...)
		}
	}
	return n, nil
}

// Result returns the kept text and whether anything was dropped.
func (w *capWriter) Result() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tail) <= w.tailMax && w.total == int64(len(w.head)+len(w.tail)) {
		return text(append(append([]byte(nil), w.head...), w.tail...)), false
	}
	tail := w.tail[max(0, len(w.tail)-w.tailMax):]
	omitted := w.total - int64(len(w.head)) - int64(len(tail))
	return text(w.head) + fmt.Sprintf("\n[... %d bytes of output omitted ...]\n", omitted) + text(tail), true
}

// secretEnv matches names of environment variables the shell does not
// inherit by default: provider keys, tokens, passwords, credentials.
var secretEnv = regexp.MustCompile(`(?i)(KEY|TOKEN|SECRET|PASSW|CREDENTIAL|CREDS|COOKIE|SESSION|PRIVATE)`)

func filterEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if secretEnv.MatchString(name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if n, _, _ := strings.Cut(kv, "="); n == name {
			continue
		}
		out = append(out, kv)
	}
	return out
}
