//go:build !unix

package server

import "os"

// lockDir does nothing where flock is missing: two servers on one store
// directory are not detected there.
func lockDir(string) (*os.File, error) { return nil, nil }

// unlockDir releases a lock from lockDir.
func unlockDir(*os.File) {}
