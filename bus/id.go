package bus

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new ULID: 26 characters, sortable by time, unique, and
// safe as a subject token. Task and event ids are ULIDs.
func NewID() string {
	idMu.Lock()
	defer idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(time.Now()), idEntropy).String()
}

// FiringTaskID is the id of the task a schedule's firing makes: a ULID
// whose time is the firing's and whose random part is a hash of the
// schedule name and the firing's exact time, so every gateway that handles
// one firing (again, after a crash) names the same task, and different
// firings name different tasks.
func FiringTaskID(schedule string, fired time.Time) string {
	sum := sha256.Sum256([]byte(schedule + "\x00" + fired.UTC().Format(time.RFC3339Nano)))
	var entropy [10]byte
	copy(entropy[:], sum[:])
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(fired)); err != nil {
		// Only times after year 10889 fail; keep the hash alone.
		_ = id.SetTime(0)
	}
	if err := id.SetEntropy(entropy[:]); err != nil {
		panic(err) // 10 bytes is the entropy size: cannot fail
	}
	return id.String()
}

// ChildID is the id of the child task a parent's spawn call starts:
// derived from both, so that a resumed parent asking again for the same
// call finds the child it started instead of starting another. It is the
// id of the tree's root task, "-" and 12 characters of a hash of the
// parent's id and the call id, so it stays short at any depth.
func ChildID(parentTask, callID string) string {
	sum := sha256.Sum256([]byte(parentTask + "\x00" + callID))
	root, _, _ := strings.Cut(parentTask, "-")
	return root + "-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])[:12])
}
