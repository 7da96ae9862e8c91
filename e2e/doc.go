// Package e2e holds Viber's end-to-end tests: real embedded NATS servers,
// the gateway, daemons and the langchaingo OpenAI client against a fake
// OpenAI-compatible HTTP server, all in one test process. Faults are real:
// connections are dropped, components stopped and restarted on the same
// store.
package e2e
