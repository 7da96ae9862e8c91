// Package agents runs the model side of a task over langchaingo: provider
// configuration (config file and environment), the agent loop with tools,
// plans, skills and approvals, and the tool policy.
//
// [Agent.Run] runs one turn. It rebuilds the conversation from the task's
// log before every model call, so follow-ups join at the next step and a
// daemon that takes over a task continues it from the log alone. Each tool
// call is appended as a tool_call event, decided by the [Policy] (allow,
// ask, deny), and answered by a tool_result event. The conversation keeps
// one tool call per assistant message, each followed by its tool message:
// langchaingo's Anthropic client sends only the first part of a message and
// OpenAI's tool role takes exactly one part.
package agents
