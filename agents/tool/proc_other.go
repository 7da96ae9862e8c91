//go:build !unix

package tool

import "os/exec"

// startOwnGroup is a no-op where process groups are not available; only
// the shell process itself is killed on timeout.
func startOwnGroup(*exec.Cmd) {}

// killGroup kills cmd's process.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}

func exitSignal(*exec.ExitError) (string, bool) { return "", false }
