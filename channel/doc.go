// Package channel bridges chat platforms (Telegram, ...) to Viber. A
// bridge is just another NATS client: it uses package client to create
// tasks, send follow-ups, cancel, decide approvals and watch live deltas,
// and connects outward only — to NATS and to the platform's API.
//
// A chat talks to one task at a time, recorded in the viber_channels
// bucket (chat.<platform>.<chat> → task). A message from an allowed sender
// is a follow-up on that task (queued; "/steer TEXT" steers), or creates
// the task when the chat has none; "/new" forgets the task so that the
// next message starts a fresh one; "/stop" cancels. Senders outside the
// allow-list get one polite refusal, remembered in the bucket, and nothing
// else.
//
// While the model writes, the bridge shows its words in one message,
// edited at most once per [Config.EditInterval]. Replies come from a
// durable JetStream consumer on the task log (bus.ChannelConsumer), not
// from the live deltas: the terminal event of each turn of a task the
// bridge created becomes the reply, rendered for the platform and split at
// its length limit. The consumer's message is acked only after the
// platform accepted every part, and the parts already accepted are
// recorded by event id (viber_channel_deliveries), so a bridge that dies
// mid-reply sends the remaining parts after its restart — nothing lost,
// nothing doubled (up to the one part in flight when it died, which the
// platform's API gives no way to de-duplicate).
//
// A tool call waiting for approval posts a message with Approve / Deny
// buttons; a press decides it through the gateway, and the
// approval_decided event (whoever decided) edits the message to show the
// outcome.
//
// A [Platform] is the part that speaks one chat service's API; see
// channel/telegram.
package channel
