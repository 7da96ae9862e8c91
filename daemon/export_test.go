package daemon

import "time"

// SetRecheck sets how often d looks at its own queue unasked while the
// shared queue's pull holds its last free slot (busyPullWait otherwise).
func SetRecheck(d *Daemon, every time.Duration) { d.pulls.recheck = every }
