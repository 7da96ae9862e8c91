package memory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/viberhq/viber/bus"
)

// Cache keeps the current memory files of the whole fleet in memory,
// following the bucket with one watch, so that loading a task's memory at
// each turn costs no round trip. It may lag a write by moments; writes
// compare against the bucket itself, so a stale cache never loses one.
type Cache struct {
	mu    sync.RWMutex
	files map[string]*bus.MemoryFile // scope + "\x00" + name
	ready chan struct{}
	once  sync.Once
}

// NewCache returns an empty cache; Run fills it.
func NewCache() *Cache {
	return &Cache{files: map[string]*bus.MemoryFile{}, ready: make(chan struct{})}
}

// Run follows the store until ctx ends, watching again after a failure.
func (c *Cache) Run(ctx context.Context, store *bus.Memory, log zerolog.Logger) {
	for ctx.Err() == nil {
		err := store.Watch(ctx, c.put)
		if ctx.Err() != nil {
			return
		}
		log.Warn().Err(err).Msg("memory watch ended; watching again")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (c *Cache) put(f *bus.MemoryFile) {
	if f == nil {
		c.once.Do(func() { close(c.ready) })
		return
	}
	c.mu.Lock()
	k := f.Scope + "\x00" + f.Name
	if f.Deleted {
		delete(c.files, k)
	} else if cur, ok := c.files[k]; !ok || cur.Revision < f.Revision {
		c.files[k] = f
	}
	c.mu.Unlock()
}

// wait waits (a few seconds at most, once) until the cache holds the
// bucket's files as they were when it started watching. A watch that never
// got there delays only the first turn: later ones take what the cache has.
func (c *Cache) wait(ctx context.Context) {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-c.ready:
	case <-ctx.Done():
	case <-t.C:
		c.once.Do(func() { close(c.ready) })
	}
}

// Seen records a file the daemon wrote itself, so its next turn shows it
// even before the watch delivers it.
func (c *Cache) Seen(f *bus.MemoryFile) { c.put(f) }

// Files returns the current files of a scope, sorted by name.
func (c *Cache) Files(scope bus.MemoryScope) []*bus.MemoryFile {
	prefix := scope.String() + "\x00"
	c.mu.RLock()
	var out []*bus.MemoryFile
	for k, f := range c.files {
		if strings.HasPrefix(k, prefix) {
			out = append(out, f)
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *bus.MemoryFile) int { return strings.Compare(a.Name, b.Name) })
	return out
}
