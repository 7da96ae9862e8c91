package channel

import (
	"context"
	"errors"
)

// ErrRejected marks a platform's refusal of a request that will not
// succeed if retried (a chat that does not exist, a bot that was blocked,
// a malformed message). A bridge drops such a reply with an error in its
// log instead of retrying it forever; any other error is retried.
var ErrRejected = errors.New("rejected by the chat platform")

// Platform is one chat service as a [Bridge] uses it. Chat, sender and
// message ids are the platform's, written as strings.
type Platform interface {
	// Name is the platform's name, a subject token ("telegram"). It
	// names the bridge's consumer and prefixes the bridge's keys.
	Name() string
	// Receive calls handle with each incoming message and button press,
	// one at a time and in order, until ctx ends (then it returns nil).
	// An update is confirmed to the platform only once handle returned
	// nil; on an error Receive retries the same update after a pause, so
	// nothing a user sent is lost while Viber is unreachable.
	Receive(ctx context.Context, handle func(context.Context, *Incoming) error) error
	// Render turns markdown into the messages the platform displays,
	// each within its length limit, in order.
	Render(markdown string) []string
	// Send posts one rendered message with optional buttons and returns
	// its id.
	Send(ctx context.Context, chat, text string, buttons []Button) (string, error)
	// Edit replaces the text of a message the bridge sent and its
	// buttons (nil removes them). Editing to the text it already has is
	// not an error.
	Edit(ctx context.Context, chat, messageID, text string, buttons []Button) error
	// Answer acknowledges a button press with a short notice.
	Answer(ctx context.Context, callbackID, text string) error
}

// Incoming is a message or a button press from a chat.
type Incoming struct {
	// Chat is where it happened; replies go there.
	Chat string
	// Sender is the id of the person; SenderName is how to call them
	// ("@alice", or a first name).
	Sender     string
	SenderName string
	// Text is the message's text (empty for a button press).
	Text string
	// ID, when set, identifies the update for good (Telegram's
	// update_id, Slack's event id): one the bridge already handled is
	// skipped, so a platform that delivers again after a crash or a
	// retry does not make a second task.
	ID string
	// CallbackID and Data are set for a button press: the press's id
	// (for [Platform.Answer]) and the button's data.
	CallbackID string
	Data       string
}

// Button is an inline button under a message; pressing it delivers an
// [Incoming] with its Data.
type Button struct {
	Text string
	Data string
}
