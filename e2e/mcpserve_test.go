package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/viberhq/viber/agents/openaitest"
	"github.com/viberhq/viber/bus"
	"github.com/viberhq/viber/gateway"
	"github.com/viberhq/viber/mcpserver"
)

// mcpCall calls an MCP tool and decodes its structured result into out;
// it fails the test on a protocol error or (unless wantError) a tool error.
func mcpCall(t *testing.T, sess *sdk.ClientSession, params *sdk.CallToolParams, out any) *sdk.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := sess.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("%s: %v", params.Name, err)
	}
	if res.IsError {
		if out != nil {
			t.Fatalf("%s: tool error: %s", params.Name, contentText(res))
		}
		return res
	}
	if out != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: structured content %s: %v", params.Name, b, err)
		}
	}
	return res
}

func contentText(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func TestMCPServeDrivesTasks(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		if strings.Contains(req.LastUser(), "just answer") {
			return openaitest.Reply{Text: "hello from the worker"}
		}
		if req.LastToolResult() == "" {
			return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("a1", "shell", `{"command":"echo mcp-approved > proof.txt"}`)}}
		}
		return openaitest.Reply{Text: "shell said: " + req.LastToolResult()}
	})
	r.gateway()
	d := r.daemon("d1") // the default policy asks before shell commands

	stderr := &syncBuffer{}
	cmd := exec.Command(filepath.Join(binaries(t), "viber"), "mcp", "serve")
	cmd.Env = append(os.Environ(), "VIBER_NATS_URL="+r.env.URL, "VIBER_NATS_CREDS=", "VIBER_HOME="+t.TempDir())
	cmd.Stderr = stderr
	var progress, updates atomic.Int32
	client := sdk.NewClient(&sdk.Implementation{Name: "e2e-client", Version: "1"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *sdk.ProgressNotificationClientRequest) { progress.Add(1) },
		ResourceUpdatedHandler: func(_ context.Context, req *sdk.ResourceUpdatedNotificationRequest) {
			if strings.HasSuffix(req.Params.URI, "/events") {
				updates.Add(1)
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect to viber mcp serve: %v\n%s", err, stderr)
	}
	t.Cleanup(func() {
		_ = sess.Close()
		if t.Failed() {
			t.Logf("viber mcp serve stderr:\n%s", stderr)
		}
	})

	// The tools, each with an output schema.
	var names []string
	for tl, err := range sess.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tl.OutputSchema == nil {
			t.Errorf("tool %s has no output schema", tl.Name)
		}
		names = append(names, tl.Name)
	}
	sort.Strings(names)
	want := []string{"cancel_task", "decide_approval", "get_task", "list_daemons", "list_skills", "list_tasks", "send_input", "submit_task", "task_events"}
	if !slices.Equal(names, want) {
		t.Fatalf("tools = %v, want %v", names, want)
	}

	// submit_task waits for the answer, with progress notifications.
	var quick mcpserver.TaskOutput
	p := &sdk.CallToolParams{Name: "submit_task", Arguments: map[string]any{"goal": "just answer", "wait_seconds": 60}}
	p.SetProgressToken("quick")
	mcpCall(t, sess, p, &quick)
	if !quick.Done || quick.Task.State != bus.StateCompleted || quick.Task.Result != "hello from the worker" {
		t.Fatalf("submit_task with wait = %+v, want the completed result", quick.Task)
	}
	if progress.Load() == 0 {
		t.Errorf("no progress notification while submit_task waited")
	}

	// A task whose tool call waits for approval, approved over MCP.
	var slow mcpserver.TaskOutput
	mcpCall(t, sess, &sdk.CallToolParams{Name: "submit_task", Arguments: map[string]any{"goal": "run the shell", "daemon": "d1"}}, &slow)
	if slow.Done || slow.Task.ID == "" {
		t.Fatalf("submit_task without wait = %+v", slow)
	}
	id := slow.Task.ID
	if err := sess.Subscribe(ctx, &sdk.SubscribeParams{URI: "viber://tasks/" + id + "/events"}); err != nil {
		t.Fatalf("subscribe to the task's events: %v", err)
	}
	r.eventually(30*time.Second, "the call to wait for approval", func() bool {
		var got mcpserver.TaskOutput
		mcpCall(t, sess, &sdk.CallToolParams{Name: "get_task", Arguments: map[string]any{"id": id}}, &got)
		return slices.Contains(got.Task.PendingApprovals, "a1") && strings.Contains(got.Note, "decide_approval")
	})
	var decided mcpserver.EventOutput
	mcpCall(t, sess, &sdk.CallToolParams{Name: "decide_approval", Arguments: map[string]any{"id": id, "call_id": "a1", "approved": true}}, &decided)
	if decided.Event.Type != string(bus.TypeApprovalDecided) {
		t.Errorf("decide_approval event = %+v", decided.Event)
	}
	var done mcpserver.TaskOutput
	r.eventually(30*time.Second, "the task to complete", func() bool {
		mcpCall(t, sess, &sdk.CallToolParams{Name: "get_task", Arguments: map[string]any{"id": id}}, &done)
		return done.Done
	})
	if done.Task.State != bus.StateCompleted {
		t.Fatalf("task ended %s: %s", done.Task.State, done.Task.Error)
	}
	r.eventually(10*time.Second, "resources/updated notifications", func() bool { return updates.Load() > 0 })
	if b, err := os.ReadFile(filepath.Join(d.workspace, "proof.txt")); err != nil || strings.TrimSpace(string(b)) != "mcp-approved" {
		t.Errorf("the approved command did not run: %q, %v", b, err)
	}

	// task_events pages through the log.
	var all []mcpserver.Event
	after := uint64(0)
	for page := 0; ; page++ {
		var ev mcpserver.TaskEventsOutput
		mcpCall(t, sess, &sdk.CallToolParams{Name: "task_events", Arguments: map[string]any{"id": id, "after_seq": after, "limit": 3}}, &ev)
		all = append(all, ev.Events...)
		after = ev.NextAfterSeq
		if !ev.More {
			break
		}
		if page > 20 {
			t.Fatal("task_events never ends")
		}
	}
	var types []string
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		types = append(types, strings.TrimPrefix(e.Type, "viber.task."))
	}
	if got := strings.Join(types, " "); got != "created assigned started tool_call approval_requested approval_decided tool_result message completed" {
		t.Errorf("task_events types: %s", got)
	}

	// The resources.
	res, err := sess.ReadResource(ctx, &sdk.ReadResourceParams{URI: "viber://tasks/" + id})
	if err != nil {
		t.Fatal(err)
	}
	var sum bus.Summary
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &sum); err != nil || sum.ID != id || sum.State != bus.StateCompleted {
		t.Errorf("task resource = %s (%v)", res.Contents[0].Text, err)
	}
	res, err = sess.ReadResource(ctx, &sdk.ReadResourceParams{URI: "viber://tasks/" + id + "/events"})
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(res.Contents[0].Text), "\n"); len(lines) != len(all) {
		t.Errorf("events resource has %d lines, want %d", len(lines), len(all))
	}
	if _, err := sess.ReadResource(ctx, &sdk.ReadResourceParams{URI: "viber://tasks/NOSUCHTASK"}); err == nil {
		t.Errorf("reading a missing task's resource succeeded")
	}

	// The lists.
	var tasks mcpserver.ListTasksOutput
	mcpCall(t, sess, &sdk.CallToolParams{Name: "list_tasks", Arguments: map[string]any{"state": "completed"}}, &tasks)
	if tasks.Total != 2 || len(tasks.Tasks) != 2 {
		t.Errorf("list_tasks completed: total %d, %d tasks", tasks.Total, len(tasks.Tasks))
	}
	var daemons mcpserver.DaemonsOutput
	mcpCall(t, sess, &sdk.CallToolParams{Name: "list_daemons", Arguments: map[string]any{}}, &daemons)
	if len(daemons.Daemons) != 1 || daemons.Daemons[0].ID != "d1" || !daemons.Daemons[0].Online {
		t.Errorf("list_daemons = %+v", daemons.Daemons)
	}
	var skills mcpserver.SkillsOutput
	mcpCall(t, sess, &sdk.CallToolParams{Name: "list_skills", Arguments: map[string]any{}}, &skills)
	if len(skills.Skills) == 0 || skills.Skills[0].Daemon != "d1" {
		t.Errorf("list_skills = %+v, want the daemon's built-in skills", skills.Skills)
	}

	// A follow-up reopens the task; cancel stops it.
	var sent mcpserver.EventOutput
	mcpCall(t, sess, &sdk.CallToolParams{Name: "send_input", Arguments: map[string]any{"id": quick.Task.ID, "text": "just answer again"}}, &sent)
	if sent.Event.Type != string(bus.TypeInput) {
		t.Errorf("send_input event = %+v", sent.Event)
	}

	// Errors are tool errors with the gateway's message.
	bad := mcpCall(t, sess, &sdk.CallToolParams{Name: "get_task", Arguments: map[string]any{"id": "NOSUCHTASK"}}, nil)
	if !bad.IsError || !strings.Contains(contentText(bad), "NOSUCHTASK") {
		t.Errorf("get_task of a missing task = %+v (%s), want a tool error naming it", bad, contentText(bad))
	}
	bad = mcpCall(t, sess, &sdk.CallToolParams{Name: "cancel_task", Arguments: map[string]any{"id": id}}, nil)
	if !bad.IsError {
		t.Errorf("cancelling an ended task succeeded: %s", contentText(bad))
	}
}

// bearer adds an Authorization header to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func TestGatewayMCPEndpointBehindToken(t *testing.T) {
	t.Parallel()
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		return openaitest.Reply{Text: "answered over /mcp"}
	})
	const token = "gw-mcp-token-9924"
	nc := r.env.Connect(t, "gateway")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := gateway.New(ctx, gateway.Config{NC: nc, HTTPListen: "127.0.0.1:0", HTTPToken: token, Setup: setup, SweepInterval: time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	r.daemon("d1")
	endpoint := "http://" + g.HTTPAddr() + "/mcp"

	// Without the token: refused.
	resp, err := http.Post(endpoint, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /mcp without a token: %s, want 401", resp.Status)
	}

	client := sdk.NewClient(&sdk.Implementation{Name: "http-client", Version: "1"}, nil)
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	sess, err := client.Connect(cctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearer{token}}}, nil)
	if err != nil {
		t.Fatalf("connect to /mcp with the token: %v", err)
	}
	defer sess.Close()
	var out mcpserver.TaskOutput
	mcpCall(t, sess, &sdk.CallToolParams{Name: "submit_task", Arguments: map[string]any{"goal": "hello", "wait_seconds": 60}}, &out)
	if !out.Done || out.Task.Result != "answered over /mcp" {
		t.Fatalf("submit_task over /mcp = %+v", out.Task)
	}
	if out.Task.State != bus.StateCompleted {
		t.Fatalf("state %s", out.Task.State)
	}
}

// TestMCPServeWithTypeScriptClient drives `viber mcp serve` with a client
// nobody here wrote: the TypeScript SDK's, from npm.
func TestMCPServeWithTypeScriptClient(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("installs an npm package; skipped with -short")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed, so the TypeScript MCP SDK cannot be installed")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir := t.TempDir()
	ictx, icancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer icancel()
	if out, err := exec.CommandContext(ictx, npm, "install", "--no-audit", "--no-fund", "--prefix", dir, "@modelcontextprotocol/sdk").CombinedOutput(); err != nil {
		t.Skipf("npm could not install @modelcontextprotocol/sdk (offline or unavailable?): %v\n%s", err, out)
	}
	script, err := os.ReadFile(filepath.Join("testdata", "mcp-ts-client.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	// ES modules resolve packages from the script's folder.
	if err := os.WriteFile(filepath.Join(dir, "client.mjs"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, "", func(req *openaitest.Request) openaitest.Reply {
		if req.LastToolResult() == "" {
			return openaitest.Reply{ToolCalls: []openaitest.ToolCall{openaitest.Call("ts1", "shell", `{"command":"echo from-ts"}`)}}
		}
		return openaitest.Reply{Text: "shell said: " + strings.TrimSpace(req.LastToolResult())}
	})
	r.gateway()
	r.daemon("d1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "client.mjs"), filepath.Join(binaries(t), "viber"))
	cmd.Env = append(os.Environ(), "VIBER_NATS_URL="+r.env.URL, "VIBER_NATS_CREDS=", "VIBER_HOME="+t.TempDir())
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the TypeScript client failed: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	var got struct {
		Tools  []string `json:"tools"`
		CallID string   `json:"call_id"`
		State  string   `json:"state"`
		Result string   `json:"result"`
		Types  []string `json:"types"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if len(got.Tools) != 9 || !slices.Contains(got.Tools, "submit_task") {
		t.Errorf("tools seen by the TypeScript client: %v", got.Tools)
	}
	if got.CallID != "ts1" || got.State != "completed" || !strings.Contains(got.Result, "from-ts") {
		t.Errorf("outcome: %+v", got)
	}
	if strings.Join(got.Types, " ") != "created assigned started tool_call approval_requested approval_decided tool_result message completed" {
		t.Errorf("events: %v", got.Types)
	}
}
