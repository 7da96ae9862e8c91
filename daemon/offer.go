package daemon

import (
	"context"
	"fmt"
	"reflect"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/memory"
	"github.com/viberhq/viber/roster"
	"github.com/viberhq/viber/skills"
)

// offer is what a daemon offers tasks at one moment: its skills and named
// agents, read from their folders. It is replaced whole by a rescan and
// never changed in place, so a running task keeps the one it started with.
type offer struct {
	catalog *skills.Catalog
	skills  []bus.SkillInfo
	roster  *roster.Roster
	agents  []bus.AgentInfo
	// warnings are the problems met reading the folders, to log only
	// when they change.
	warnings []string
}

// scanner knows the folders a daemon reads skills and agents from.
type scanner struct {
	skillRoots []skills.Root
	agentRoots []skills.Root
}

// read discovers the skills and agents in the scanner's folders.
func (s scanner) read() *offer {
	catalog, sw := skills.Discover(s.skillRoots...)
	r, aw := roster.Discover(s.agentRoots...)
	o := &offer{catalog: catalog, skills: skillInfo(catalog), roster: r, agents: agentInfo(r)}
	for _, w := range sw {
		o.warnings = append(o.warnings, w.String())
	}
	for _, w := range aw {
		o.warnings = append(o.warnings, w.String())
	}
	return o
}

// agentInfo describes a roster for presence.
func agentInfo(r *roster.Roster) []bus.AgentInfo {
	var out []bus.AgentInfo
	for _, a := range r.List() {
		out = append(out, bus.AgentInfo{
			Name: a.Name, Description: a.Description, Source: string(a.Source),
			Model: a.Model, Tools: a.Tools, Skills: a.Skills,
		})
	}
	return out
}

// rescan reads the folders again and installs what it found. It reports
// whether what presence shows changed; the first scan logs every
// warning, later ones only warnings that are new.
func (d *Daemon) rescan(first bool) bool {
	next := d.scan.read()
	prev := d.offer.Swap(next)
	var seen []string
	if prev != nil {
		seen = prev.warnings
	}
	for _, w := range next.warnings {
		if first || !slices.Contains(seen, w) {
			d.log.Warn().Msg(w)
		}
	}
	if prev == nil {
		return true
	}
	changed := !reflect.DeepEqual(prev.skills, next.skills) || !reflect.DeepEqual(prev.agents, next.agents)
	if changed && !first {
		d.log.Info().Strs("skills", next.catalog.Names()).Strs("agents", next.roster.Names()).Msg("skills or agents changed")
	}
	return changed
}

// rescanLoop rescans the skill and agent folders every Rescan and updates
// presence when what the daemon offers changed.
func (d *Daemon) rescanLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.Rescan)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.rescan(false) {
			d.beatSoon()
		}
	}
}

// modelFor is the model a task asks for: its own, else its agent's ("" is
// the daemon's default).
func (d *Daemon) modelFor(c *bus.Created) string {
	if c.Model != "" {
		return c.Model
	}
	if a, ok := d.offer.Load().roster.Get(c.Agent); ok {
		return a.Model
	}
	return ""
}

// agentFor builds the agent that runs a task: the named agent's prompt,
// tools (its allow-list applied to the daemon's), skills, step limit and
// policy (the daemon's, tightened by the agent's, then by the task's).
func (d *Daemon) agentFor(c *bus.Created, model llms.Model, kind string, rt *runtime) (*agents.Agent, error) {
	off := d.offer.Load()
	def, ok := off.roster.Get(c.Agent)
	if !ok {
		return nil, fmt.Errorf("daemon %s does not offer agent %q (any more)", d.cfg.ID, c.Agent)
	}
	policy, ignored, err := d.policy.Tighten(def.Policy)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", def.Name, err)
	}
	if len(ignored) > 0 {
		d.log.Info().Str("agent", def.Name).Strs("ignored", ignored).Msg("the agent asks for a looser tool policy than this daemon allows; kept the daemon's")
	}
	policy, ignored, err = policy.Tighten(c.Policy)
	if err != nil {
		return nil, err
	}
	if len(ignored) > 0 {
		d.log.Info().Strs("ignored", ignored).Msg("the task asked for a looser tool policy than this daemon allows; kept the daemon's")
	}
	tools := d.toolset()
	if d.cl != nil && c.Depth < d.maxDepth() {
		// A child runs under its parent's task policy and its agent's
		// (the gateway adds the task's; this adds the agent's).
		tools = append(slices.Clone(tools), &spawnTool{d: d, rt: rt, cl: d.cl, policy: bus.StricterPolicy(c.Policy, def.Policy)})
	}
	tools = slices.DeleteFunc(slices.Clone(tools), func(t tool.Tool) bool { return !def.Allows(t.Name()) })
	catalog := off.catalog
	if def.Skills != nil {
		catalog = catalog.Only(def.Skills)
	}
	maxSteps := d.cfg.MaxSteps
	if def.MaxSteps > 0 {
		maxSteps = def.MaxSteps
	}
	a := &agents.Agent{
		Model: model, Kind: kind, Tools: tools, Skills: catalog, Policy: policy,
		MaxSteps: maxSteps, System: d.systemPromptFor(def),
	}
	if kinds := def.MemoryScopes(); d.mem.store != nil && len(kinds) > 0 {
		a.Memory = memory.NewSession(memory.Options{
			Store: d.mem.store, Cache: d.mem.cache, Kinds: kinds, Agent: def.Name, Submitter: c.Submitter,
			PinnedDir: memory.PinnedDir(d.cfg.Workspace), FileCap: d.cfg.MemoryFileCap,
		})
	}
	return a, nil
}

// memoryState is the fleet's memory as a daemon reaches it.
type memoryState struct {
	store *bus.Memory
	cache *memory.Cache
}

// memoryOpenFor bounds how long a starting daemon tries to open the memory
// bucket before it runs its agents without memory.
const memoryOpenFor = 30 * time.Second

// startMemory opens the memory bucket and follows it with a cache until
// ctx ends. A failure that may pass (no answer, an election) is retried
// for up to memoryOpenFor; without the bucket after that (a gateway too
// old to create it, credentials that do not allow it) agents run without
// memory.
func (d *Daemon) startMemory(ctx context.Context, loops *sync.WaitGroup) {
	var store *bus.Memory
	octx, cancel := context.WithTimeout(ctx, memoryOpenFor)
	err := d.retry(octx, "open the memory bucket", func(ctx context.Context) (err error) {
		store, err = bus.OpenMemory(ctx, d.js)
		return err
	})
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn().Err(err).Msg("memory unavailable; agents run without it (check that the gateway is this version or newer and that the daemon's credentials allow the viber_memory bucket)")
		}
		return
	}
	d.mem = memoryState{store: store, cache: memory.NewCache()}
	loops.Add(1)
	go func() {
		defer loops.Done()
		d.mem.cache.Run(ctx, store, d.log)
	}()
}

// systemPromptFor is the system prompt of a task run by agent a: the
// daemon's for the default agent, otherwise the agent's own followed by
// where it works.
func (d *Daemon) systemPromptFor(a *roster.Agent) string {
	if strings.TrimSpace(a.System) == "" {
		return d.systemPrompt()
	}
	return strings.TrimSpace(a.System) + fmt.Sprintf("\n\nYou run as agent %q on daemon %q (host %q, %s/%s). Your workspace is %s; "+
		"file tools take paths relative to it and shell commands run in it. If a tool call is refused, do not retry it: find another way or explain.",
		a.Name, d.cfg.ID, d.host, goruntime.GOOS, goruntime.GOARCH, d.cfg.Workspace)
}
