//go:build !(linux || darwin || freebsd)

package doctor

import (
	"fmt"
	"runtime"
)

// diskSpace is not measured on this system.
func diskSpace(string) (free, total uint64, err error) {
	return 0, 0, fmt.Errorf("not supported on %s", runtime.GOOS)
}
