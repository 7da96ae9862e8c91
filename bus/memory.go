package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
)

// MemoryBucket is the KV bucket holding the fleet's memory: files (SOUL.md,
// USER.md, MEMORY.md, any name) per scope, with history. Daemons read it
// into their agents' prompts and write it through the memory_update tool;
// gateways serve it to users (viber memory, /api/memory).
const MemoryBucket = "viber_memory"

// MemoryHistory is how many revisions of each memory file the bucket keeps.
const MemoryHistory = 64

// MaxMemoryBytes is the largest memory file.
const MaxMemoryBytes = 64 << 10

// MemoryBucketConfig is the configuration of the viber_memory bucket.
func MemoryBucketConfig(o SetupOptions) jetstream.KeyValueConfig {
	o = o.withDefaults()
	return jetstream.KeyValueConfig{
		Bucket: MemoryBucket, Description: "Viber memory: files per scope (agent, user, global), with history",
		History: MemoryHistory, MaxValueSize: MaxMemoryBytes, Storage: jetstream.FileStorage, Replicas: o.Replicas,
	}
}

// Memory scope kinds.
const (
	// MemoryAgent is memory shared by every task of one named agent.
	MemoryAgent = "agent"
	// MemoryUser is memory about one submitter, shared by every agent.
	MemoryUser = "user"
	// MemoryGlobal is memory shared by every agent and user.
	MemoryGlobal = "global"
)

// MemoryScope names one set of memory files: the global one, one agent's
// or one user's. Its text form is "global", "agent:<name>" or
// "user:<submitter>".
type MemoryScope struct {
	Kind string
	Name string
}

// String returns the scope's text form.
func (s MemoryScope) String() string {
	if s.Kind == MemoryGlobal {
		return MemoryGlobal
	}
	return s.Kind + ":" + s.Name
}

// ParseMemoryScope reads "global", "agent:<name>" or "user:<submitter>".
func ParseMemoryScope(text string) (MemoryScope, error) {
	kind, name, _ := strings.Cut(strings.TrimSpace(text), ":")
	s := MemoryScope{Kind: kind, Name: name}
	return s, s.Validate()
}

// Validate says what is wrong with the scope.
func (s MemoryScope) Validate() error {
	switch s.Kind {
	case MemoryGlobal:
		if s.Name != "" {
			return fmt.Errorf("%w: memory scope global takes no name", ErrMalformed)
		}
		return nil
	case MemoryAgent, MemoryUser:
		if s.Name == "" || len(s.Name) > 128 || !utf8.ValidString(s.Name) || strings.IndexFunc(s.Name, unicode.IsControl) >= 0 {
			return fmt.Errorf("%w: memory scope %s needs a name (%s:<name>, at most 128 characters)", ErrMalformed, s.Kind, s.Kind)
		}
		return nil
	}
	return fmt.Errorf("%w: memory scope %q: use global, agent:<name> or user:<submitter>", ErrMalformed, s.String())
}

// ValidMemoryName checks a memory file's name: 1-128 characters, no
// slashes or control characters, not starting with a dot.
func ValidMemoryName(name string) error {
	if name == "" || len(name) > 128 || !utf8.ValidString(name) || strings.HasPrefix(name, ".") ||
		strings.ContainsAny(name, `/\`) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: memory file name %q: 1-128 characters, no slashes, not starting with a dot (e.g. MEMORY.md)", ErrMalformed, name)
	}
	return nil
}

// encodeKeyToken makes text safe as one KV key token: letters, digits,
// '-' and '_' stay, every other byte becomes "=XX" (hex), so names with
// dots, slashes or spaces map to distinct keys and back.
func encodeKeyToken(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

func decodeKeyToken(tok string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		if tok[i] != '=' {
			b.WriteByte(tok[i])
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("key token %q: cut escape", tok)
		}
		c, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("key token %q: %w", tok, err)
		}
		b.WriteByte(byte(c))
		i += 2
	}
	return b.String(), nil
}

// MemoryKey is the viber_memory key of a scope's file:
// global.<file>, agent.<name>.<file> or user.<submitter>.<file>, each part
// encoded to the characters KV keys allow.
func MemoryKey(s MemoryScope, name string) string {
	if s.Kind == MemoryGlobal {
		return MemoryGlobal + "." + encodeKeyToken(name)
	}
	return s.Kind + "." + encodeKeyToken(s.Name) + "." + encodeKeyToken(name)
}

// memoryKeyPrefix is the key filter of one scope's files.
func memoryKeyPrefix(s MemoryScope) string {
	if s.Kind == MemoryGlobal {
		return MemoryGlobal + ".*"
	}
	return s.Kind + "." + encodeKeyToken(s.Name) + ".*"
}

// parseMemoryKey reads a key back into its scope and file name.
func parseMemoryKey(key string) (MemoryScope, string, error) {
	parts := strings.Split(key, ".")
	var s MemoryScope
	var file string
	var err error
	switch {
	case len(parts) == 2 && parts[0] == MemoryGlobal:
		s.Kind = MemoryGlobal
		file, err = decodeKeyToken(parts[1])
	case len(parts) == 3 && (parts[0] == MemoryAgent || parts[0] == MemoryUser):
		s.Kind = parts[0]
		if s.Name, err = decodeKeyToken(parts[1]); err == nil {
			file, err = decodeKeyToken(parts[2])
		}
	default:
		err = fmt.Errorf("%q is not a memory key", key)
	}
	return s, file, err
}

// MemoryFile is one revision of a memory file.
type MemoryFile struct {
	// Scope is the scope's text form ("agent:reviewer").
	Scope string `json:"scope"`
	// Name is the file's name ("MEMORY.md").
	Name string `json:"name"`
	// Content is the text (left out of lists).
	Content string `json:"content,omitempty"`
	// Bytes is the content's length.
	Bytes int `json:"bytes"`
	// Revision is the KV revision: what a compare-and-set write names.
	Revision uint64 `json:"revision"`
	// Updated is when the revision was stored.
	Updated time.Time `json:"updated"`
	// Deleted marks a revision that removed the file.
	Deleted bool `json:"deleted,omitempty"`
}

func memoryFile(e jetstream.KeyValueEntry, withContent bool) (*MemoryFile, error) {
	s, name, err := parseMemoryKey(e.Key())
	if err != nil {
		return nil, err
	}
	f := &MemoryFile{Scope: s.String(), Name: name, Bytes: len(e.Value()), Revision: e.Revision(), Updated: e.Created(),
		Deleted: e.Operation() != jetstream.KeyValuePut}
	if withContent {
		f.Content = string(e.Value())
	}
	return f, nil
}

// Memory reads and writes the viber_memory bucket.
type Memory struct {
	kv jetstream.KeyValue
}

// OpenMemory opens the viber_memory bucket (see [Setup]).
func OpenMemory(ctx context.Context, js jetstream.JetStream) (*Memory, error) {
	kv, err := js.KeyValue(ctx, MemoryBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", MemoryBucket, err)
	}
	return &Memory{kv: kv}, nil
}

func checkMemoryRef(s MemoryScope, name string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return ValidMemoryName(name)
}

// Get returns the current revision of a file, or one matching
// [ErrMemoryNotFound]. With rev > 0 it returns that revision.
func (m *Memory) Get(ctx context.Context, s MemoryScope, name string, rev uint64) (*MemoryFile, error) {
	if err := checkMemoryRef(s, name); err != nil {
		return nil, err
	}
	var e jetstream.KeyValueEntry
	var err error
	if rev > 0 {
		e, err = m.kv.GetRevision(ctx, MemoryKey(s, name), rev)
	} else {
		e, err = m.kv.Get(ctx, MemoryKey(s, name))
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, fmt.Errorf("memory %s %s: %w", s, name, ErrMemoryNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read memory %s %s: %w", s, name, err)
	}
	return memoryFile(e, true)
}

// Put writes a file with compare-and-set: rev is the revision the writer
// read (0: the file must not exist yet). When another write came first it
// returns the current file and an error matching [ErrConflict], so the
// writer can merge and try again.
func (m *Memory) Put(ctx context.Context, s MemoryScope, name, content string, rev uint64) (*MemoryFile, error) {
	if err := checkMemoryRef(s, name); err != nil {
		return nil, err
	}
	if len(content) > MaxMemoryBytes {
		return nil, fmt.Errorf("%w: memory file %s is %d bytes; the limit is %d", ErrTooLarge, name, len(content), MaxMemoryBytes)
	}
	if !utf8.ValidString(content) {
		return nil, fmt.Errorf("%w: memory file %s is not valid UTF-8", ErrMalformed, name)
	}
	key := MemoryKey(s, name)
	var newRev uint64
	var err error
	if rev == 0 {
		newRev, err = m.kv.Create(ctx, key, []byte(content))
	} else {
		newRev, err = m.kv.Update(ctx, key, []byte(content), rev)
	}
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence) {
			cur, gerr := m.Get(ctx, s, name, 0)
			if gerr != nil && !errors.Is(gerr, ErrMemoryNotFound) {
				return nil, gerr
			}
			have := uint64(0)
			if cur != nil {
				have = cur.Revision
			}
			return cur, fmt.Errorf("memory %s %s changed (revision %d, not %d): %w", s, name, have, rev, ErrConflict)
		}
		return nil, fmt.Errorf("write memory %s %s: %w", s, name, err)
	}
	return &MemoryFile{Scope: s.String(), Name: name, Content: content, Bytes: len(content), Revision: newRev, Updated: time.Now().UTC()}, nil
}

// List returns the current files of a scope (every scope when s is nil),
// without their content, sorted by scope and name.
func (m *Memory) List(ctx context.Context, s *MemoryScope) ([]*MemoryFile, error) {
	filter := ">"
	if s != nil {
		if err := s.Validate(); err != nil {
			return nil, err
		}
		filter = memoryKeyPrefix(*s)
	}
	w, err := m.kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list memory: %w", err)
	}
	defer func() { _ = w.Stop() }()
	out := []*MemoryFile{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		if f, err := memoryFile(e, false); err == nil {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope < out[j].Scope
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// History returns the stored revisions of a file, newest first (at most
// [MemoryHistory]).
func (m *Memory) History(ctx context.Context, s MemoryScope, name string) ([]*MemoryFile, error) {
	if err := checkMemoryRef(s, name); err != nil {
		return nil, err
	}
	entries, err := m.kv.History(ctx, MemoryKey(s, name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("memory %s %s: %w", s, name, ErrMemoryNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("history of memory %s %s: %w", s, name, err)
	}
	out := make([]*MemoryFile, 0, len(entries))
	for _, e := range entries {
		if f, err := memoryFile(e, true); err == nil {
			out = append(out, f)
		}
	}
	slices.Reverse(out)
	return out, nil
}

// Restore makes an earlier revision the current one (a new revision with
// its content), with compare-and-set on the current revision.
func (m *Memory) Restore(ctx context.Context, s MemoryScope, name string, rev uint64) (*MemoryFile, error) {
	old, err := m.Get(ctx, s, name, rev)
	if err != nil {
		return nil, err
	}
	if old.Deleted {
		return nil, fmt.Errorf("%w: revision %d of memory %s %s is a deletion", ErrMalformed, rev, s, name)
	}
	cur, err := m.Get(ctx, s, name, 0)
	have := uint64(0)
	switch {
	case err == nil:
		have = cur.Revision
	case !errors.Is(err, ErrMemoryNotFound):
		return nil, err
	}
	f, err := m.Put(ctx, s, name, old.Content, have)
	if errors.Is(err, ErrConflict) {
		return nil, err
	}
	return f, err
}

// API endpoints of the memory group (subjects viber.api.memory.<name>).
const (
	APIGroupMemory = "memory"

	APIMemoryList    = "list"
	APIMemoryGet     = "get"
	APIMemoryPut     = "put"
	APIMemoryHistory = "history"
	APIMemoryRestore = "restore"
)

// HTTP routes of the memory API; scope and name travel as query
// parameters (?scope=agent:reviewer&name=MEMORY.md) because a submitter
// may hold a slash.
const (
	// RouteMemoryList lists memory files (?scope=): [MemoryListResponse].
	RouteMemoryList = "GET /api/memory"
	// RouteMemoryGet answers a [MemoryFile] (?scope=&name=&revision=).
	RouteMemoryGet = "GET /api/memory/file"
	// RouteMemoryPut writes a file with compare-and-set ([MemoryPutRequest]).
	RouteMemoryPut = "PUT /api/memory/file"
	// RouteMemoryHistory lists a file's revisions (?scope=&name=).
	RouteMemoryHistory = "GET /api/memory/history"
	// RouteMemoryRestore makes an earlier revision current
	// ([MemoryRestoreRequest]).
	RouteMemoryRestore = "POST /api/memory/restore"
)

// MemoryListRequest lists memory files.
type MemoryListRequest struct {
	// Scope keeps one scope ("global", "agent:<name>", "user:<submitter>");
	// empty lists every scope.
	Scope string `json:"scope,omitempty"`
}

// MemoryListResponse lists memory files without their content.
type MemoryListResponse struct {
	Files []*MemoryFile `json:"files"`
}

// MemoryFileRequest names a memory file (and a revision: 0 is the
// current one).
type MemoryFileRequest struct {
	Scope    string `json:"scope"`
	Name     string `json:"name"`
	Revision uint64 `json:"revision,omitempty"`
}

// MemoryPutRequest writes a memory file. Revision is the revision the
// writer read (0: the file must not exist); a write that lost the race is
// refused with the conflict code.
type MemoryPutRequest struct {
	Scope    string `json:"scope"`
	Name     string `json:"name"`
	Content  string `json:"content"`
	Revision uint64 `json:"revision"`
}

// MemoryRestoreRequest makes revision Revision of a file current again.
type MemoryRestoreRequest struct {
	Scope    string `json:"scope"`
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
}

// MemoryHistoryResponse lists a file's revisions, newest first.
type MemoryHistoryResponse struct {
	Revisions []*MemoryFile `json:"revisions"`
}

// Watch calls fn with every current file (content included), then with
// every change until ctx ends (a removed file comes with Deleted set); it
// calls fn(nil) once the current files are all delivered. It returns when
// ctx ends or the watch fails.
func (m *Memory) Watch(ctx context.Context, fn func(*MemoryFile)) error {
	w, err := m.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch memory: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watch memory: %w", ErrUnavailable)
			}
			if e == nil {
				fn(nil) // the current values are all delivered
				continue
			}
			if f, err := memoryFile(e, true); err == nil {
				fn(f)
			}
		}
	}
}
