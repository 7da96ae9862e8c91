package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/viberhq/viber/bus"
)

// retryDelay is how long a reply the platform did not take waits before
// it is tried again.
const retryDelay = 2 * time.Second

// deliver reads the bridge's consumer until ctx ends, one event at a
// time, and acks each event once what it asked for is done. A broken read
// (the server restarted, the connection dropped) reopens the consumer
// after a pause.
func (b *Bridge) deliver(ctx context.Context, cons jetstream.Consumer) error {
	pause := time.Duration(0)
	for ctx.Err() == nil {
		if cons == nil {
			var err error
			if cons, err = b.consumer(ctx); err != nil {
				pause = min(2*pause+500*time.Millisecond, 10*time.Second)
				b.log.Warn().Err(err).Dur("retry_in", pause).Msg("cannot open the reply consumer")
				if !backoff(ctx, pause) {
					break
				}
				continue
			}
		}
		err := b.deliverFrom(ctx, cons)
		if ctx.Err() != nil {
			break
		}
		pause = min(2*pause+500*time.Millisecond, 10*time.Second)
		b.log.Warn().Err(err).Dur("retry_in", pause).Msg("reading replies stopped; reopening")
		cons = nil
		if !backoff(ctx, pause) {
			break
		}
	}
	return nil
}

// deliverFrom reads one consumer until ctx ends or the read breaks.
func (b *Bridge) deliverFrom(ctx context.Context, cons jetstream.Consumer) error {
	msgs, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		return fmt.Errorf("read replies: %w", err)
	}
	defer msgs.Stop()
	for {
		m, err := msgs.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("read replies: %w", err)
		}
		err = b.event(ctx, m)
		if ctx.Err() != nil {
			// Stopped (or killed) mid-event: not acked, so it comes
			// again, and the delivery record says what was done.
			return nil
		}
		if err != nil {
			b.log.Warn().Err(err).Str("subject", m.Subject()).Msg("delivery failed; will retry")
			_ = m.NakWithDelay(retryDelay)
			continue
		}
		if err := m.DoubleAck(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn().Err(err).Str("subject", m.Subject()).Msg("ack failed; the event will come again")
		}
	}
}

// event handles one event of the consumer. A nil error acks it.
func (b *Bridge) event(ctx context.Context, m jetstream.Msg) error {
	ev, err := bus.ParseEvent(m.Data())
	if err != nil {
		b.log.Warn().Err(err).Str("subject", m.Subject()).Msg("skipped an event that does not decode")
		return nil
	}
	if ev.Type == bus.TypeCreated {
		return b.created(ctx, ev)
	}
	var owner taskRecord
	found, err := getJSON(ctx, b.state, taskKey(ev.TaskID()), &owner)
	if err != nil || !found || owner.Platform != b.p.Name() {
		return err
	}
	switch ev.Type {
	case bus.TypeApprovalRequested:
		err = b.postApproval(ctx, m, ev, owner.Chat)
	case bus.TypeApprovalDecided:
		err = b.showDecision(ctx, ev, owner.Chat)
	case bus.TypeCompleted, bus.TypeFailed, bus.TypeCancelled:
		err = b.reply(ctx, m, ev, owner.Chat)
	}
	if errors.Is(err, ErrRejected) {
		b.log.Error().Err(err).Str("task", ev.TaskID()).Str("event", ev.ID).Str("chat", owner.Chat).Msg("the platform refused a reply; dropped")
		return nil
	}
	return err
}

// created records that a task created from one of the bridge's chats
// answers there. It is the record replies are routed by, written before
// any of the task's replies is read (the consumer delivers one event at a
// time, in order).
func (b *Bridge) created(ctx context.Context, ev *bus.Event) error {
	c, err := bus.DecodeAs[bus.Created](ev)
	if err != nil {
		return nil
	}
	chat, ok := strings.CutPrefix(c.Submitter, b.p.Name()+":")
	if !ok || chat == "" {
		return nil
	}
	return putJSON(ctx, b.state, taskKey(ev.TaskID()), taskRecord{Platform: b.p.Name(), Chat: chat})
}

// replyText is the markdown a terminal event is told as.
func replyText(ev *bus.Event) string {
	p, err := ev.Decode()
	if err != nil {
		return "The task ended, but its last event could not be read."
	}
	switch p := p.(type) {
	case *bus.Completed:
		if strings.TrimSpace(p.Result) == "" {
			return "(done, with no answer)"
		}
		return p.Result
	case *bus.Failed:
		return "⚠️ The task failed: " + p.Error
	case *bus.Cancelled:
		return "Stopped."
	}
	return ""
}

// reply sends the answer of a turn, in parts, resuming after the parts an
// earlier attempt got accepted. The first part replaces the progress
// message when there is one.
func (b *Bridge) reply(ctx context.Context, m jetstream.Msg, ev *bus.Event, chat string) error {
	parts := b.p.Render(replyText(ev))
	var rec sentRecord
	found, err := getJSON(ctx, b.deliveries, sentKey(ev.ID), &rec)
	if err != nil {
		return err
	}
	progressID, lastEdit := b.unwatch(ev.TaskID())
	if !found && progressID != "" {
		rec.Progress = progressID
		if err := putJSON(ctx, b.deliveries, sentKey(ev.ID), rec); err != nil {
			return err
		}
	}
	for i := rec.Parts; i < len(parts); i++ {
		_ = m.InProgress()
		var id string
		if i == 0 && rec.Progress != "" {
			// Keep edits of the message at least EditInterval apart.
			if wait := time.Until(lastEdit.Add(b.cfg.EditInterval)); wait > 0 && !backoff(ctx, wait) {
				return ctx.Err()
			}
			id = rec.Progress
			err = b.p.Edit(ctx, chat, id, parts[i], nil)
			if errors.Is(err, ErrRejected) {
				// The progress message is gone or too old to edit:
				// the answer comes as a message of its own.
				b.log.Info().Err(err).Str("task", ev.TaskID()).Msg("could not turn the progress message into the answer; sending it anew")
				id, err = b.p.Send(ctx, chat, parts[i], nil)
			}
		} else {
			id, err = b.p.Send(ctx, chat, parts[i], nil)
		}
		if err != nil {
			return fmt.Errorf("send part %d of %d of the reply to event %s: %w", i+1, len(parts), ev.ID, err)
		}
		rec.Parts, rec.Messages = i+1, append(rec.Messages, id)
		if err := putJSON(ctx, b.deliveries, sentKey(ev.ID), rec); err != nil {
			return err
		}
	}
	b.log.Info().Str("task", ev.TaskID()).Str("event", ev.ID).Str("chat", chat).Int("parts", len(parts)).Msg("delivered a reply")
	return nil
}

// approvalMarkdown describes a waiting tool call.
func approvalMarkdown(p *bus.ApprovalRequested) string {
	args := p.Arguments
	var pretty bytes.Buffer
	if json.Indent(&pretty, []byte(args), "", "  ") == nil {
		args = pretty.String()
	}
	if r := []rune(args); len(r) > 1500 {
		args = string(r[:1500]) + "\n…"
	}
	md := "🔐 The worker wants to run **" + p.Tool + "**:\n```\n" + args + "\n```"
	if p.Reason != "" {
		md += "\n" + p.Reason
	}
	return md
}

// postApproval posts Approve / Deny buttons for a waiting call, once.
func (b *Bridge) postApproval(ctx context.Context, m jetstream.Msg, ev *bus.Event, chat string) error {
	p, err := bus.DecodeAs[bus.ApprovalRequested](ev)
	if err != nil {
		return nil
	}
	var rec approvalRecord
	found, err := getJSON(ctx, b.deliveries, approvalKey(ev.ID), &rec)
	if err != nil || found && rec.Message != "" {
		return err
	}
	rec = approvalRecord{Task: ev.TaskID(), Call: p.CallID, Chat: chat, Markdown: approvalMarkdown(p)}
	// The records first: a press may come as soon as the message is out,
	// and a decision read next must find the message.
	if _, err := b.deliveries.Put(ctx, callKey(rec.Task, rec.Call), []byte(ev.ID)); err != nil {
		return fmt.Errorf("write %s: %w", callKey(rec.Task, rec.Call), err)
	}
	if err := putJSON(ctx, b.deliveries, approvalKey(ev.ID), rec); err != nil {
		return err
	}
	parts := b.p.Render(rec.Markdown)
	if len(parts) == 0 {
		return nil
	}
	_ = m.InProgress()
	id, err := b.p.Send(ctx, chat, parts[0], []Button{{Text: "✅ Approve", Data: approveData + ev.ID}, {Text: "❌ Deny", Data: denyData + ev.ID}})
	if err != nil {
		return err
	}
	rec.Message = id
	return putJSON(ctx, b.deliveries, approvalKey(ev.ID), rec)
}

// showDecision edits an approval message to show the decision and drop
// its buttons.
func (b *Bridge) showDecision(ctx context.Context, ev *bus.Event, chat string) error {
	p, err := bus.DecodeAs[bus.ApprovalDecided](ev)
	if err != nil {
		return nil
	}
	e, err := b.deliveries.Get(ctx, callKey(ev.TaskID(), p.CallID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", callKey(ev.TaskID(), p.CallID), err)
	}
	reqID := string(e.Value())
	var rec approvalRecord
	found, err := getJSON(ctx, b.deliveries, approvalKey(reqID), &rec)
	if err != nil || !found || rec.Message == "" || rec.Outcome != "" {
		return err
	}
	outcome := "✅ Approved"
	if !p.Approved {
		outcome = "❌ Denied"
	}
	if p.By != "" {
		outcome += " by " + p.By
	}
	parts := b.p.Render(rec.Markdown + "\n\n" + outcome)
	if len(parts) > 1 {
		parts = b.p.Render(outcome)
	}
	if len(parts) == 0 {
		return nil
	}
	if err := b.p.Edit(ctx, chat, rec.Message, parts[0], nil); err != nil {
		return err
	}
	rec.Outcome = outcome
	return putJSON(ctx, b.deliveries, approvalKey(reqID), rec)
}
