// Package memory gives agents memory across tasks: files (SOUL.md, USER.md,
// MEMORY.md, any name) in the fleet's viber_memory bucket, per scope —
// global, one named agent's, one submitter's — loaded into the system
// prompt at the start of each turn and changed only through the
// memory_update tool, a compare-and-set on the file's revision whose every
// write is also a memory_updated event of the task. Files the operator
// pins in the workspace's .viber folder are loaded too and cannot be
// changed by an agent.
package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/viberhq/viber/agents/tool"
	"github.com/viberhq/viber/bus"
)

// DefaultFileCap is how much of one file the system prompt shows.
const DefaultFileCap = 8 << 10

// PinnedDir is the folder of a workspace whose .md files are pinned
// memory: <workspace>/.viber.
func PinnedDir(workspace string) string { return filepath.Join(workspace, ".viber") }

// Session is one task's memory: the scopes its agent uses, the files the
// operator pinned, and the revisions the task has seen (what its writes
// compare against). It is safe for concurrent use.
type Session struct {
	store  *bus.Memory
	cache  *Cache
	scopes map[string]bus.MemoryScope // by kind: agent, user, global
	order  []string
	pinned string
	cap    int

	mu   sync.Mutex
	seen map[string]uint64 // MemoryKey → revision read
}

// Options configure a [Session].
type Options struct {
	// Store is the viber_memory bucket. Required.
	Store *bus.Memory
	// Cache, when set, serves the prompt's files without asking the
	// bucket (a daemon keeps one for all its tasks).
	Cache *Cache
	// Kinds are the scope kinds the agent uses (agent, user, global), in
	// load order.
	Kinds []string
	// Agent and Submitter name the agent and user scopes; a kind whose
	// name is empty is left out.
	Agent, Submitter string
	// PinnedDir holds the operator's pinned files (*.md); "" for none.
	PinnedDir string
	// FileCap caps each file in the prompt (default 8 KB).
	FileCap int
}

// NewSession returns the memory of one task.
func NewSession(o Options) *Session {
	s := &Session{store: o.Store, cache: o.Cache, scopes: map[string]bus.MemoryScope{}, pinned: o.PinnedDir, cap: o.FileCap, seen: map[string]uint64{}}
	if s.cap <= 0 {
		s.cap = DefaultFileCap
	}
	for _, k := range o.Kinds {
		sc := bus.MemoryScope{Kind: k}
		switch k {
		case bus.MemoryAgent:
			sc.Name = o.Agent
		case bus.MemoryUser:
			sc.Name = o.Submitter
		}
		if sc.Validate() != nil {
			continue
		}
		s.scopes[k] = sc
		s.order = append(s.order, k)
	}
	return s
}

// Kinds lists the scope kinds the session uses.
func (s *Session) Kinds() []string { return slices.Clone(s.order) }

func (s *Session) see(key string, rev uint64) {
	s.mu.Lock()
	s.seen[key] = rev
	s.mu.Unlock()
}

func (s *Session) seenRev(key string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key]
}

// pinnedFiles reads the operator's pinned files, by name.
func (s *Session) pinnedFiles() (names []string, texts map[string]string) {
	texts = map[string]string{}
	if s.pinned == "" {
		return nil, texts
	}
	entries, err := os.ReadDir(s.pinned)
	if err != nil {
		return nil, texts
	}
	for _, e := range entries {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".md") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.pinned, e.Name()))
		if err != nil {
			continue
		}
		names = append(names, e.Name())
		texts[e.Name()] = string(b)
	}
	return names, texts
}

// isPinned reports whether the operator pinned a file of that name.
func (s *Session) isPinned(name string) bool {
	if s.pinned == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(s.pinned, filepath.Base(name)))
	return err == nil && filepath.Base(name) == name
}

// Prompt returns the memory section of the system prompt: the pinned
// files, then each scope's files, each cut to the file cap with a note. It
// records the revisions it showed. A bucket that cannot be read leaves
// its files out with a note rather than failing the turn.
func (s *Session) Prompt(ctx context.Context) string {
	var b strings.Builder
	b.WriteString("## Memory\n\nWhat you remember from earlier tasks. Files pinned by the operator cannot be changed. " +
		"When you learn something worth keeping for later tasks (about the user, the work, yourself), save it with memory_update: " +
		"it replaces the whole file, so send the full new text. Keep files short.\n")
	names, texts := s.pinnedFiles()
	for _, n := range names {
		s.writeFile(&b, "pinned", n, 0, texts[n])
	}
	files := 0
	for _, k := range s.order {
		sc := s.scopes[k]
		list, err := s.files(ctx, sc)
		if err != nil {
			fmt.Fprintf(&b, "\n(the %s memory could not be read now: %v)\n", k, err)
			continue
		}
		for _, f := range list {
			s.see(bus.MemoryKey(sc, f.Name), f.Revision)
			s.writeFile(&b, k, f.Name, f.Revision, f.Content)
			files++
		}
	}
	if files == 0 && len(names) == 0 {
		fmt.Fprintf(&b, "\nNo memory files yet (scopes: %s).\n", strings.Join(s.order, ", "))
	}
	return b.String()
}

// files returns a scope's current files with their content: from the
// cache when there is one, else from the bucket.
func (s *Session) files(ctx context.Context, sc bus.MemoryScope) ([]*bus.MemoryFile, error) {
	if s.cache != nil {
		s.cache.wait(ctx)
		return s.cache.Files(sc), nil
	}
	list, err := s.store.List(ctx, &sc)
	if err != nil {
		return nil, err
	}
	var out []*bus.MemoryFile
	for _, f := range list {
		if full, err := s.store.Get(ctx, sc, f.Name, 0); err == nil {
			out = append(out, full)
		}
	}
	return out, nil
}

func (s *Session) writeFile(b *strings.Builder, scope, name string, rev uint64, text string) {
	fmt.Fprintf(b, "\n<memory scope=%q name=%q", scope, name)
	if rev > 0 {
		fmt.Fprintf(b, " revision=\"%d\"", rev)
	}
	b.WriteString(">\n")
	shown, cut := capText(text, s.cap)
	b.WriteString(strings.ReplaceAll(shown, "</memory>", "&lt;/memory>"))
	if !strings.HasSuffix(shown, "\n") {
		b.WriteByte('\n')
	}
	if cut {
		fmt.Fprintf(b, "[cut: this file is %d bytes; only the first %d are shown. memory_read reads it whole.]\n", len(text), len(shown))
	}
	b.WriteString("</memory>\n")
}

// capText cuts text to at most n bytes on a character boundary.
func capText(text string, n int) (string, bool) {
	if len(text) <= n {
		return text, false
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut], true
}

// Tools returns memory_read and memory_update bound to one run; record
// stores the memory_updated event of each write.
func (s *Session) Tools(record func(context.Context, bus.Payload) error) []tool.Tool {
	return []tool.Tool{&readTool{s: s}, &updateTool{s: s, record: record}}
}

func (s *Session) scopeParam() map[string]any {
	return map[string]any{"type": "string", "enum": s.Kinds(), "description": "whose memory: " + strings.Join(s.Kinds(), ", ") + " (default " + s.defaultKind() + ")"}
}

func (s *Session) defaultKind() string {
	if _, ok := s.scopes[bus.MemoryAgent]; ok {
		return bus.MemoryAgent
	}
	if len(s.order) > 0 {
		return s.order[0]
	}
	return ""
}

// scope resolves a tool's scope argument.
func (s *Session) scope(kind string) (bus.MemoryScope, error) {
	if kind == "" {
		kind = s.defaultKind()
	}
	sc, ok := s.scopes[kind]
	if !ok {
		return sc, fmt.Errorf("scope %q is not one of this agent's memory scopes (%s)", kind, strings.Join(s.order, ", "))
	}
	return sc, nil
}

type fileArgs struct {
	Name    string  `json:"name"`
	Scope   string  `json:"scope"`
	Content *string `json:"content"`
}

// readTool reads one memory file whole.
type readTool struct{ s *Session }

func (*readTool) Name() string { return "memory_read" }

func (*readTool) Description() string {
	return "Read one of your memory files whole (the system prompt shows each file only up to a size cap), with its revision."
}

func (t *readTool) Parameters() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"name":  map[string]any{"type": "string", "description": "the file, e.g. MEMORY.md"},
			"scope": t.s.scopeParam(),
		},
		"required": []string{"name"},
	}
}

func (t *readTool) Call(ctx context.Context, args json.RawMessage) tool.Result {
	var a fileArgs
	if err := json.Unmarshal(args, &a); err != nil || a.Name == "" {
		return tool.Errorf("want {\"name\": \"MEMORY.md\", \"scope\": \"%s\"}", t.s.defaultKind())
	}
	sc, err := t.s.scope(a.Scope)
	if err != nil {
		return tool.Errorf("%v", err)
	}
	f, err := t.s.store.Get(ctx, sc, a.Name, 0)
	if errors.Is(err, bus.ErrMemoryNotFound) {
		t.s.see(bus.MemoryKey(sc, a.Name), 0)
		return tool.Result{Output: fmt.Sprintf("%s has no file %s yet; memory_update creates it.", sc.Kind, a.Name)}
	}
	if err != nil {
		return tool.Errorf("could not read %s: %v", a.Name, err)
	}
	t.s.see(bus.MemoryKey(sc, a.Name), f.Revision)
	return tool.Result{Output: fmt.Sprintf("%s (%s memory, revision %d):\n%s", f.Name, sc.Kind, f.Revision, f.Content)}
}

// updateTool replaces a memory file, compare-and-set on the revision the
// task saw.
type updateTool struct {
	s      *Session
	record func(context.Context, bus.Payload) error
}

func (*updateTool) Name() string { return "memory_update" }

func (*updateTool) Description() string {
	return "Save a memory file for later tasks: replaces the whole file with content (send the full new text, merged with what the file held). " +
		"If the file changed since you read it, nothing is written and you get its current text to merge and try again."
}

func (t *updateTool) Parameters() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"name":    map[string]any{"type": "string", "description": "the file, e.g. MEMORY.md, USER.md, SOUL.md"},
			"content": map[string]any{"type": "string", "description": "the whole new text of the file"},
			"scope":   t.s.scopeParam(),
		},
		"required": []string{"name", "content"},
	}
}

func (t *updateTool) Call(ctx context.Context, args json.RawMessage) tool.Result {
	var a fileArgs
	if err := json.Unmarshal(args, &a); err != nil || a.Name == "" || a.Content == nil {
		return tool.Errorf("want {\"name\": \"MEMORY.md\", \"content\": \"...\", \"scope\": \"%s\"}", t.s.defaultKind())
	}
	if t.s.isPinned(a.Name) {
		return tool.Errorf("%s is pinned by the operator and cannot be changed; save what you learned in another file (e.g. MEMORY.md).", a.Name)
	}
	sc, err := t.s.scope(a.Scope)
	if err != nil {
		return tool.Errorf("%v", err)
	}
	key := bus.MemoryKey(sc, a.Name)
	prev := t.s.seenRev(key)
	f, err := t.s.store.Put(ctx, sc, a.Name, *a.Content, prev)
	if errors.Is(err, bus.ErrConflict) {
		if f == nil {
			t.s.see(key, 0)
			return tool.Errorf("%s changed since you read it and is now gone; call memory_update again to create it.", a.Name)
		}
		t.s.see(key, f.Revision)
		return tool.Errorf("not saved: %s was changed by someone else since you read it (now revision %d). Its current text is below; "+
			"merge your change into it and call memory_update again with the whole merged text.\n<current>\n%s\n</current>", a.Name, f.Revision, f.Content)
	}
	if err != nil {
		return tool.Errorf("not saved: %v", err)
	}
	t.s.see(key, f.Revision)
	if t.s.cache != nil {
		t.s.cache.Seen(f)
	}
	if err := t.record(ctx, &bus.MemoryUpdated{CallID: tool.CallID(ctx), Scope: sc.String(), Name: a.Name, Revision: f.Revision, Previous: prev, Content: *a.Content}); err != nil {
		return tool.Errorf("saved %s (revision %d), but the task could not record it: %v", a.Name, f.Revision, err)
	}
	return tool.Result{Output: fmt.Sprintf("saved %s in %s memory (revision %d, %d bytes)", a.Name, sc.Kind, f.Revision, len(*a.Content))}
}
