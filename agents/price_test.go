package agents_test

import (
	"math"
	"strings"
	"testing"

	"github.com/viberhq/viber/agents"
	"github.com/viberhq/viber/bus"
)

func TestPricesTable(t *testing.T) {
	t.Parallel()
	c, err := agents.LoadConfig(writeConfig(t, `
providers:
  local: {kind: custom, base_url: "http://127.0.0.1:8000/v1", model: qwen3}
prices:
  local/qwen3: {input_per_mtok: 2, output_per_mtok: 10}
  openai/gpt-4o-mini: {input_per_mtok: 0.15}
`), env(t))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := c.Resolve("local/qwen3")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Price(mc)
	if !ok {
		t.Fatalf("no price for %s in %v", mc.Ref(), c.Prices)
	}
	got := p.Cost(&bus.Usage{InputTokens: 1000, OutputTokens: 500})
	if want := (1000*2.0 + 500*10.0) / 1e6; math.Abs(got-want) > 1e-12 {
		t.Fatalf("cost = %v, want %v", got, want)
	}
	if _, ok := c.Price(agents.ModelConfig{Provider: "openai", Model: "gpt-4o"}); ok {
		t.Fatal("a model missing from the table has a price")
	}
	var pr agents.Models = c
	if _, ok := pr.(agents.Pricer); !ok {
		t.Fatal("*agents.Config is not a Pricer")
	}
}

func TestPricesInvalid(t *testing.T) {
	t.Parallel()
	_, err := agents.LoadConfig(writeConfig(t, `
prices:
  gpt-4o: {input_per_mtok: 1}
  openai/a: {input_per_mtok: -1, output_per_mtok: 2}
  openai/b: {}
  openai/c: {input_per_mtok: 1, outptu_per_mtok: 2}
`), env(t))
	if err == nil {
		t.Fatal("an invalid price table was accepted")
	}
	for _, want := range []string{"outptu_per_mtok"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	_, err = agents.LoadConfig(writeConfig(t, `
prices:
  gpt-4o: {input_per_mtok: 1}
  openai/a: {input_per_mtok: -1, output_per_mtok: 2}
  openai/b: {}
`), env(t))
	if err == nil {
		t.Fatal("an invalid price table was accepted")
	}
	for _, want := range []string{"prices.gpt-4o: name a model as provider/model", "prices.openai/a.input_per_mtok: -1", "prices.openai/b: set input_per_mtok"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
