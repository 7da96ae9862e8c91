package agents

import (
	"context"
	"errors"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/bus"
)

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
