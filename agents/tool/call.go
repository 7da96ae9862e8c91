package tool

import "context"

type callIDKey struct{}

// WithCallID returns ctx carrying the id of the tool call being run, so a
// tool that records events of its own (memory_update's memory_updated)
// can name the call.
func WithCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// CallID returns the id of the tool call ctx runs, or "".
func CallID(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}

// Resumable is implemented by tools whose call may run again when a task
// resumes after its daemon died, because running it twice does the work
// once (spawn finds the child its call started). A resumed task runs such
// an unfinished call again instead of reporting it interrupted.
type Resumable interface {
	// Resumable reports whether an unfinished call may run again.
	Resumable() bool
}
