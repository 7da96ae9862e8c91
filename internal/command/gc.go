package command

import (
	"os"
	"runtime/debug"
)

// DefaultGOGC is the garbage collector's target (GOGC) of viber, vibergw
// and viberd when the environment does not set GOGC. Their live heaps are
// small (tens of MB), so Go's default of 100 collects very often under
// load: at 200 a trivial task costs ~10 % less CPU and the submit →
// started p99 drops by about a fifth on the machine in
// docs/performance.md, for a heap that may grow to three times the live
// data instead of twice. GOGC=100 (or any value) in the environment wins.
const DefaultGOGC = 200

// tuneGC applies DefaultGOGC unless GOGC is set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(DefaultGOGC)
	}
}
