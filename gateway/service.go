package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/viberhq/viber/bus"
)

// startService registers the control API as the NATS micro service
// "viber". Handlers run on their own goroutines so a slow request never
// holds up another.
func (g *Gateway) startService(ctx context.Context) error {
	svc, err := micro.AddService(g.cfg.NC, micro.Config{
		Name:        bus.ServiceName,
		Version:     semver(g.cfg.Version),
		Description: "Viber gateway: create, inspect, cancel and steer tasks; schedules; list daemons",
		Metadata:    map[string]string{"gateway": g.cfg.ID},
	})
	if err != nil {
		return fmt.Errorf("start API service: %w", err)
	}
	tasks := svc.AddGroup(bus.APISubjectPrefix() + "." + bus.APIGroupTask)
	daemons := svc.AddGroup(bus.APISubjectPrefix() + "." + bus.APIGroupDaemon)
	schedules := svc.AddGroup(bus.APISubjectPrefix() + "." + bus.APIGroupSchedule)
	named := func(h func(context.Context, string) (any, error)) func(context.Context, []byte) (any, error) {
		return func(ctx context.Context, b []byte) (any, error) {
			var r bus.ScheduleRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return h(ctx, r.Name)
		}
	}
	memory := svc.AddGroup(bus.APISubjectPrefix() + "." + bus.APIGroupMemory)
	// Each endpoint's description is its entry in bus.APIEndpoints, the
	// wire's one list of them.
	add := func(grp micro.Group, group, name string, h func(context.Context, []byte) (any, error)) error {
		desc := bus.APIDescription(group, name)
		if desc == "" {
			return fmt.Errorf("endpoint %s.%s is not in bus.APIEndpoints", group, name)
		}
		return grp.AddEndpoint(name, micro.HandlerFunc(func(req micro.Request) {
			if strings.HasPrefix(req.Reply(), "$JS.") || strings.HasPrefix(req.Reply(), "$KV.") {
				// Not a client: a message redirected from JetStream (for
				// example a push consumer aimed at the API). Ignore it.
				g.log.Warn().Str("subject", req.Subject()).Msg("ignoring an API request with a JetStream reply subject")
				return
			}
			go g.serve(ctx, req, h)
		}), micro.WithEndpointMetadata(map[string]string{"description": desc}))
	}
	err = errors.Join(
		add(tasks, bus.APIGroupTask, bus.APITaskCreate, func(ctx context.Context, b []byte) (any, error) {
			var r bus.CreateTaskRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.CreateTask(ctx, &r)
		}),
		add(tasks, bus.APIGroupTask, bus.APITaskGet, func(ctx context.Context, b []byte) (any, error) {
			var r bus.TaskRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.Task(ctx, r.ID)
		}),
		add(tasks, bus.APIGroupTask, bus.APITaskList, func(ctx context.Context, b []byte) (any, error) {
			var r bus.ListTasksRequest
			if len(b) > 0 {
				if err := decode(b, &r); err != nil {
					return nil, err
				}
			}
			return g.ListTasks(ctx, &r)
		}),
		add(tasks, bus.APIGroupTask, bus.APITaskCancel, func(ctx context.Context, b []byte) (any, error) {
			var r bus.CancelTaskRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			ev, err := g.CancelTask(ctx, &r)
			if err != nil {
				return nil, err
			}
			return &bus.EventResponse{Event: ev}, nil
		}),
		add(tasks, bus.APIGroupTask, bus.APITaskSend, func(ctx context.Context, b []byte) (any, error) {
			var r bus.SendInputRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			ev, err := g.SendInput(ctx, &r)
			if err != nil {
				return nil, err
			}
			return &bus.EventResponse{Event: ev}, nil
		}),
		add(tasks, bus.APIGroupTask, bus.APITaskDecide, func(ctx context.Context, b []byte) (any, error) {
			var r bus.DecideRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			ev, err := g.Decide(ctx, &r)
			if err != nil {
				return nil, err
			}
			return &bus.EventResponse{Event: ev}, nil
		}),
		add(tasks, bus.APIGroupTask, bus.APITaskRemove, func(ctx context.Context, b []byte) (any, error) {
			var r bus.RemoveTaskRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.RemoveTask(ctx, &r)
		}),
		add(tasks, bus.APIGroupTask, bus.APITaskWebhooks, func(ctx context.Context, b []byte) (any, error) {
			var r bus.TaskRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.Webhooks(ctx, r.ID)
		}),
		add(tasks, bus.APIGroupTask, bus.APITaskUsage, func(ctx context.Context, b []byte) (any, error) {
			var r bus.UsageRequest
			if len(b) > 0 {
				if err := decode(b, &r); err != nil {
					return nil, err
				}
			}
			return g.Usage(ctx, &r)
		}),
		add(schedules, bus.APIGroupSchedule, bus.APIScheduleAdd, func(ctx context.Context, b []byte) (any, error) {
			var r bus.AddScheduleRequest
			if err := decode(b, &r); err != nil {
				return nil, err
			}
			return g.AddSchedule(ctx, &r)
		}),
		add(schedules, bus.APIGroupSchedule, bus.APIScheduleList, func(ctx context.Context, _ []byte) (any, error) {
			return g.ListSchedules(ctx)
		}),
		add(schedules, bus.APIGroupSchedule, bus.APIScheduleGet, named(func(ctx context.Context, n string) (any, error) { return g.Schedule(ctx, n) })),
		add(schedules, bus.APIGroupSchedule, bus.APISchedulePause, named(func(ctx context.Context, n string) (any, error) { return g.PauseSchedule(ctx, n) })),
		add(schedules, bus.APIGroupSchedule, bus.APIScheduleResume, named(func(ctx context.Context, n string) (any, error) { return g.ResumeSchedule(ctx, n) })),
		add(schedules, bus.APIGroupSchedule, bus.APIScheduleRemove, named(func(ctx context.Context, n string) (any, error) {
			if err := g.RemoveSchedule(ctx, n); err != nil {
				return nil, err
			}
			return &bus.ScheduleRequest{Name: n}, nil
		})),
		add(schedules, bus.APIGroupSchedule, bus.APIScheduleRun, named(func(ctx context.Context, n string) (any, error) { return g.RunSchedule(ctx, n) })),
		add(daemons, bus.APIGroupDaemon, bus.APIDaemonList, func(ctx context.Context, _ []byte) (any, error) {
			list, err := g.Daemons(ctx)
			if err != nil {
				return nil, err
			}
			return &bus.ListDaemonsResponse{Daemons: list}, nil
		}),
		g.addMemoryEndpoints(func(name string, h func(context.Context, []byte) (any, error)) error {
			return add(memory, bus.APIGroupMemory, name, h)
		}),
	)
	if err != nil {
		_ = svc.Stop()
		return fmt.Errorf("register API endpoints: %w", err)
	}
	g.svc = svc
	return nil
}

func (g *Gateway) serve(ctx context.Context, req micro.Request, h func(context.Context, []byte) (any, error)) {
	// A client that traces sends its trace context: the gateway's spans
	// join it.
	resp, err := h(bus.ExtractTrace(ctx, nats.Header(req.Headers())), req.Data())
	if err != nil {
		g.replyError(req, err)
		return
	}
	if err := req.RespondJSON(resp); err != nil {
		g.log.Warn().Err(err).Str("subject", req.Subject()).Msg("API reply failed")
	}
}

// replyError answers a request's error: its code in the
// Nats-Service-Error-Code header, its message in Nats-Service-Error, and the
// whole [bus.APIError] as the body (a header cannot hold line breaks).
func (g *Gateway) replyError(req micro.Request, err error) {
	e := bus.NewAPIError(err)
	if e.Code == bus.CodeInternal {
		g.log.Error().Err(err).Str("subject", req.Subject()).Msg("API request failed")
	}
	body, merr := json.Marshal(e)
	if merr != nil {
		body = nil
	}
	if rerr := req.Error(string(e.Code), e.Message, body); rerr != nil {
		g.log.Warn().Err(rerr).Str("subject", req.Subject()).Msg("API error reply failed")
	}
}

func decode(b []byte, v any) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty request; send a JSON object", bus.ErrMalformed)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: request is not valid JSON for this endpoint: %v", bus.ErrMalformed, err)
	}
	return nil
}

// semverPattern is the pattern semver.org suggests, which micro enforces.
var semverPattern = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// semver makes any version string acceptable to micro, which wants semver:
// "v1.2.3" becomes "1.2.3", and anything that is not semver (a commit hash
// from a clone without tags, "dev", a date) becomes "0.0.0-<it>", with
// every character semver does not allow in a pre-release replaced by '-'.
func semver(v string) string {
	v = strings.TrimSpace(v)
	if trimmed, ok := strings.CutPrefix(v, "v"); ok && semverPattern.MatchString(trimmed) {
		return trimmed
	}
	if semverPattern.MatchString(v) {
		return v
	}
	pre := strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '-'
	}, v)
	if pre == "" {
		return "0.0.0-dev"
	}
	// A numeric pre-release identifier may not have a leading zero
	// ("0123"): a leading letter keeps it valid and still recognisable.
	if strings.Trim(pre, "0123456789") == "" && pre[0] == '0' && len(pre) > 1 {
		pre = "g" + pre
	}
	return "0.0.0-" + pre
}

// waitingList says which calls wait for approval, for error messages.
func waitingList(calls []string) string {
	if len(calls) == 0 {
		return "none is waiting"
	}
	return "waiting: " + strings.Join(calls, ", ")
}
