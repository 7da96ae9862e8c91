package agents_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/agents/anthropictest"
	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
)

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// Every OpenAI-compatible kind reaches its server through langchaingo with
// its key as a bearer token, at base URL + /chat/completions.
func TestOpenAICompatibleKinds(t *testing.T) {
	for _, tc := range []struct {
		kind, keyEnv, key, wantAuth, model string
		basePath                           string
	}{
		{kind: "openai", keyEnv: "OPENAI_API_KEY", key: "sk-openai", wantAuth: "Bearer sk-openai", model: "gpt-4.1"},
		{kind: "openrouter", keyEnv: "OPENROUTER_API_KEY", key: "sk-or", wantAuth: "Bearer sk-or", model: "anthropic/claude-sonnet-4.5", basePath: "/api/v1"},
		{kind: "deepseek", keyEnv: "DEEPSEEK_API_KEY", key: "sk-ds", wantAuth: "Bearer sk-ds", model: "deepseek-chat"},
		// Ollama and custom servers need no key: a placeholder is sent.
		{kind: "ollama", wantAuth: "Bearer no-key", model: "llama3.2"},
		{kind: "custom", wantAuth: "Bearer no-key", model: "qwen3"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			fake := openaitest.New(t, openaitest.Echo)
			base := fake.URL
			if tc.basePath != "" {
				// The fake answers any path ending in /chat/completions.
				base = strings.TrimSuffix(fake.URL, "/v1") + tc.basePath
			}
			path := writeConfig(t, "providers:\n  p: {kind: "+tc.kind+", base_url: \""+base+"\"}\n")
			c, err := agents.LoadConfig(path, env(t, tc.keyEnv, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			mc, err := c.Resolve("p/" + tc.model)
			if err != nil {
				t.Fatal(err)
			}
			if agents.DefaultBaseURL(tc.kind) == "" && tc.kind != agents.ProviderCustom {
				t.Fatalf("no default base URL for %s", tc.kind)
			}
			m, err := agents.NewModel(mc)
			if err != nil {
				t.Fatal(err)
			}
			for _, stream := range []bool{false, true} {
				var deltas strings.Builder
				onDelta := func(s string) { deltas.WriteString(s) }
				if !stream {
					onDelta = nil
				}
				r, err := generate(ctx(t), m, []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi there")}, onDelta)
				if err != nil {
					t.Fatal(err)
				}
				if r.Text != "echo: hi there" || (stream && deltas.String() != r.Text) {
					t.Fatalf("stream=%v: reply %q, deltas %q", stream, r.Text, deltas.String())
				}
			}
			reqs := fake.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests", len(reqs))
			}
			for _, r := range reqs {
				if r.Authorization != tc.wantAuth || r.Model != tc.model {
					t.Fatalf("request: auth %q model %q", r.Authorization, r.Model)
				}
			}
			if reqs[0].Stream || !reqs[1].Stream {
				t.Fatalf("stream flags %v %v", reqs[0].Stream, reqs[1].Stream)
			}
		})
	}
}

func TestDefaultBaseURLs(t *testing.T) {
	c, err := agents.LoadConfig("", env(t, "OPENAI_API_KEY", "a", "ANTHROPIC_API_KEY", "b", "OPENROUTER_API_KEY", "c", "DEEPSEEK_API_KEY", "d"))
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"openai/m":     "https://api.openai.com/v1",
		"anthropic/m":  "https://api.anthropic.com/v1",
		"openrouter/m": "https://openrouter.ai/api/v1",
		"deepseek/m":   "https://api.deepseek.com/v1",
		"ollama/m":     "http://127.0.0.1:11434/v1",
	} {
		mc, err := c.Resolve(ref)
		if err != nil || mc.BaseURL != want {
			t.Errorf("%s: %v %v", ref, mc, err)
		}
		if _, err := agents.NewModel(mc); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

func anthropicModel(t *testing.T, fake *anthropictest.Server) llms.Model {
	t.Helper()
	path := writeConfig(t, "providers:\n  anthropic: {base_url: \""+fake.URL+"\"}\n")
	c, err := agents.LoadConfig(path, env(t, "ANTHROPIC_API_KEY", "sk-ant-test"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := c.Resolve("anthropic/claude-test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := agents.NewModel(mc)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var weatherTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
	Name: "get_weather", Description: "the weather in a city",
	Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
}}

// Text and a tool call in one turn, streamed and not: langchaingo returns
// a text choice and a tool call choice.
func TestAnthropicTextAndToolUse(t *testing.T) {
	fake := anthropictest.New(t, func(r *anthropictest.Request) anthropictest.Reply {
		return anthropictest.Reply{
			Text:     "Let me look that up for you.",
			ToolUses: []anthropictest.ToolUse{anthropictest.Use("toolu_01", "get_weather", `{"city":"Paris, France"}`)},
		}
	})
	m := anthropicModel(t, fake)
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You are terse."),
		llms.TextParts(llms.ChatMessageTypeHuman, "weather in Paris?"),
	}
	for _, stream := range []bool{false, true} {
		var deltas strings.Builder
		opts := []llms.CallOption{llms.WithTools([]llms.Tool{weatherTool})}
		if stream {
			opts = append(opts, llms.WithStreamingFunc(func(_ context.Context, b []byte) error {
				deltas.Write(b)
				return nil
			}))
		}
		resp, err := m.GenerateContent(ctx(t), msgs, opts...)
		if err != nil {
			t.Fatalf("stream=%v: %v", stream, err)
		}
		// One choice per content block: the text, then the call.
		if len(resp.Choices) != 2 || resp.Choices[0].Content == "" || len(resp.Choices[1].ToolCalls) != 1 {
			t.Fatalf("stream=%v: choices %+v", stream, resp.Choices)
		}
		merged := agents.MergeChoices(resp)
		text, calls := merged.Content, merged.ToolCalls
		if text != "Let me look that up for you." {
			t.Fatalf("stream=%v: text %q", stream, text)
		}
		if len(calls) != 1 || calls[0].ID != "toolu_01" || calls[0].FunctionCall.Name != "get_weather" {
			t.Fatalf("stream=%v: calls %+v", stream, calls)
		}
		var args map[string]string
		if err := json.Unmarshal([]byte(calls[0].FunctionCall.Arguments), &args); err != nil || args["city"] != "Paris, France" {
			t.Fatalf("stream=%v: arguments %q", stream, calls[0].FunctionCall.Arguments)
		}
		// Only text is streamed: the tool call's JSON never reaches the
		// streaming callback.
		if stream && deltas.String() != text {
			t.Fatalf("deltas %q", deltas.String())
		}
		if in, _ := merged.GenerationInfo["InputTokens"].(int); in != 7 || merged.StopReason != "tool_use" {
			t.Fatalf("stream=%v: usage %v", stream, resp.Choices[0].GenerationInfo)
		}
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].Stream || !reqs[1].Stream {
		t.Fatalf("requests %+v", reqs)
	}
	for _, r := range reqs {
		if r.APIKey != "sk-ant-test" || r.Version == "" || r.Model != "claude-test" || r.SystemText() != "You are terse." ||
			strings.Join(r.ToolNames(), ",") != "get_weather" || r.LastUser() != "weather in Paris?" {
			t.Fatalf("request %+v", r)
		}
	}
}

func TestAnthropicStreamedText(t *testing.T) {
	fake := anthropictest.New(t, anthropictest.Echo)
	m := anthropicModel(t, fake)
	var deltas []string
	r, err := generate(ctx(t), m, []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "one two three")},
		func(s string) { deltas = append(deltas, s) })
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "echo: one two three" || strings.Join(deltas, "") != r.Text || len(deltas) < 3 {
		t.Fatalf("reply %q deltas %q", r.Text, deltas)
	}
}

func TestAnthropicError(t *testing.T) {
	fake := anthropictest.New(t, func(*anthropictest.Request) anthropictest.Reply {
		return anthropictest.Reply{Status: 529, Error: "Overloaded"}
	})
	_, err := generate(ctx(t), anthropicModel(t, fake), []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "x")}, nil)
	if err == nil || !strings.Contains(err.Error(), "Overloaded") || strings.Contains(err.Error(), "sk-ant-test") {
		t.Fatalf("error %v", err)
	}
}

// langchaingo's Anthropic provider sends only the first part of each
// message: callers put one tool call per AI message, each followed by its
// tool message. Such a conversation reaches the API as proper
// tool_use / tool_result pairs.
func TestAnthropicSendsToolCallThenResult(t *testing.T) {
	fake := anthropictest.New(t, func(r *anthropictest.Request) anthropictest.Reply {
		return anthropictest.Reply{Text: "Both done: " + r.LastToolResult()}
	})
	m := anthropicModel(t, fake)
	call := func(id, city string) llms.MessageContent {
		return llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{llms.ToolCall{
			ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{"city":"` + city + `"}`},
		}}}
	}
	result := func(id, content string) llms.MessageContent {
		return llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{
			ToolCallID: id, Name: "get_weather", Content: content,
		}}}
	}
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeHuman, "weather in Paris and Rome?"),
		// The text that came with the calls, in an AI message of its own.
		llms.TextParts(llms.ChatMessageTypeAI, "Looking both up."),
		call("toolu_1", "Paris"), result("toolu_1", "sunny"),
		call("toolu_2", "Rome"), result("toolu_2", "rainy"),
	}
	resp, err := m.GenerateContent(ctx(t), msgs, llms.WithTools([]llms.Tool{weatherTool}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Content != "Both done: rainy" {
		t.Fatalf("reply %q", resp.Choices[0].Content)
	}
	got := fake.Requests()[0].Messages
	if len(got) != 6 {
		t.Fatalf("%d messages: %+v", len(got), got)
	}
	for i, want := range []struct{ role, typ, id, text string }{
		{"user", "text", "", "weather in Paris and Rome?"},
		{"assistant", "text", "", "Looking both up."},
		{"assistant", "tool_use", "toolu_1", `{"city":"Paris"}`},
		{"user", "tool_result", "toolu_1", "sunny"},
		{"assistant", "tool_use", "toolu_2", `{"city":"Rome"}`},
		{"user", "tool_result", "toolu_2", "rainy"},
	} {
		bs := got[i].Blocks()
		if got[i].Role != want.role || len(bs) != 1 || bs[0].Type != want.typ {
			t.Fatalf("message %d: %+v", i, got[i])
		}
		b := bs[0]
		switch want.typ {
		case "text":
			if b.Text != want.text {
				t.Fatalf("message %d: %+v", i, b)
			}
		case "tool_use":
			if b.ID != want.id || b.Name != "get_weather" || string(b.Input) != want.text {
				t.Fatalf("message %d: %+v input %s", i, b, b.Input)
			}
		case "tool_result":
			if b.ToolUseID != want.id || b.ResultText() != want.text {
				t.Fatalf("message %d: %+v", i, b)
			}
		}
	}
}

// The pitfall itself: an AI message carrying text and a tool call loses
// the call, so the API refuses the tool result that follows.
func TestAnthropicDropsAllButTheFirstPart(t *testing.T) {
	fake := anthropictest.New(t, anthropictest.Echo)
	m := anthropicModel(t, fake)
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeHuman, "weather?"),
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.TextContent{Text: "Looking."},
			llms.ToolCall{ID: "toolu_1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{}`}},
		}},
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{ToolCallID: "toolu_1", Content: "sunny"}}},
	}
	_, err := m.GenerateContent(ctx(t), msgs)
	if err == nil || !strings.Contains(err.Error(), "tool_use_id") {
		t.Fatalf("want the API's refusal, got %v", err)
	}
	if bs := fake.Requests()[0].Messages[1].Blocks(); len(bs) != 1 || bs[0].Type != "text" {
		t.Fatalf("sent %+v", bs)
	}
}

func TestNewModelRefusesIncompleteConfig(t *testing.T) {
	for _, mc := range []agents.ModelConfig{
		{Provider: agents.ProviderAnthropic},
		{Provider: agents.ProviderOpenRouter, Model: "x"},
		{Provider: agents.ProviderCustom, Model: "x"},
		{Provider: agents.ProviderOllama},
		{Provider: agents.ProviderCustom, Model: "x", BaseURL: "localhost:8000"},
	} {
		if _, err := agents.NewModel(mc); !errors.Is(err, agents.ErrNoModel) {
			t.Errorf("%v: %v", mc, err)
		}
	}
}

func TestMergeChoices(t *testing.T) {
	if agents.MergeChoices(nil) != nil || agents.MergeChoices(&llms.ContentResponse{}) != nil {
		t.Fatal("empty response")
	}
	one := &llms.ContentChoice{Content: "hi"}
	if agents.MergeChoices(&llms.ContentResponse{Choices: []*llms.ContentChoice{one}}) != one {
		t.Fatal("one choice is returned as is")
	}
	call := func(id string) llms.ToolCall {
		return llms.ToolCall{ID: id, FunctionCall: &llms.FunctionCall{Name: "f", Arguments: "{}"}}
	}
	m := agents.MergeChoices(&llms.ContentResponse{Choices: []*llms.ContentChoice{
		{Content: "a ", StopReason: "tool_use", GenerationInfo: map[string]any{"InputTokens": 5}},
		{ToolCalls: []llms.ToolCall{call("1")}, StopReason: "tool_use", GenerationInfo: map[string]any{"InputTokens": 5}},
		{Content: "b", ToolCalls: []llms.ToolCall{call("2")}},
	}})
	if m.Content != "a b" || len(m.ToolCalls) != 2 || m.ToolCalls[1].ID != "2" || m.StopReason != "tool_use" || m.GenerationInfo["InputTokens"] != 5 {
		t.Fatalf("%+v", m)
	}
}

// TestUnreachableModelNamesURL: the error of a model server that cannot be
// reached names the provider and the URL tried, for every client kind.
func TestUnreachableModelNamesURL(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	for _, mc := range []agents.ModelConfig{
		{Provider: agents.ProviderCustom, Name: "local", BaseURL: "http://" + addr + "/v1", Model: "m"},
		{Provider: agents.ProviderAnthropic, BaseURL: "http://" + addr, Model: "m", APIKey: "k"},
	} {
		m, err := agents.NewModel(mc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = generate(ctx(t), m, []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi")}, nil)
		if err == nil || !strings.Contains(err.Error(), mc.BaseURL) || !strings.Contains(err.Error(), mc.ProviderName()) {
			t.Errorf("%s: error %v; want one naming %s and %s", mc.Provider, err, mc.ProviderName(), mc.BaseURL)
		}
	}
}

// reply is a model's whole answer to one call.
type reply struct {
	Text  string
	Usage *bus.Usage
}

// generate calls the model once, streaming text deltas to onDelta (which
// may be nil), as the agent loop does, and returns the whole answer.
func generate(ctx context.Context, m llms.Model, msgs []llms.MessageContent, onDelta func(string)) (*reply, error) {
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
	r := &reply{Text: c.Content}
	in, okIn := c.GenerationInfo["PromptTokens"].(int)
	out, _ := c.GenerationInfo["CompletionTokens"].(int)
	if okIn {
		r.Usage = &bus.Usage{InputTokens: in, OutputTokens: out}
	}
	return r, nil
}
