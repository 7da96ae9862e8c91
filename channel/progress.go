package channel

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/viberhq/viber/bus"
)

// progressMax bounds the text a progress message renders (in runes): a
// platform message holds no more.
const progressMax = 4000

// progress shows what the model writes for one task in one message,
// edited at most once per EditInterval, until the turn's reply replaces it.
type progress struct {
	b          *Bridge
	chat, task string

	mu       sync.Mutex
	text     strings.Builder
	dirty    bool
	msgID    string
	lastEdit time.Time

	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	stopLive func()
	once     sync.Once
}

// watch starts showing the live deltas of task in chat, unless it already
// does, until the task's reply or the end of ctx (the bridge's run).
// Progress is best effort: a failure is logged, never returned.
func (b *Bridge) watch(ctx context.Context, chat, task string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.progress[task]; ok {
		return
	}
	p := &progress{b: b, chat: chat, task: task, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	stop, err := b.cl.Live(ctx, task, p.add)
	if err != nil {
		b.log.Warn().Err(err).Str("task", task).Msg("no progress messages for this task")
		return
	}
	p.stopLive = stop
	b.progress[task] = p
	go p.loop(ctx)
}

// unwatch stops the progress of task and returns its message id and the
// time of its last edit ("" when it sent none).
func (b *Bridge) unwatch(task string) (string, time.Time) {
	b.mu.Lock()
	p := b.progress[task]
	delete(b.progress, task)
	b.mu.Unlock()
	if p == nil {
		return "", time.Time{}
	}
	return p.end()
}

func (p *progress) add(d bus.Delta) {
	if d.Text == "" {
		return
	}
	p.mu.Lock()
	p.text.WriteString(d.Text)
	p.dirty = true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *progress) loop(ctx context.Context) {
	defer close(p.done)
	for {
		select {
		case <-p.quit:
			return
		case <-p.kick:
		}
		p.mu.Lock()
		wait := time.Until(p.lastEdit.Add(p.b.cfg.EditInterval))
		p.mu.Unlock()
		if wait > 0 && !p.sleep(wait) {
			return
		}
		p.flush(ctx)
	}
}

func (p *progress) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.quit:
		return false
	case <-t.C:
		return true
	}
}

// flush sends or edits the progress message with the text so far.
func (p *progress) flush(ctx context.Context) {
	p.mu.Lock()
	if !p.dirty {
		p.mu.Unlock()
		return
	}
	p.dirty = false
	md := p.text.String()
	if r := []rune(md); len(r) > progressMax {
		// Only the start shows; rendering all of a long text at
		// every edit would cost for nothing.
		md = string(r[:progressMax])
	}
	md += " …"
	msgID := p.msgID
	p.mu.Unlock()
	// The interval counts from when the platform answered, so that two
	// changes never reach it closer than EditInterval, however slow a
	// request was on its way.
	defer func() {
		p.mu.Lock()
		p.lastEdit = time.Now()
		p.mu.Unlock()
	}()
	parts := p.b.p.Render(md)
	if len(parts) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if msgID == "" {
		id, err := p.b.p.Send(ctx, p.chat, parts[0], nil)
		if err != nil {
			p.b.log.Warn().Err(err).Str("task", p.task).Msg("could not post progress")
			return
		}
		p.mu.Lock()
		p.msgID = id
		p.mu.Unlock()
		return
	}
	if err := p.b.p.Edit(ctx, p.chat, msgID, parts[0], nil); err != nil {
		p.b.log.Warn().Err(err).Str("task", p.task).Msg("could not update progress")
	}
}

// end stops the progress (waiting for an edit under way) and returns its
// message id and last edit time.
func (p *progress) end() (string, time.Time) {
	p.once.Do(func() {
		close(p.quit)
		<-p.done
		p.stopLive()
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msgID, p.lastEdit
}
