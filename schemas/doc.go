// Package schemas holds a JSON Schema for every task event type, generated
// from the Go types of package bus, and a validator built on them.
//
// # Files
//
// For every type T in [bus.AllTypes], T.json (for example
// viber.task.started.json) describes a whole event of that type: the
// CloudEvents 1.0 envelope of [bus.Event] with its data. viber.task.event.json
// matches an event of any task type: the type attribute picks one of the
// per-type schemas, bundled under $defs. Every file is JSON Schema draft
// 2020-12 with an $id under https://viber.dev/schemas/ and stands alone: it
// references nothing outside itself.
//
// The files are generated; do not edit them. After changing a payload type
// in bus, run
//
//	go generate ./schemas
//
// A test fails while the files on disk differ from what [Generate] returns.
//
// # Open payloads, closed envelope
//
// The envelope has additionalProperties false: its attributes are fixed by
// CloudEvents and by bus, and an unknown attribute is a writer's mistake.
//
// Payloads (data and the objects inside it) allow additional properties.
// Events are stored for good and read by tools built at other times, so a
// payload gains optional fields over time; a validator holding an older
// schema must keep accepting newer events. Required fields, types, enums and
// bounds are still checked. A payload field is required when its json tag
// has no omitempty; other constraints come from the jsonschema struct tags
// on the payload types.
//
// # Validation
//
// [NewValidator] compiles the embedded files with
// github.com/santhosh-tekuri/jsonschema/v6, asserting formats (time must be
// an RFC 3339 date-time). Tests of other packages use it to check the events
// they write.
package schemas

//go:generate go run ./internal/gen
