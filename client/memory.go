package client

import (
	"context"

	"github.com/viberhq/viber/bus"
)

// MemoryList lists memory files (without content) of one scope ("global",
// "agent:<name>", "user:<submitter>"), or of every scope when scope is "".
func (c *Client) MemoryList(ctx context.Context, scope string) ([]*bus.MemoryFile, error) {
	var r bus.MemoryListResponse
	if err := c.call(ctx, bus.APIGroupMemory, bus.APIMemoryList, &bus.MemoryListRequest{Scope: scope}, &r); err != nil {
		return nil, err
	}
	return r.Files, nil
}

// MemoryGet returns a memory file, at revision rev (0: the current one).
// A file that does not exist gives an error matching bus.ErrMemoryNotFound.
func (c *Client) MemoryGet(ctx context.Context, scope, name string, rev uint64) (*bus.MemoryFile, error) {
	var f bus.MemoryFile
	if err := c.call(ctx, bus.APIGroupMemory, bus.APIMemoryGet, &bus.MemoryFileRequest{Scope: scope, Name: name, Revision: rev}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// MemoryPut writes a memory file over revision rev (0: a new file); a
// write that lost a race gives an error matching bus.ErrConflict.
func (c *Client) MemoryPut(ctx context.Context, scope, name, content string, rev uint64) (*bus.MemoryFile, error) {
	var f bus.MemoryFile
	req := &bus.MemoryPutRequest{Scope: scope, Name: name, Content: content, Revision: rev}
	if err := c.call(ctx, bus.APIGroupMemory, bus.APIMemoryPut, req, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// MemoryHistory returns a memory file's revisions, newest first.
func (c *Client) MemoryHistory(ctx context.Context, scope, name string) ([]*bus.MemoryFile, error) {
	var r bus.MemoryHistoryResponse
	if err := c.call(ctx, bus.APIGroupMemory, bus.APIMemoryHistory, &bus.MemoryFileRequest{Scope: scope, Name: name}, &r); err != nil {
		return nil, err
	}
	return r.Revisions, nil
}

// MemoryRestore makes revision rev of a memory file current again.
func (c *Client) MemoryRestore(ctx context.Context, scope, name string, rev uint64) (*bus.MemoryFile, error) {
	var f bus.MemoryFile
	if err := c.call(ctx, bus.APIGroupMemory, bus.APIMemoryRestore, &bus.MemoryRestoreRequest{Scope: scope, Name: name, Revision: rev}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}
