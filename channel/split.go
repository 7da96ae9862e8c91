package channel

import (
	"strings"
	"unicode/utf16"
)

// Split cuts markdown into pieces whose rendering is at most limit UTF-16
// code units long (the unit chat platforms count in), and returns the
// rendered pieces. It cuts between lines where it can and inside a line
// only when the line alone is too long; a fenced code block cut in two is
// closed at the end of one piece and reopened at the start of the next,
// so each piece renders on its own. Empty pieces are dropped.
func Split(markdown string, limit int, render func(string) string) []string {
	if limit <= 0 {
		limit = 4096
	}
	var out []string
	var cur strings.Builder
	reopen := "" // the fence line to reopen an open code block with
	fence := ""  // the open fence of the current piece, "" when none
	fits := func(md string) bool { return Len(render(closeFence(md, fence))) <= limit }
	flush := func() {
		md := cur.String()
		cur.Reset()
		if strings.TrimSpace(md) == "" || md == reopen {
			return
		}
		if r := strings.TrimSpace(render(closeFence(md, fence))); r != "" {
			out = append(out, r)
		}
		reopen = ""
		if fence != "" {
			reopen = fence + "\n"
			cur.WriteString(reopen)
		}
	}
	for _, line := range strings.SplitAfter(markdown, "\n") {
		if line == "" {
			continue
		}
		nextFence := fence
		if f, ok := fenceLine(line); ok {
			if fence == "" {
				nextFence = f
			} else {
				nextFence = ""
			}
		}
		if fits(cur.String() + line) {
			cur.WriteString(line)
			fence = nextFence
			continue
		}
		flush()
		if fits(cur.String() + line) {
			cur.WriteString(line)
			fence = nextFence
			continue
		}
		// The line alone is too long: cut it by runes.
		rest := []rune(line)
		for len(rest) > 0 {
			base := cur.String()
			n := longestFit(rest, func(k int) bool { return fits(base + string(rest[:k])) })
			if n == 0 {
				// Not even one rune fits after the reopened fence:
				// drop the fence rather than loop.
				cur.Reset()
				fence, reopen = "", ""
				n = max(1, longestFit(rest, func(k int) bool { return fits(string(rest[:k])) }))
			}
			cur.WriteString(string(rest[:n]))
			rest = rest[n:]
			if len(rest) > 0 {
				flush()
			}
		}
		fence = nextFence
	}
	flush()
	return out
}

// longestFit is the largest k in [0, len(r)] with ok(k), for ok monotone
// (true up to some k, false after).
func longestFit(r []rune, ok func(int) bool) int {
	lo, hi := 0, len(r)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// closeFence closes a code block left open at the end of md.
func closeFence(md, fence string) string {
	if fence == "" {
		return md
	}
	if !strings.HasSuffix(md, "\n") {
		md += "\n"
	}
	return md + "```"
}

// fenceLine reports whether line opens or closes a fenced code block, and
// returns the fence with its info string ("```go").
func fenceLine(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "```") {
		return "", false
	}
	return t, true
}

// Len is the length of s in UTF-16 code units, as Telegram and Slack
// count message lengths.
func Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
