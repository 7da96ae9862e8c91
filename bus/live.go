package bus

// Delta is a piece of a model's answer published on viber.live.<task_id>
// while the model writes. Deltas are never stored: the log keeps the whole
// message once it is done.
type Delta struct {
	// TaskID is the task the model writes for.
	TaskID string `json:"task_id"`
	// Text is the new text.
	Text string `json:"text"`
	// Index counts deltas of one model call from 0.
	Index int `json:"index"`
}
