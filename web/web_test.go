package web

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/viberhq/viber/bus"
)

// TestEventTypesFresh checks that src/lib/events.gen.ts was generated from
// the schemas as they are now (the same hash web/scripts/gen-types.mjs
// writes), so the dashboard's types cannot drift from the Go types.
func TestEventTypesFresh(t *testing.T) {
	gen, err := os.ReadFile(filepath.Join("src", "lib", "events.gen.ts"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "schemas")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^viber\.task\.[a-z_]+\.json$`)
	var names []string
	for _, e := range entries {
		if re.MatchString(e.Name()) && e.Name() != "viber.task.event.json" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(n + "\n"))
		h.Write(b)
	}
	want := hex.EncodeToString(h.Sum(nil))
	sc := bufio.NewScanner(strings.NewReader(string(gen)))
	got := ""
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "// schemas-sha256: "); ok {
			got = v
			break
		}
	}
	if got != want {
		t.Fatalf("web/src/lib/events.gen.ts is stale (made from schemas %s, schemas are now %s): run `npm run gen:types` in web/ (or `make web-types`) and commit it", got, want)
	}
	for _, p := range bus.AllTypes() {
		if !strings.Contains(string(gen), "'"+string(p.EventType())+"'") {
			t.Errorf("events.gen.ts has no type %s", p.EventType())
		}
	}
}
