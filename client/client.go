package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// DefaultTimeout bounds a request whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// Client calls the gateway's control API (the NATS micro service on
// viber.api.>) and reads task logs straight from JetStream. It holds no
// state beyond the connection and is safe for concurrent use.
type Client struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log *bus.Log
}

// New returns a client over an open connection, which stays the caller's
// to close.
func New(nc *nats.Conn) (*Client, error) {
	if nc == nil {
		return nil, errors.New("client: no NATS connection")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{nc: nc, js: js, log: bus.NewLog(js)}, nil
}

// Conn is the client's NATS connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// Log is the task log the client reads (for what [Client.Watch] does not
// cover, such as reading one event by its stream sequence).
func (c *Client) Log() *bus.Log { return c.log }

// call makes one request to the gateway and decodes its reply into out. A
// gateway error comes back as a *bus.APIError matching its sentinel.
func (c *Client) call(ctx context.Context, group, endpoint string, req, out any) error {
	subject := bus.APISubject(group, endpoint)
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request for %s: %w", subject, err)
	}
	if max := c.nc.MaxPayload(); max > 0 && int64(len(body)) > max {
		return fmt.Errorf("request of %d bytes is over the server's limit of %d: %w", len(body), max, bus.ErrTooLarge)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	msg, err := c.nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return fmt.Errorf("no gateway is answering on %s (start one with `vibergw` or `viber up`): %w", subject, bus.ErrUnavailable)
		case errors.Is(err, nats.ErrAuthorization):
			return fmt.Errorf("%s: %v (check the NATS credentials): %w", subject, err, bus.ErrUnauthorized)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			// A request the server refused to carry times out; the
			// refusal arrives on the side as the connection's last error.
			if le := c.nc.LastError(); le != nil && errors.Is(le, nats.ErrPermissionViolation) && strings.Contains(le.Error(), `"`+subject+`"`) {
				return fmt.Errorf("these NATS credentials may not call %s (%v): %w", subject, le, bus.ErrUnauthorized)
			}
			return fmt.Errorf("the gateway did not answer on %s in time: %w", subject, bus.ErrUnavailable)
		}
		return fmt.Errorf("request %s: %w", subject, err)
	}
	return bus.ParseReply(msg, out)
}

// CreateTask creates a task and returns its summary (state pending). The
// gateway queues it for the daemon named in the request, or for any daemon
// (with the skills asked for).
func (c *Client) CreateTask(ctx context.Context, req *bus.CreateTaskRequest) (*bus.Summary, error) {
	var s bus.Summary
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskCreate, req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Task returns a task's summary. An unknown id gives an error matching
// bus.ErrTaskNotFound.
func (c *Client) Task(ctx context.Context, id string) (*bus.Summary, error) {
	var s bus.Summary
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskGet, &bus.TaskRequest{ID: id}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ListTasks lists task summaries, newest first, filtered by the request
// (nil lists the newest tasks).
func (c *Client) ListTasks(ctx context.Context, req *bus.ListTasksRequest) (*bus.ListTasksResponse, error) {
	if req == nil {
		req = &bus.ListTasksRequest{}
	}
	var r bus.ListTasksResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskList, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Usage sums token usage and cost per UTC day over the last days days,
// today included (0: bus.DefaultUsageDays), and per model. A task counts on
// the day it was created.
func (c *Client) Usage(ctx context.Context, days int) (*bus.UsageResponse, error) {
	var r bus.UsageResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskUsage, &bus.UsageRequest{Days: days}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RemoveTask removes a task: its log, assignment and summary. A task that
// has not ended gives an error matching bus.ErrActive unless req.Force.
func (c *Client) RemoveTask(ctx context.Context, req *bus.RemoveTaskRequest) (*bus.RemoveTaskResponse, error) {
	var r bus.RemoveTaskResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskRemove, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// CancelTask asks for a task to stop and returns the cancel_requested
// event. A task that already ended gives an error matching
// bus.ErrTerminal.
func (c *Client) CancelTask(ctx context.Context, req *bus.CancelTaskRequest) (*bus.Event, error) {
	var r bus.EventResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskCancel, req, &r); err != nil {
		return nil, err
	}
	return r.Event, nil
}

// SendInput adds a follow-up and returns the input event. Mode
// bus.InputQueue (the default) waits for the agent's next step;
// bus.InputSteer interrupts the model call under way. A follow-up to an
// ended task opens a new turn.
func (c *Client) SendInput(ctx context.Context, req *bus.SendInputRequest) (*bus.Event, error) {
	var r bus.EventResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskSend, req, &r); err != nil {
		return nil, err
	}
	return r.Event, nil
}

// Decide approves or denies a tool call waiting for approval and returns
// the approval_decided event. A call that is not waiting gives an error
// matching bus.ErrCallNotFound (or bus.ErrTerminal once the task ended).
func (c *Client) Decide(ctx context.Context, req *bus.DecideRequest) (*bus.Event, error) {
	var r bus.EventResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskDecide, req, &r); err != nil {
		return nil, err
	}
	return r.Event, nil
}

// Approve lets a waiting tool call run; reason is an optional note kept
// with the decision and by names who decided (see [Client.Decide]).
func (c *Client) Approve(ctx context.Context, taskID, callID, reason, by string) (*bus.Event, error) {
	return c.Decide(ctx, &bus.DecideRequest{ID: taskID, CallID: callID, Approved: true, Reason: reason, By: by})
}

// Deny refuses a waiting tool call; the model is told the reason, and by
// names who decided (see [Client.Decide]).
func (c *Client) Deny(ctx context.Context, taskID, callID, reason, by string) (*bus.Event, error) {
	return c.Decide(ctx, &bus.DecideRequest{ID: taskID, CallID: callID, Approved: false, Reason: reason, By: by})
}

// Daemons lists every daemon that registered, with its presence and
// whether the gateway sees it online now.
func (c *Client) Daemons(ctx context.Context) ([]*bus.DaemonView, error) {
	var r bus.ListDaemonsResponse
	if err := c.call(ctx, bus.APIGroupDaemon, bus.APIDaemonList, struct{}{}, &r); err != nil {
		return nil, err
	}
	return r.Daemons, nil
}

// Skills lists the skills daemons offer, by name, each with the daemons
// that have it (the same view as the dashboard's GET /api/skills).
func (c *Client) Skills(ctx context.Context) ([]*bus.SkillView, error) {
	ds, err := c.Daemons(ctx)
	if err != nil {
		return nil, err
	}
	return bus.GroupSkills(ds).Skills, nil
}
