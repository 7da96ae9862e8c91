package agents

import (
	"fmt"
	"math"
	"strings"

	"github.com/viberhq/viber/bus"
)

// Price is what a model's tokens cost, in US dollars per million tokens,
// as written in the config file's prices table.
type Price struct {
	// InputPerMTok is the price of a million prompt tokens.
	InputPerMTok float64 `yaml:"input_per_mtok"`
	// OutputPerMTok is the price of a million generated tokens.
	OutputPerMTok float64 `yaml:"output_per_mtok"`
}

// Cost is what u's tokens cost at p, in US dollars (0 for nil).
func (p Price) Cost(u *bus.Usage) float64 {
	if u == nil {
		return 0
	}
	return (float64(u.InputTokens)*p.InputPerMTok + float64(u.OutputTokens)*p.OutputPerMTok) / 1e6
}

func (p Price) validate(ref string) []error {
	var errs []error
	at := "prices." + ref
	prov, model, ok := strings.Cut(ref, "/")
	if !ok || strings.TrimSpace(prov) == "" || strings.TrimSpace(model) == "" {
		errs = append(errs, fmt.Errorf("%s: name a model as provider/model (e.g. openai/gpt-4o-mini)", at))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"input_per_mtok", p.InputPerMTok}, {"output_per_mtok", p.OutputPerMTok}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Errorf("%s.%s: %v is not a price (US dollars per million tokens, 0 or more)", at, f.name, f.v))
		}
	}
	if p.InputPerMTok == 0 && p.OutputPerMTok == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: set input_per_mtok and/or output_per_mtok", at))
	}
	return errs
}

// Pricer is implemented by [Models] that know what models cost (the
// config file, through its prices table).
type Pricer interface {
	// Price returns the price of the model mc stands for, if known.
	Price(mc ModelConfig) (Price, bool)
}

// Price implements [Pricer]: the entry for "name/model" (the provider's
// name in the file), else for "kind/model".
func (c *Config) Price(mc ModelConfig) (Price, bool) {
	if p, ok := c.Prices[mc.Ref()]; ok {
		return p, true
	}
	p, ok := c.Prices[mc.Provider+"/"+mc.Model]
	return p, ok
}
