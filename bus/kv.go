package bus

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// listJSON decodes every current value of a bucket into a T. Values that do
// not decode are skipped (the views are rebuilt from the log; a bad entry
// must not hide the good ones) and counted in the returned skipped.
func listJSON[T any](ctx context.Context, kv jetstream.KeyValue, what string, fix func(*T, jetstream.KeyValueEntry)) (out []*T, skipped int, err error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", what, err)
	}
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil {
			return out, skipped, nil // every entry stored when the watch began
		}
		var v T
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			skipped++
			continue
		}
		if fix != nil {
			fix(&v, e)
		}
		out = append(out, &v)
	}
	// The watch ended before it delivered every entry (ctx ended, the
	// connection closed): what was read is not the whole list.
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", what, err)
	}
	return nil, 0, fmt.Errorf("list %s: the watch ended before every entry was read: %w", what, ErrUnavailable)
}
