package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/viberhq/viber/bus"
)

// ErrInvalid means an event does not match the schema of its type. The
// error wrapping it also wraps the validator's *jsonschema.ValidationError,
// which says where and why.
var ErrInvalid = errors.New("event does not match its schema")

// Validator checks events against the embedded schemas. It is safe for
// concurrent use.
type Validator struct {
	byType   map[bus.Type]*jsonschema.Schema
	anyEvent *jsonschema.Schema
}

// NewValidator compiles the embedded schema of every task event type. Formats
// (the date-time of time) are asserted, not only annotated.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	add := func(name string) (string, error) {
		b, err := fs.ReadFile(FS, name)
		if err != nil {
			return "", err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return "", fmt.Errorf("schemas: %s: %w", name, err)
		}
		url := BaseURL + name
		if err := c.AddResource(url, doc); err != nil {
			return "", fmt.Errorf("schemas: %s: %w", name, err)
		}
		return url, nil
	}

	v := &Validator{byType: make(map[bus.Type]*jsonschema.Schema)}
	for _, p := range bus.AllTypes() {
		t := p.EventType()
		url, err := add(FileName(t))
		if err != nil {
			return nil, err
		}
		s, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("schemas: compile %s: %w", FileName(t), err)
		}
		v.byType[t] = s
	}
	url, err := add(AnyEventFile)
	if err != nil {
		return nil, err
	}
	if v.anyEvent, err = c.Compile(url); err != nil {
		return nil, fmt.Errorf("schemas: compile %s: %w", AnyEventFile, err)
	}
	return v, nil
}

// Validate checks a whole event envelope, as JSON, against the schema of its
// type. An envelope without a string type, or of a type that is not a task
// event type, gives an error matching [bus.ErrUnknownType]; one that does not
// match its schema gives an error matching [ErrInvalid].
func (v *Validator) Validate(envelopeJSON []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(envelopeJSON))
	if err != nil {
		return fmt.Errorf("schemas: event is not JSON: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return fmt.Errorf("schemas: event is not a JSON object: %w", ErrInvalid)
	}
	raw, ok := obj["type"]
	if !ok {
		return fmt.Errorf("schemas: event has no type: %w", bus.ErrUnknownType)
	}
	name, ok := raw.(string)
	if !ok {
		return fmt.Errorf("schemas: event type %v is not a string: %w", raw, bus.ErrUnknownType)
	}
	t := bus.Type(name)
	s, ok := v.byType[t]
	if !ok {
		return fmt.Errorf("schemas: %w %q: no schema for it", bus.ErrUnknownType, name)
	}
	return check(s, t, doc)
}

// ValidateEvent encodes e and checks it as [Validator.Validate] does.
func (v *Validator) ValidateEvent(e *bus.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("schemas: encode event: %w", err)
	}
	return v.Validate(b)
}

// ValidateAny checks an envelope against viber.task.event.json, the schema
// matching any task event, as a tool holding only that file would.
func (v *Validator) ValidateAny(envelopeJSON []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(envelopeJSON))
	if err != nil {
		return fmt.Errorf("schemas: event is not JSON: %w", err)
	}
	return check(v.anyEvent, "", doc)
}

func check(s *jsonschema.Schema, t bus.Type, doc any) error {
	err := s.Validate(doc)
	if err == nil {
		return nil
	}
	what := "event"
	if t != "" {
		what = string(t) + " event"
	}
	return fmt.Errorf("schemas: %s: %w: %w", what, ErrInvalid, err)
}
