package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tmc/langchaingo/llms"
	"go.opentelemetry.io/otel/trace"
)

// model wraps an llms.Model: each call is counted, timed and traced (a
// GenAI "chat" span).
type model struct {
	llms.Model
	provider, name string
	price          func(in, out int) float64

	calls, errors       prometheus.Counter
	tokensIn, tokensOut prometheus.Counter
	cost                prometheus.Counter
	seconds             prometheus.Observer
}

// GenerateContent implements llms.Model.
func (m *model) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	ctx, span := Start(ctx, "chat "+m.name, trace.SpanKindClient,
		attrGenAIOperation.String("chat"), attrGenAISystem.String(m.provider),
		attrGenAIProvider.String(m.provider), attrGenAIModel.String(m.name))
	began := time.Now()
	resp, err := m.Model.GenerateContent(ctx, msgs, opts...)
	if m.calls != nil {
		m.calls.Inc()
		m.seconds.Observe(time.Since(began).Seconds())
	}
	if err != nil {
		if ctx.Err() == nil && m.errors != nil {
			m.errors.Inc()
		}
		End(span, err)
		return resp, err
	}
	in, out := usageOf(resp)
	if m.tokensIn != nil {
		m.tokensIn.Add(float64(in))
		m.tokensOut.Add(float64(out))
		if m.price != nil {
			m.cost.Add(m.price(in, out))
		}
	}
	if span.IsRecording() {
		span.SetAttributes(attrGenAIIn.Int(in), attrGenAIOut.Int(out))
	}
	End(span, nil)
	return resp, nil
}

// Call implements llms.Model through GenerateContent.
func (m *model) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

// usageOf adds up the tokens a response reports (langchaingo puts them in
// each choice's GenerationInfo; Anthropic answers one choice per block,
// each with the whole call's usage, so the largest is taken).
func usageOf(resp *llms.ContentResponse) (in, out int) {
	if resp == nil {
		return 0, 0
	}
	for _, c := range resp.Choices {
		if c == nil {
			continue
		}
		i, o := infoInt(c.GenerationInfo, "PromptTokens", "InputTokens"), infoInt(c.GenerationInfo, "CompletionTokens", "OutputTokens")
		in, out = max(in, i), max(out, o)
	}
	return in, out
}

func infoInt(info map[string]any, keys ...string) int {
	for _, k := range keys {
		switch n := info[k].(type) {
		case int:
			return n
		case int64:
			return int(n)
		case float64:
			return int(n)
		}
	}
	return 0
}
