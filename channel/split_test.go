package channel_test

import (
	"strings"
	"testing"

	"github.com/viberhq/viber/channel"
)

func identity(s string) string { return s }

func TestSplitKeepsLinesAndLimit(t *testing.T) {
	t.Parallel()
	var lines []string
	for i := range 200 {
		lines = append(lines, strings.Repeat(string(rune('a'+i%26)), 40))
	}
	md := strings.Join(lines, "\n")
	parts := channel.Split(md, 1000, identity)
	if len(parts) < 9 {
		t.Fatalf("got %d parts of a %d-byte text with limit 1000, want at least 9", len(parts), len(md))
	}
	for i, p := range parts {
		if channel.Len(p) > 1000 {
			t.Errorf("part %d is %d long, over 1000", i, channel.Len(p))
		}
	}
	if got := strings.Join(parts, "\n"); got != md {
		t.Errorf("parts joined by newlines differ from the text:\n got %q...\nwant %q...", got[:80], md[:80])
	}
}

func TestSplitCutsLongLinesByRunes(t *testing.T) {
	t.Parallel()
	md := strings.Repeat("é😀", 3000) // 3 UTF-16 units a pair
	parts := channel.Split(md, 4096, identity)
	total := 0
	for i, p := range parts {
		if n := channel.Len(p); n > 4096 {
			t.Errorf("part %d is %d UTF-16 units, over 4096", i, n)
		}
		total += channel.Len(p)
	}
	if strings.Join(parts, "") != md || total != 9000 {
		t.Errorf("parts do not add up to the text (%d units of 9000)", total)
	}
}

func TestSplitReopensCodeBlocks(t *testing.T) {
	t.Parallel()
	md := "intro\n```go\n" + strings.Repeat("x := 1\n", 50) + "```\nafter"
	parts := channel.Split(md, 120, identity)
	if len(parts) < 3 {
		t.Fatalf("got %d parts, want the code block cut", len(parts))
	}
	for i, p := range parts {
		if strings.Count(p, "```")%2 != 0 {
			t.Errorf("part %d leaves a code fence open:\n%s", i, p)
		}
		if len(p) > 120 {
			t.Errorf("part %d is %d long, over 120", i, len(p))
		}
	}
	if !strings.HasSuffix(parts[len(parts)-1], "after") {
		t.Errorf("last part %q does not end with the text after the block", parts[len(parts)-1])
	}
}
