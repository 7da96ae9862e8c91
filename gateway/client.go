package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// Client calls the gateway's control API over NATS and reads task logs
// directly from JetStream. It is what the viber CLI uses; tools may use it
// too. It is safe for concurrent use.
type Client struct {
	nc  *nats.Conn
	log *bus.Log
}

// NewClient returns a client over an open connection.
func NewClient(nc *nats.Conn) (*Client, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Client{nc: nc, log: bus.NewLog(js)}, nil
}

// Log returns the task log the client reads.
func (c *Client) Log() *bus.Log { return c.log }

func (c *Client) call(ctx context.Context, group, endpoint string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if len(body) > int(c.nc.MaxPayload()) && c.nc.MaxPayload() > 0 {
		return fmt.Errorf("request of %d bytes is over the server's limit of %d: %w", len(body), c.nc.MaxPayload(), bus.ErrTooLarge)
	}
	msg, err := c.nc.RequestWithContext(ctx, bus.APISubject(group, endpoint), body)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("no gateway is answering on %s (start one with `vibergw` or `viber up`): %w", bus.APISubject(group, endpoint), bus.ErrUnavailable)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("the gateway did not answer in time: %w", bus.ErrUnavailable)
		}
		return err
	}
	return bus.ParseReply(msg, out)
}

// CreateTask creates a task and returns its summary (state pending).
func (c *Client) CreateTask(ctx context.Context, req *bus.CreateTaskRequest) (*bus.Summary, error) {
	var s bus.Summary
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskCreate, req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Task returns a task's summary.
func (c *Client) Task(ctx context.Context, id string) (*bus.Summary, error) {
	var s bus.Summary
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskGet, &bus.TaskRequest{ID: id}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ListTasks lists task summaries, newest first.
func (c *Client) ListTasks(ctx context.Context, req *bus.ListTasksRequest) (*bus.ListTasksResponse, error) {
	var r bus.ListTasksResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskList, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// CancelTask asks for a task to stop and returns the cancel_requested event.
func (c *Client) CancelTask(ctx context.Context, req *bus.CancelTaskRequest) (*bus.Event, error) {
	var r bus.EventResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskCancel, req, &r); err != nil {
		return nil, err
	}
	return r.Event, nil
}

// SendInput adds a follow-up and returns the input event.
func (c *Client) SendInput(ctx context.Context, req *bus.SendInputRequest) (*bus.Event, error) {
	var r bus.EventResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskSend, req, &r); err != nil {
		return nil, err
	}
	return r.Event, nil
}

// Daemons lists daemons with their presence.
func (c *Client) Daemons(ctx context.Context) ([]*bus.DaemonView, error) {
	var r bus.ListDaemonsResponse
	if err := c.call(ctx, bus.APIGroupDaemon, bus.APIDaemonList, struct{}{}, &r); err != nil {
		return nil, err
	}
	return r.Daemons, nil
}

// Decide approves or denies a tool call waiting for approval.
func (c *Client) Decide(ctx context.Context, req *bus.DecideRequest) (*bus.Event, error) {
	var r bus.EventResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskDecide, req, &r); err != nil {
		return nil, err
	}
	return r.Event, nil
}
