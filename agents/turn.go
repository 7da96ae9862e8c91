package agents

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/bus"
)

// Conversation rebuilds the messages of a task from its events: the goal
// and follow-ups as user messages, whole assistant messages as AI
// messages, after an optional system prompt.
func Conversation(system string, events []*bus.Event) ([]llms.MessageContent, error) {
	var msgs []llms.MessageContent
	if system != "" {
		msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeSystem, system))
	}
	for _, ev := range events {
		p, err := ev.Decode()
		if err != nil {
			return nil, err
		}
		switch d := p.(type) {
		case *bus.Created:
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, d.Goal))
		case *bus.Input:
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, d.Text))
		case *bus.Message:
			role := llms.ChatMessageTypeAI
			if d.Role == "user" {
				role = llms.ChatMessageTypeHuman
			}
			msgs = append(msgs, llms.TextParts(role, d.Text))
		}
	}
	return msgs, nil
}

// Reply is a model's whole answer to one call.
type Reply struct {
	Text  string
	Usage *bus.Usage
}

// Generate calls the model once, streaming text deltas to onDelta (which
// may be nil) and returning the whole answer.
func Generate(ctx context.Context, m llms.Model, msgs []llms.MessageContent, onDelta func(string)) (*Reply, error) {
	var opts []llms.CallOption
	if onDelta != nil {
		opts = append(opts, llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
			if len(chunk) > 0 {
				onDelta(string(chunk))
			}
			return nil
		}))
	}
	resp, err := m.GenerateContent(ctx, msgs, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("model call: %w", err)
	}
	if resp == nil || len(resp.Choices) == 0 {
		return nil, errors.New("model call: the model returned no answer")
	}
	c := resp.Choices[0]
	r := &Reply{Text: c.Content}
	if in, ok := intInfo(c.GenerationInfo, "PromptTokens"); ok {
		out, _ := intInfo(c.GenerationInfo, "CompletionTokens")
		r.Usage = &bus.Usage{InputTokens: in, OutputTokens: out}
	}
	return r, nil
}

func intInfo(info map[string]any, key string) (int, bool) {
	v, ok := info[key]
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}
