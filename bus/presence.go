package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Daemon states in presence.
const (
	DaemonOnline  = "online"
	DaemonOffline = "offline"
)

// DaemonInfo is a daemon's presence record in the viber_daemons bucket,
// rewritten at every heartbeat.
type DaemonInfo struct {
	// ID is the daemon's id (its --name), a subject token.
	ID string `json:"id"`
	// Name is the human name (same as ID today).
	Name string `json:"name"`
	// Instance changes at every start, so two processes claiming one id
	// can be told apart.
	Instance string `json:"instance"`
	// Version is the daemon's build version.
	Version string `json:"version"`
	// Hostname is the machine's name.
	Hostname string `json:"hostname,omitempty"`
	// Labels are free key/value tags from the daemon's configuration.
	Labels map[string]string `json:"labels,omitempty"`
	// Edge is true for a daemon behind a leaf node.
	Edge bool `json:"edge,omitempty"`
	// Provider and Model are the daemon's default model.
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
	// Skills are the skills the daemon offers.
	Skills []SkillInfo `json:"skills,omitempty"`
	// Agents are the named agents the daemon offers (the built-in
	// "default" included).
	Agents []AgentInfo `json:"agents,omitempty"`
	// MCPServers are the MCP servers whose tools the daemon's workers use.
	MCPServers []MCPServerInfo `json:"mcp_servers,omitempty"`
	// Capacity is how many tasks it runs at once.
	Capacity int `json:"capacity"`
	// Running lists the tasks it runs now.
	Running []string `json:"running"`
	// Status is "online" or "offline" (after a clean shutdown).
	Status string `json:"status"`
	// Heartbeat is the interval between presence updates.
	Heartbeat Duration `json:"heartbeat"`
	// StartedAt and LastSeen are the daemon's start and its latest
	// heartbeat; readers replace LastSeen with the time the server stored
	// the heartbeat, so a daemon's wrong clock cannot fool them.
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
}

// Online reports whether the daemon is up at time now: it said so and its
// last heartbeat is no older than three intervals.
func (d *DaemonInfo) Online(now time.Time) bool {
	if d.Status != DaemonOnline {
		return false
	}
	hb := time.Duration(d.Heartbeat)
	if hb <= 0 {
		hb = 5 * time.Second
	}
	return now.Sub(d.LastSeen) <= 3*hb
}

// SkillInfo describes a skill a daemon offers.
type SkillInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Source is "workspace", "user" or "builtin".
	Source string `json:"source"`
	// Missing lists unmet requirements ("binary git", "env TOKEN"); a
	// skill with any is not used for routing.
	Missing []string `json:"missing,omitempty"`
}

// AgentInfo describes a named agent a daemon offers.
type AgentInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Source is "workspace", "user" or "builtin".
	Source string `json:"source"`
	// Model is the agent's own model ("" for the daemon's default).
	Model string `json:"model,omitempty"`
	// Tools is the agent's tool allow-list (names and globs); null means
	// every tool, an empty list none.
	Tools []string `json:"tools"`
	// Skills are the only skills the agent uses; absent means all.
	Skills []string `json:"skills,omitempty"`
}

// HasAgent reports whether the daemon offers the named agent ("" is the
// default agent, which every daemon has).
func (d *DaemonInfo) HasAgent(name string) bool {
	if name == "" {
		return true
	}
	for _, a := range d.Agents {
		if a.Name == name {
			return true
		}
	}
	return false
}

// MCPServerInfo describes an MCP server a daemon uses.
type MCPServerInfo struct {
	// Name is the server's name in the daemon's config.
	Name string `json:"name"`
	// Transport is "stdio" or "http".
	Transport string `json:"transport"`
	// Status is starting, connected, restarting, error or stopped.
	Status string `json:"status"`
	// Tools are the names the daemon's workers call the server's tools by
	// (mcp_<server>_<tool>).
	Tools []string `json:"tools,omitempty"`
	// Error says why the server is not connected (secrets redacted).
	Error string `json:"error,omitempty"`
}

// Offers reports whether the daemon has every named skill with nothing
// missing.
func (d *DaemonInfo) Offers(names []string) bool {
	for _, n := range names {
		ok := false
		for _, s := range d.Skills {
			if s.Name == n && len(s.Missing) == 0 {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// OffersTools reports whether every named tool is offered by one of the
// daemon's connected MCP servers. Names outside the mcp_ space are the
// built-in tools every daemon has.
func (d *DaemonInfo) OffersTools(names []string) bool {
	for _, n := range names {
		if !strings.HasPrefix(n, "mcp_") {
			continue
		}
		ok := false
		for _, s := range d.MCPServers {
			ok = ok || (s.Status == "connected" && slices.Contains(s.Tools, n))
		}
		if !ok {
			return false
		}
	}
	return true
}

// Duration is a time.Duration that encodes as a Go duration string
// ("5s") in JSON.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Presence reads and writes daemon presence.
type Presence struct {
	kv jetstream.KeyValue
}

// OpenPresence opens the viber_daemons bucket (see [Setup]).
func OpenPresence(ctx context.Context, js jetstream.JetStream) (*Presence, error) {
	kv, err := js.KeyValue(ctx, DaemonBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", DaemonBucket, err)
	}
	return &Presence{kv: kv}, nil
}

// Put stores a daemon's record.
func (p *Presence) Put(ctx context.Context, d *DaemonInfo) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, err := p.kv.Put(ctx, d.ID, b); err != nil {
		return fmt.Errorf("write presence of %s: %w", d.ID, err)
	}
	return nil
}

// Get returns one daemon's record, or ErrDaemonNotFound.
func (p *Presence) Get(ctx context.Context, id string) (*DaemonInfo, error) {
	if !ValidToken(id) {
		return nil, fmt.Errorf("daemon %q: %w", id, ErrDaemonNotFound)
	}
	e, err := p.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("daemon %s: %w", id, ErrDaemonNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read presence of %s: %w", id, err)
	}
	var d DaemonInfo
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return nil, fmt.Errorf("presence of %s: %w: %v", id, ErrMalformed, err)
	}
	d.LastSeen = e.Created() // the server's clock, not the daemon's
	return &d, nil
}

// List returns every daemon ever registered, sorted by id.
func (p *Presence) List(ctx context.Context) ([]*DaemonInfo, error) {
	out, _, err := listJSON(ctx, p.kv, "daemons", func(d *DaemonInfo, e jetstream.KeyValueEntry) {
		d.LastSeen = e.Created() // the server's clock, not the daemon's
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// WatchIDs calls seen with the id of every daemon whose presence is
// written, and gone with the id of every one whose presence is removed,
// until ctx ends: the current records first, then changes. A gateway uses
// it to make each daemon's work consumer, which strict daemon credentials
// may not create themselves.
func (p *Presence) WatchIDs(ctx context.Context, seen, gone func(id string)) error {
	w, err := p.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", DaemonBucket, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				continue // the end of the current records
			}
			switch e.Operation() {
			case jetstream.KeyValuePut:
				seen(e.Key())
			default:
				gone(e.Key())
			}
		}
	}
}

// Retire deletes daemon id's presence record if its last heartbeat was
// stored before cutoff (by the server's clock). The delete is conditional
// on the record read, so a daemon that beats meanwhile keeps its record;
// retired is false then, and when the record is newer or missing.
func (p *Presence) Retire(ctx context.Context, id string, cutoff time.Time) (retired bool, err error) {
	e, err := p.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read presence of %s: %w", id, err)
	}
	if !e.Created().Before(cutoff) {
		return false, nil
	}
	err = p.kv.Delete(ctx, id, jetstream.LastRevision(e.Revision()))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return false, nil // it beat meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("retire presence of %s: %w", id, err)
	}
	return true, nil
}
