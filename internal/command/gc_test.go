package command

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneGC: without GOGC in the environment the binaries collect at
// DefaultGOGC; with GOGC set they leave the collector as Go set it.
func TestTuneGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	t.Setenv("GOGC", "100") // restored after the test, unset or not
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	tuneGC()
	if got := debug.SetGCPercent(100); got != DefaultGOGC {
		t.Errorf("without GOGC: the collector's target is %d, want %d", got, DefaultGOGC)
	}
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50) // as the runtime read it at start
	tuneGC()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("with GOGC=50: the collector's target is %d, want 50 (the environment wins)", got)
	}
}
