// Package agents runs the model side of a task over langchaingo: provider
// configuration, the conversation rebuilt from a task's log, and the call
// that produces the answer while streaming its tokens.
//
// Today a task is one model turn (with any follow-ups folded into the
// conversation); the full loop with tools, plans and approvals builds on the
// same pieces.
package agents
