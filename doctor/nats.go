package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/viberhq/viber/bus"
)

// Clock skew limits. Readers judge a daemon online by comparing the
// server's time of its last heartbeat with their own clock, so a skew of a
// few heartbeats (5 s each by default) shows live daemons as offline.
const (
	skewWarn = 2 * time.Second
	skewFail = 10 * time.Second
)

// natsNames are the checks that need the server, in report order.
var natsNames = []string{"nats", "jetstream", "streams", "buckets", "schedules", "gateway", "daemons", "clock"}

func skipped(from int, why, fix string) []Check {
	var out []Check
	for _, n := range natsNames[from:] {
		out = append(out, Check{Name: n, Status: Skip, Message: "not checked: " + why, Fix: fix})
	}
	return out
}

// checkNATS runs the checks that need the server, in natsNames order.
func checkNATS(ctx context.Context, o Options) []Check {
	if o.Connect == nil {
		return skipped(0, "no NATS server given", "")
	}
	nc, err := o.Connect()
	if err != nil {
		out := []Check{{Name: "nats", Status: Fail, Message: oneLine(err.Error()),
			Fix: "start Viber (`viber up`) or point --nats-url / VIBER_NATS_URL at your server"}}
		return append(out, skipped(1, "NATS is unreachable", "")...)
	}
	defer nc.Close()
	out := []Check{{Name: "nats", Status: OK,
		Message: fmt.Sprintf("connected to %s (nats-server %s, %s)", nc.ConnectedUrlRedacted(), nc.ConnectedServerVersion(), serverName(nc))}}

	js, err := jetstream.New(nc)
	if err != nil {
		return append(out, Check{Name: "jetstream", Status: Fail, Message: err.Error()})
	}
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	info, err := js.AccountInfo(rctx)
	cancel()
	if err != nil {
		c := Check{Name: "jetstream", Status: Fail, Message: "JetStream: " + oneLine(err.Error()),
			Fix: "enable JetStream on the server (`jetstream {}` in its config, or `nats-server -js`)"}
		if !errors.Is(err, jetstream.ErrJetStreamNotEnabled) && !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			c.Fix = "check that JetStream is enabled and that the credentials may use its API"
		}
		out = append(out, c)
		return append(out, skipped(2, "JetStream is unavailable", "")...)
	}
	domain := "(no domain)"
	if info.Domain != "" {
		domain = fmt.Sprintf("in domain %q", info.Domain)
	}
	out = append(out, Check{Name: "jetstream", Status: OK,
		Message: fmt.Sprintf("enabled %s, %s, %s stored", domain, count(uint64(info.Streams), "stream"), bytesText(info.Store))})

	streams, serverTime, local := checkStreams(ctx, js, o.Timeout)
	out = append(out, streams, checkBuckets(ctx, js, o.Timeout), checkSchedules(ctx, nc, js, o.Timeout), checkGateway(ctx, nc, o.Timeout), checkDaemons(ctx, js, o.Timeout))
	if serverTime.IsZero() && streams.Status == Fail {
		out = append(out, Check{Name: "clock", Status: Skip, Message: "not measured: it is read from the streams' info"})
	} else {
		out = append(out, checkClock(serverTime, local))
	}
	return out
}

// checkSchedules checks that the server has message schedules and that
// the gateway set up VIBER_SCHEDULES with them, and counts schedules.
func checkSchedules(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, timeout time.Duration) Check {
	c := Check{Name: "schedules"}
	if v := nc.ConnectedServerVersion(); !bus.ServerSupportsSchedules(v) {
		c.Status, c.Message = Warn, fmt.Sprintf("nats-server %s has no message schedules: `viber schedule` is off", v)
		c.Fix = "upgrade the NATS server to " + bus.MinScheduleServer + " or later"
		return c
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := js.Stream(rctx, bus.ScheduleStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		c.Status, c.Message = Warn, bus.ScheduleStream+" is missing"
		c.Fix = "start the gateway once (`vibergw` or `viber up`): it creates it"
		return c
	}
	if err != nil {
		c.Status, c.Message = Fail, bus.ScheduleStream+": "+oneLine(err.Error())
		return c
	}
	if !s.CachedInfo().Config.AllowMsgSchedules {
		c.Status, c.Message = Fail, bus.ScheduleStream+" does not allow message schedules"
		c.Fix = "delete it (`nats stream rm " + bus.ScheduleStream + "`) and restart the gateway, which makes it again (schedule definitions stay in " + bus.ScheduleBucket + ")"
		return c
	}
	store, err := bus.OpenSchedules(rctx, js)
	if err != nil {
		c.Status, c.Message = Warn, oneLine(err.Error())
		c.Fix = "start the gateway once (`vibergw` or `viber up`): it creates it"
		return c
	}
	list, err := store.List(rctx)
	if err != nil {
		c.Status, c.Message = Fail, oneLine(err.Error())
		return c
	}
	paused := 0
	for _, sc := range list {
		if sc.Paused {
			paused++
		}
	}
	c.Status, c.Message = OK, fmt.Sprintf("message schedules on; %s (%d paused)", count(uint64(len(list)), "schedule"), paused)
	return c
}

func serverName(nc *nats.Conn) string {
	if n := nc.ConnectedServerName(); n != "" {
		return "server " + n
	}
	return "server " + nc.ConnectedServerId()
}

// checkStreams checks VIBER_TASKS and VIBER_WORK against the configuration
// bus.Setup gives them, and returns the server's time from the first
// stream info with the local time halfway through that request.
func checkStreams(ctx context.Context, js jetstream.JetStream, timeout time.Duration) (Check, time.Time, time.Time) {
	c := Check{Name: "streams", Status: OK}
	var (
		parts      []string
		problems   []string
		serverTime time.Time
		local      time.Time
	)
	for _, want := range []jetstream.StreamConfig{bus.TaskStreamConfig(bus.SetupOptions{}), bus.WorkStreamConfig(bus.SetupOptions{})} {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		before := time.Now()
		s, err := js.Stream(rctx, want.Name)
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = s.Info(rctx)
		}
		after := time.Now()
		cancel()
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				problems = append(problems, want.Name+" is missing")
			} else {
				problems = append(problems, want.Name+": "+oneLine(err.Error()))
			}
			continue
		}
		if serverTime.IsZero() && !info.TimeStamp.IsZero() {
			serverTime, local = info.TimeStamp, before.Add(after.Sub(before)/2)
		}
		if info.Config.Retention != want.Retention {
			problems = append(problems, fmt.Sprintf("%s has retention %s, want %s", want.Name, info.Config.Retention, want.Retention))
		}
		for _, subj := range want.Subjects {
			if !slices.Contains(info.Config.Subjects, subj) {
				problems = append(problems, fmt.Sprintf("%s does not take %s (subjects %v)", want.Name, subj, info.Config.Subjects))
			}
		}
		if info.Config.Sealed {
			problems = append(problems, want.Name+" is sealed")
		}
		parts = append(parts, fmt.Sprintf("%s %s, %s", want.Name, count(info.State.Msgs, "message"), bytesText(info.State.Bytes)))
	}
	if len(problems) > 0 {
		c.Status, c.Message = Fail, strings.Join(problems, "; ")
		c.Fix = "start the gateway once (`vibergw` or `viber up`): it creates Viber's streams; a changed stream must be fixed or deleted by hand (`nats stream info`)"
		return c, serverTime, local
	}
	c.Message = strings.Join(parts, "; ")
	return c, serverTime, local
}

func checkBuckets(ctx context.Context, js jetstream.JetStream, timeout time.Duration) Check {
	c := Check{Name: "buckets", Status: OK}
	var parts, missing []string
	for _, name := range []string{bus.DaemonBucket, bus.TaskBucket, bus.MemoryBucket} {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		kv, err := js.KeyValue(rctx, name)
		var st jetstream.KeyValueStatus
		if err == nil {
			st, err = kv.Status(rctx)
		}
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrBucketNotFound):
			missing = append(missing, name+" is missing")
		case err != nil:
			missing = append(missing, name+": "+oneLine(err.Error()))
		default:
			parts = append(parts, fmt.Sprintf("%s %s", name, count(st.Values(), "key")))
		}
	}
	if len(missing) > 0 {
		c.Status, c.Message = Fail, strings.Join(missing, "; ")
		c.Fix = "start the gateway once (`vibergw` or `viber up`): it creates Viber's buckets"
		return c
	}
	c.Message = strings.Join(parts, "; ")
	return c
}

// checkGateway pings the gateway's NATS micro service.
func checkGateway(ctx context.Context, nc *nats.Conn, timeout time.Duration) Check {
	c := Check{Name: "gateway"}
	subj, err := micro.ControlSubject(micro.PingVerb, bus.ServiceName, "")
	if err != nil {
		c.Status, c.Message = Fail, err.Error()
		return c
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, subj, nil)
	if err != nil {
		c.Status = Fail
		c.Message = "no gateway answers the " + bus.ServiceName + " service: " + oneLine(err.Error())
		c.Fix = "start the gateway (`vibergw`, or `viber up` which includes one)"
		return c
	}
	var ping micro.Ping
	if err := json.Unmarshal(msg.Data, &ping); err != nil {
		c.Status, c.Message = Warn, "the "+bus.ServiceName+" service answered something unreadable: "+err.Error()
		c.Fix = "check which process serves " + subj
		return c
	}
	c.Status, c.Message = OK, fmt.Sprintf("%s service answers (version %s, id %s)", ping.Name, ping.Version, ping.ID)
	return c
}

// checkDaemons reads the presence bucket.
func checkDaemons(ctx context.Context, js jetstream.JetStream, timeout time.Duration) Check {
	c := Check{Name: "daemons"}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p, err := bus.OpenPresence(rctx, js)
	var list []*bus.DaemonInfo
	if err == nil {
		list, err = p.List(rctx)
	}
	if err != nil {
		c.Status, c.Message = Fail, "presence: "+oneLine(err.Error())
		c.Fix = "start the gateway once (`vibergw` or `viber up`): it creates the presence bucket"
		return c
	}
	now := time.Now()
	kv, _ := js.KeyValue(rctx, bus.DaemonBucket)
	var online, offline, skewed []string
	for _, d := range list {
		if d.Online(now) {
			line := d.ID
			if d.Model != "" {
				line += " (" + d.Provider + "/" + d.Model + ")"
			}
			if d.Edge {
				line += " [edge]"
			}
			online = append(online, line)
			detail := fmt.Sprintf("%s online: %d/%d tasks", d.ID, len(d.Running), d.Capacity)
			if d.Version != "" {
				detail += ", version " + d.Version
			}
			if skew, ok := daemonSkew(rctx, kv, d.ID); ok {
				detail += fmt.Sprintf(", clock %s", skewText(skew))
				if skew.Abs() >= skewWarn {
					skewed = append(skewed, fmt.Sprintf("%s's clock is %s", d.ID, skewText(skew)))
				}
			}
			c.Details = append(c.Details, detail)
		} else {
			offline = append(offline, d.ID)
		}
	}
	if len(online) == 0 {
		c.Status = Warn
		c.Message = "no daemon is online; tasks wait until one is"
		if len(offline) > 0 {
			c.Message += " (offline: " + strings.Join(offline, ", ") + ")"
		}
		c.Fix = "start one: `viber up` runs a local daemon, `viberd` a separate one"
		return c
	}
	c.Status = OK
	c.Message = fmt.Sprintf("%d online: %s", len(online), strings.Join(online, ", "))
	if len(offline) > 0 {
		c.Message += fmt.Sprintf("; %d offline", len(offline))
	}
	if len(skewed) > 0 {
		c.Status = Warn
		c.Message += "; " + strings.Join(skewed, "; ")
		c.Fix = "synchronise those machines' clocks (NTP): event times come from them"
	}
	return c
}

// daemonSkew is how far a daemon's clock is from the server's: the time
// the daemon wrote into its last heartbeat against the time the server
// stored it (the write's latency, usually under a millisecond, included).
func daemonSkew(ctx context.Context, kv jetstream.KeyValue, id string) (time.Duration, bool) {
	if kv == nil {
		return 0, false
	}
	e, err := kv.Get(ctx, id)
	if err != nil {
		return 0, false
	}
	var d bus.DaemonInfo
	if json.Unmarshal(e.Value(), &d) != nil || d.LastSeen.IsZero() {
		return 0, false
	}
	return d.LastSeen.Sub(e.Created()), true
}

// skewText writes a clock difference to the server's.
func skewText(d time.Duration) string {
	switch {
	case d.Abs() < skewWarn:
		return fmt.Sprintf("within %s of the server", max(d.Abs().Round(time.Millisecond), time.Millisecond))
	case d > 0:
		return fmt.Sprintf("%s ahead of the server", d.Round(100*time.Millisecond))
	}
	return fmt.Sprintf("%s behind the server", (-d).Round(100*time.Millisecond))
}

// checkClock compares the server's time (from a JetStream API answer)
// with this machine's time halfway through that request.
func checkClock(server, local time.Time) Check {
	c := Check{Name: "clock"}
	if server.IsZero() {
		c.Status, c.Message = Warn, "not measured: the server sent no time with its stream info"
		c.Fix = "upgrade nats-server (2.10 or later reports it)"
		return c
	}
	skew := local.Sub(server)
	abs := skew.Abs()
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	c.Message = fmt.Sprintf("this machine is %s %s the NATS server", abs.Round(100*time.Millisecond), dir)
	switch {
	case abs >= skewFail:
		c.Status = Fail
	case abs >= skewWarn:
		c.Status = Warn
	default:
		c.Status = OK
		c.Message = fmt.Sprintf("within %s of the NATS server", max(abs.Round(time.Millisecond), time.Millisecond))
		return c
	}
	c.Fix = "synchronise the clocks (NTP, e.g. `timedatectl set-ntp true`): daemons' presence is judged by time"
	return c
}

// count writes "1 key", "2 keys".
func count(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// bytesText writes a byte count for people.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
