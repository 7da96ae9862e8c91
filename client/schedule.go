package client

import (
	"context"

	"github.com/viberhq/viber/bus"
)

// AddSchedule defines a schedule; the NATS server fires it from then on
// and the gateway makes a task of each firing.
func (c *Client) AddSchedule(ctx context.Context, req *bus.AddScheduleRequest) (*bus.ScheduleView, error) {
	var v bus.ScheduleView
	if err := c.call(ctx, bus.APIGroupSchedule, bus.APIScheduleAdd, req, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Schedules lists every schedule with its next runs and latest outcome.
func (c *Client) Schedules(ctx context.Context) ([]*bus.ScheduleView, error) {
	var r bus.ListSchedulesResponse
	if err := c.call(ctx, bus.APIGroupSchedule, bus.APIScheduleList, struct{}{}, &r); err != nil {
		return nil, err
	}
	return r.Schedules, nil
}

// Schedule returns one schedule with its recent runs. An unknown name
// gives an error matching bus.ErrScheduleNotFound.
func (c *Client) Schedule(ctx context.Context, name string) (*bus.ScheduleView, error) {
	return c.scheduleCall(ctx, bus.APIScheduleGet, name)
}

// PauseSchedule stops a schedule's firings until it is resumed.
func (c *Client) PauseSchedule(ctx context.Context, name string) (*bus.ScheduleView, error) {
	return c.scheduleCall(ctx, bus.APISchedulePause, name)
}

// ResumeSchedule lets a paused schedule fire again.
func (c *Client) ResumeSchedule(ctx context.Context, name string) (*bus.ScheduleView, error) {
	return c.scheduleCall(ctx, bus.APIScheduleResume, name)
}

// RemoveSchedule stops and forgets a schedule; its tasks stay.
func (c *Client) RemoveSchedule(ctx context.Context, name string) error {
	return c.call(ctx, bus.APIGroupSchedule, bus.APIScheduleRemove, &bus.ScheduleRequest{Name: name}, nil)
}

// RunSchedule fires a schedule now and returns the id its task gets.
func (c *Client) RunSchedule(ctx context.Context, name string) (*bus.RunScheduleResponse, error) {
	var r bus.RunScheduleResponse
	if err := c.call(ctx, bus.APIGroupSchedule, bus.APIScheduleRun, &bus.ScheduleRequest{Name: name}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Webhooks lists the webhook deliveries of a task's terminal events.
func (c *Client) Webhooks(ctx context.Context, taskID string) ([]*bus.WebhookDelivery, error) {
	var r bus.WebhooksResponse
	if err := c.call(ctx, bus.APIGroupTask, bus.APITaskWebhooks, &bus.TaskRequest{ID: taskID}, &r); err != nil {
		return nil, err
	}
	return r.Deliveries, nil
}

func (c *Client) scheduleCall(ctx context.Context, endpoint, name string) (*bus.ScheduleView, error) {
	var v bus.ScheduleView
	if err := c.call(ctx, bus.APIGroupSchedule, endpoint, &bus.ScheduleRequest{Name: name}, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
