// Package mcptest is a tiny MCP server for tests, built with the official
// SDK: a test binary serves it over stdio when ServeIfAsked finds its
// variable set (so tests need not build another program), and tests serve
// it over HTTP with the SDK's handler.
//
// Its tools: echo {text}, add {a, b} (structured result), picture (text
// and an image), fail (an isError result), slow {seconds}, mark {path,
// seconds} (appends "ran" to a file, then sleeps), env {name}
// (reads a variable of the server's environment), big (100 kB of text),
// crash (the process exits), grow (adds the tool "late", so the server
// sends tools/list_changed).
package mcptest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/viberhq/viber/agents"
)

// EnvVar, set to "stdio" in a test binary's environment, makes
// ServeIfAsked serve NewServer on stdin and stdout.
const EnvVar = "VIBER_MCPTEST_SERVER"

// ServeIfAsked serves the test server over stdio and exits when EnvVar is
// "stdio"; otherwise it returns at once. Call it first in TestMain.
func ServeIfAsked() {
	if os.Getenv(EnvVar) != "stdio" {
		return
	}
	if err := NewServer().Run(context.Background(), &sdk.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "mcptest server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// StdioConfig runs the current (test) binary as the stdio server; env adds
// variables to its environment.
func StdioConfig(env map[string]string) (agents.MCPServerConfig, error) {
	exe, err := os.Executable()
	if err != nil {
		return agents.MCPServerConfig{}, err
	}
	e := map[string]string{EnvVar: "stdio"}
	for k, v := range env {
		e[k] = v
	}
	return agents.MCPServerConfig{Command: exe, Env: e}, nil
}

type textArgs struct {
	Text string `json:"text" jsonschema:"what to echo"`
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

type sum struct {
	Sum int `json:"sum"`
}

type nameArgs struct {
	Name string `json:"name"`
}

type slowArgs struct {
	Seconds float64 `json:"seconds"`
}

type markArgs struct {
	Path    string  `json:"path"`
	Seconds float64 `json:"seconds"`
}

type none struct{}

func textResult(s string) *sdk.CallToolResult {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
}

// NewServer returns a tiny MCP server with a tool for every case the client
// handles.
func NewServer() *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "viber-test", Version: "1.0.0"}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: "echo", Description: "Echo text."}, func(_ context.Context, _ *sdk.CallToolRequest, a textArgs) (*sdk.CallToolResult, any, error) {
		return textResult("echo: " + a.Text), nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "add", Description: "Add two numbers."}, func(_ context.Context, _ *sdk.CallToolRequest, a addArgs) (*sdk.CallToolResult, sum, error) {
		return nil, sum{Sum: a.A + a.B}, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "picture", Description: "Return a picture."}, func(context.Context, *sdk.CallToolRequest, none) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{
			&sdk.TextContent{Text: "here it is"},
			&sdk.ImageContent{MIMEType: "image/png", Data: bytes.Repeat([]byte{0x89}, 5000)},
		}}, nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "fail", Description: "Always fails."}, func(context.Context, *sdk.CallToolRequest, none) (*sdk.CallToolResult, any, error) {
		r := textResult("it broke: disk on fire")
		r.IsError = true
		return r, nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "slow", Description: "Sleep."}, func(ctx context.Context, _ *sdk.CallToolRequest, a slowArgs) (*sdk.CallToolResult, any, error) {
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(a.Seconds * float64(time.Second))):
		}
		return textResult("slept"), nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "mark", Description: "Append a line to a file, then sleep."}, func(ctx context.Context, _ *sdk.CallToolRequest, a markArgs) (*sdk.CallToolResult, any, error) {
		f, err := os.OpenFile(a.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, err
		}
		_, err = fmt.Fprintln(f, "ran")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(a.Seconds * float64(time.Second))):
		}
		return textResult("marked"), nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "env", Description: "Read an environment variable."}, func(_ context.Context, _ *sdk.CallToolRequest, a nameArgs) (*sdk.CallToolResult, any, error) {
		return textResult(a.Name + "=" + os.Getenv(a.Name)), nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "big", Description: "Return a lot of text."}, func(context.Context, *sdk.CallToolRequest, none) (*sdk.CallToolResult, any, error) {
		return textResult(strings.Repeat("x", 100_000)), nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "crash", Description: "Exit the server process."}, func(context.Context, *sdk.CallToolRequest, none) (*sdk.CallToolResult, any, error) {
		fmt.Fprintln(os.Stderr, "dying now, as asked")
		os.Exit(3)
		return nil, nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "grow", Description: "Add the tool late."}, func(context.Context, *sdk.CallToolRequest, none) (*sdk.CallToolResult, any, error) {
		sdk.AddTool(s, &sdk.Tool{Name: "late", Description: "Added late."}, func(context.Context, *sdk.CallToolRequest, none) (*sdk.CallToolResult, any, error) {
			return textResult("late but here"), nil, nil
		})
		return textResult("grown"), nil, nil
	})
	return s
}
