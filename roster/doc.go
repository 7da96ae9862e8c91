// Package roster holds a daemon's named agents: role-scoped workers with
// their own prompt, model, tools, skills, policy, step limit and memory.
//
// # Agents on disk
//
// An agent is one file named like the agent, found in two folders (see
// [skills.AgentRoots]; the first agent found with a name wins):
//
//  1. <workspace>/.agents/agents/<name>.md - YAML front matter between
//     "---" lines, then the system prompt as Markdown;
//  2. ~/.viber/agents/<name>.yaml - the same fields as plain YAML, the
//     prompt in the system field.
//
// Both folders take either form (.md, .yaml or .yml). The fields:
//
//	name: reviewer                  # required, a-z 0-9 and "-", equal to the file's name
//	description: Reviews Go changes # required, at most 1024 characters
//	model: openai/gpt-4o-mini       # optional; the daemon's default otherwise
//	system: You review code...      # the prompt (in a .md file: the body)
//	tools: [read_file, grep, "mcp_github_*"]  # allow-list of tool names or globs
//	skills: [go-review]             # only these skills are offered
//	policy: {shell: deny}           # may only tighten the daemon's policy
//	max_steps: 10                   # model calls per turn
//	memory: [agent, user]           # memory scopes: agent, user, global (or none)
//
// A built-in agent called [DefaultName] is the daemon's general worker:
// every tool, every skill, the daemon's prompt and policy. A file of that
// name replaces it.
//
// # Strict and lenient
//
// [Validate] checks one file strictly and lists every problem with its
// line; it backs `viber agent validate`. [Load], what daemons use, turns
// problems into warnings and still loads the agent, except when a field
// that restricts the agent (tools, policy) cannot be read: loading it
// without would make it looser than its author meant, so it is skipped.
package roster
