package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names of the schedule machinery. A schedule is a message on
// [ScheduleSubject] in [ScheduleStream] carrying the NATS server's
// Nats-Schedule headers; the server itself produces its firings onto
// [FireSubject], and the gateway's durable consumer [ScheduleConsumer]
// turns each firing into a task. The definitions and what they last did
// live in the [ScheduleBucket] KV bucket.
const (
	// ScheduleStream holds schedule messages and their firings (message
	// schedules allowed: nats-server >= 2.12).
	ScheduleStream = "VIBER_SCHEDULES"
	// ScheduleBucket is the KV bucket of schedule definitions and state,
	// one key per schedule name. The gateway writes it; users read it
	// through the gateway's API.
	ScheduleBucket = "viber_schedules"
	// ScheduleConsumer is the gateway's durable consumer of firings.
	ScheduleConsumer = "scheduler"

	schedulePrefix = root + ".schedule."
	scheduleDef    = schedulePrefix + "def."
	scheduleFire   = schedulePrefix + "fire."
)

// Headers of NATS message schedules (nats-server >= 2.12). The gateway
// sets the first three on a schedule message; the server sets the last two
// on every firing it produces.
const (
	// HeaderSchedule is the schedule pattern: a six-field cron expression
	// (seconds first), a predefined one such as "@daily", "@every <go
	// duration>" (at least 1s) or "@at <RFC 3339 time>".
	HeaderSchedule = "Nats-Schedule"
	// HeaderScheduleTarget is the subject firings are stored on; it must
	// be a subject of the schedule's own stream.
	HeaderScheduleTarget = "Nats-Schedule-Target"
	// HeaderScheduleTimeZone is the IANA time zone of a cron pattern (not
	// allowed with @every and @at, which are absolute).
	HeaderScheduleTimeZone = "Nats-Schedule-Time-Zone"
	// HeaderScheduleTTL is the Nats-TTL the server gives each firing.
	HeaderScheduleTTL = "Nats-Schedule-TTL"
	// HeaderScheduler, on a firing, names the schedule message's subject.
	HeaderScheduler = "Nats-Scheduler"
	// HeaderScheduleNext, on a firing, is the next firing time (RFC 3339)
	// or "purge" when the schedule fired for the last time.
	HeaderScheduleNext = "Nats-Schedule-Next"
	// ScheduleNextPurge is the value of [HeaderScheduleNext] on the last
	// firing of a one-shot schedule.
	ScheduleNextPurge = "purge"
	// HeaderScheduleManual marks a firing published by `viber schedule
	// run` rather than by the server.
	HeaderScheduleManual = "Viber-Schedule-Manual"
)

// MinScheduleServer is the oldest nats-server that has message schedules.
const MinScheduleServer = "2.12.0"

// ScheduleSubject is where the schedule message of schedule name is kept:
// viber.schedule.def.<name>. The gateway writes it (one message, rolled
// up), the server reads it.
func ScheduleSubject(name string) string { return scheduleDef + name }

// FireSubject is where the server stores the firings of schedule name:
// viber.schedule.fire.<name>. The server (and `schedule run`, through the
// gateway) writes; the gateway's [ScheduleConsumer] reads.
func FireSubject(name string) string { return scheduleFire + name }

// FireSubjects matches the firings of every schedule.
func FireSubjects() string { return scheduleFire + "*" }

// ScheduleStreamSubjects is what [ScheduleStream] captures.
func ScheduleStreamSubjects() string { return schedulePrefix + "*.*" }

// ScheduleNameFromFire returns the schedule name of a firing subject.
func ScheduleNameFromFire(subject string) (string, bool) {
	name, ok := strings.CutPrefix(subject, scheduleFire)
	return name, ok && ValidToken(name)
}

// ScheduleStreamConfig is the configuration of VIBER_SCHEDULES. Firings
// expire after a day (they are consumed in seconds; the age only bounds
// what a long-dead gateway finds) through per-message TTLs, which the
// schedule messages themselves do not carry.
func ScheduleStreamConfig(o SetupOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:              ScheduleStream,
		Description:       "Viber schedules (NATS message schedules) and their firings",
		Subjects:          []string{ScheduleStreamSubjects()},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		Duplicates:        o.DuplicateWindow,
		MaxMsgsPerSubject: 1000,
		Replicas:          o.Replicas,
		AllowMsgSchedules: true,
		AllowMsgTTL:       true,
		AllowRollup:       true,
		AllowDirect:       true,
	}
}

// FiringTTL is the Nats-Schedule-TTL given to firings.
const FiringTTL = "24h"

// ScheduleConsumerConfig is the configuration of the gateway's durable
// consumer of firings. ackWait is how long a firing may stay
// unacknowledged (a gateway that died mid-firing) before it is delivered
// again.
// Its replica count is its stream's.
func ScheduleConsumerConfig(ackWait time.Duration) jetstream.ConsumerConfig {
	if ackWait <= 0 {
		ackWait = 30 * time.Second
	}
	return jetstream.ConsumerConfig{
		Durable:       ScheduleConsumer,
		Description:   "the gateway turns schedule firings into tasks",
		FilterSubject: FireSubjects(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 10_000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// ErrSchedulesUnsupported means the NATS server has no message schedules.
var ErrSchedulesUnsupported = fmt.Errorf("%w: schedules need nats-server >= %s (message schedules)", ErrUnsupported, MinScheduleServer)

// ServerSupportsSchedules reports whether a nats-server version string
// ("2.15.2", "v2.12.0-beta") is at least [MinScheduleServer].
func ServerSupportsSchedules(version string) bool {
	v := strings.TrimPrefix(version, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 2 || major == 2 && minor >= 12
}

// SetupSchedules creates VIBER_SCHEDULES, the viber_schedules bucket and
// the gateway's firing consumer when missing. serverVersion is the
// connected server's version: an older server than [MinScheduleServer]
// gets an error wrapping [ErrSchedulesUnsupported] that names both.
func SetupSchedules(ctx context.Context, js jetstream.JetStream, serverVersion string, ackWait time.Duration, o SetupOptions) error {
	if !ServerSupportsSchedules(serverVersion) {
		return fmt.Errorf("the NATS server is %s: %w", serverVersion, ErrSchedulesUnsupported)
	}
	o = o.withDefaults()
	cfg := ScheduleStreamConfig(o)
	if err := ensureStream(ctx, js, cfg, o, nil); err != nil {
		return err
	}
	s, err := js.Stream(ctx, cfg.Name)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", cfg.Name, err)
	}
	if !s.CachedInfo().Config.AllowMsgSchedules {
		return fmt.Errorf("stream %s does not allow message schedules (server %s): %w", cfg.Name, serverVersion, ErrSchedulesUnsupported)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, ScheduleStream, ScheduleConsumerConfig(ackWait)); err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", ScheduleConsumer, ScheduleStream, err)
	}
	return ensureBucket(ctx, js, jetstream.KeyValueConfig{Bucket: ScheduleBucket, Description: "Viber schedule definitions and state", History: 1, Storage: jetstream.FileStorage, Replicas: o.Replicas})
}

func ensureBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) error {
	if _, err := js.KeyValue(ctx, cfg.Bucket); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
	}
	if _, err := js.CreateKeyValue(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
		return fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
	}
	return nil
}

// Overlap policies of a schedule: what a firing does while the task of the
// previous one is unfinished.
const (
	// OverlapSkip drops the firing (recorded as skipped). The default.
	OverlapSkip = "skip"
	// OverlapQueue keeps the firing waiting until the previous task ends,
	// then runs it. At most one firing waits: a newer firing replaces it.
	OverlapQueue = "queue"
)

// Schedule is a schedule's definition and what it did last, the value of
// its key in [ScheduleBucket].
type Schedule struct {
	// Name identifies the schedule (a subject token).
	Name string `json:"name"`
	// Exactly one of Cron, Every and At is set.
	//
	// Cron is a cron expression: five fields (minute first) or six
	// (seconds first), or a descriptor such as "@daily".
	Cron string `json:"cron,omitempty"`
	// Every is an interval of at least one second (a Go duration).
	Every Duration `json:"every,omitempty"`
	// At is the one time a one-shot schedule fires.
	At *time.Time `json:"at,omitempty"`
	// TZ is the IANA time zone of a cron expression (default UTC).
	TZ string `json:"tz,omitempty"`
	// Pattern is what the NATS server was given (Nats-Schedule).
	Pattern string `json:"pattern,omitempty"`

	// What each firing creates: see [CreateTaskRequest].
	Goal   string            `json:"goal"`
	Daemon string            `json:"daemon,omitempty"`
	Model  string            `json:"model,omitempty"`
	Skills []string          `json:"skills,omitempty"`
	Tools  []string          `json:"tools,omitempty"`
	Agent  string            `json:"agent,omitempty"`
	Policy map[string]string `json:"policy,omitempty"`
	// Notify is a URL the terminal event of each task is POSTed to.
	Notify string `json:"notify,omitempty"`
	// Overlap is [OverlapSkip] (default) or [OverlapQueue].
	Overlap string `json:"overlap,omitempty"`
	// By says who added the schedule.
	By string `json:"by,omitempty"`

	// Paused schedules do not fire (their schedule message is removed).
	Paused bool `json:"paused,omitempty"`
	// Done is set once a one-shot schedule fired.
	Done bool `json:"done,omitempty"`
	// ArmedAt is when the schedule message was last stored (an @every
	// schedule fires first one interval after it).
	ArmedAt   time.Time `json:"armed_at"`
	CreatedAt time.Time `json:"created_at"`
	// NextFire is the next firing time the server announced with the
	// latest firing (zero before the first).
	NextFire *time.Time `json:"next_fire,omitempty"`
	// LastRun is the time of the latest firing that made a task.
	LastRun *time.Time `json:"last_run,omitempty"`
	// LastTask is the task of that firing.
	LastTask string `json:"last_task,omitempty"`
	// Runs are the most recent firings, newest last (at most
	// [MaxScheduleRuns]).
	Runs []ScheduleRun `json:"runs,omitempty"`
}

// MaxScheduleRuns bounds [Schedule.Runs].
const MaxScheduleRuns = 20

// ScheduleRun is one firing of a schedule and what came of it.
type ScheduleRun struct {
	// Time is when the firing was stored.
	Time time.Time `json:"time"`
	// Task is the task it made ("" when skipped).
	Task string `json:"task,omitempty"`
	// Skipped says why no task was made.
	Skipped string `json:"skipped,omitempty"`
	// Manual is true for `schedule run`.
	Manual bool `json:"manual,omitempty"`
	// State and Result are filled in by readers from the task's summary.
	State  State  `json:"state,omitempty"`
	Result string `json:"result,omitempty"`
}

// AddRun records a firing, keeping the newest [MaxScheduleRuns]. A run of
// a task already recorded is not added twice.
func (s *Schedule) AddRun(r ScheduleRun) {
	if r.Task != "" {
		for _, old := range s.Runs {
			if old.Task == r.Task {
				return
			}
		}
	}
	s.Runs = append(s.Runs, r)
	if n := len(s.Runs) - MaxScheduleRuns; n > 0 {
		s.Runs = append([]ScheduleRun(nil), s.Runs[n:]...)
	}
}

// Schedules is the [ScheduleBucket].
type Schedules struct {
	kv jetstream.KeyValue
}

// OpenSchedules opens the schedule bucket (see [SetupSchedules]).
func OpenSchedules(ctx context.Context, js jetstream.JetStream) (*Schedules, error) {
	kv, err := js.KeyValue(ctx, ScheduleBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", ScheduleBucket, err)
	}
	return &Schedules{kv: kv}, nil
}

// Get returns a schedule and its revision, or an error wrapping
// [ErrScheduleNotFound].
func (s *Schedules) Get(ctx context.Context, name string) (*Schedule, uint64, error) {
	if !ValidToken(name) {
		return nil, 0, fmt.Errorf("schedule %q: %w", name, ErrScheduleNotFound)
	}
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("schedule %q (`viber schedule ls` lists them): %w", name, ErrScheduleNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read schedule %s: %w", name, err)
	}
	var sc Schedule
	if err := json.Unmarshal(e.Value(), &sc); err != nil {
		return nil, 0, fmt.Errorf("schedule %s: %w: %v", name, ErrMalformed, err)
	}
	return &sc, e.Revision(), nil
}

// Create stores a new schedule; one that exists gives an error wrapping
// [ErrConflict].
func (s *Schedules) Create(ctx context.Context, sc *Schedule) (uint64, error) {
	b, err := json.Marshal(sc)
	if err != nil {
		return 0, err
	}
	rev, err := s.kv.Create(ctx, sc.Name, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("schedule %s already exists (`viber schedule rm %s` first): %w", sc.Name, sc.Name, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("store schedule %s: %w", sc.Name, err)
	}
	return rev, nil
}

// Change reads a schedule, applies change and writes it back if nobody
// wrote in between, starting over otherwise. change may return an error
// to leave it as it is.
func (s *Schedules) Change(ctx context.Context, name string, change func(*Schedule) error) (*Schedule, error) {
	for range 32 {
		sc, rev, err := s.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := change(sc); err != nil {
			return nil, err
		}
		b, err := json.Marshal(sc)
		if err != nil {
			return nil, err
		}
		if _, err := s.kv.Update(ctx, name, b, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			return nil, fmt.Errorf("update schedule %s: %w", name, err)
		}
		return sc, nil
	}
	return nil, fmt.Errorf("update schedule %s: it kept changing: %w", name, ErrConflict)
}

// Delete removes a schedule's definition.
func (s *Schedules) Delete(ctx context.Context, name string) error {
	if err := s.kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	return nil
}

// List returns every schedule, by name.
func (s *Schedules) List(ctx context.Context) ([]*Schedule, error) {
	list, _, err := listJSON[Schedule](ctx, s.kv, "schedules", nil)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}
