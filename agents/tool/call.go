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
