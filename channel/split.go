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
	var lines []string
	for _, l := range strings.SplitAfter(markdown, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	// open[k] is the fence left open after lines[:k] ("" when none).
	open := make([]string, len(lines)+1)
	for k, l := range lines {
		open[k+1] = open[k]
		if f, ok := fenceLine(l); ok {
			if open[k] == "" {
				open[k+1] = f
			} else {
				open[k+1] = ""
			}
		}
	}
	var out []string
	emit := func(md, fence string) {
		if strings.TrimSpace(md) == "" {
			return
		}
		if r := strings.TrimSpace(render(closeFence(md, fence))); r != "" {
			out = append(out, r)
		}
	}
	prefix := "" // reopens a code block cut by the previous piece
	for i := 0; i < len(lines); {
		chunk := func(j int) string { return prefix + strings.Join(lines[i:j], "") }
		fits := func(j int) bool { return Len(render(closeFence(chunk(j), open[j]))) <= limit }
		if !fits(i + 1) {
			// The line alone is too long: cut it by runes.
			r := []rune(lines[i])
			n := longestFit(r, func(k int) bool { return Len(render(closeFence(prefix+string(r[:k]), open[i]))) <= limit })
			if n == 0 {
				// Not even one rune fits after the reopened fence.
				prefix = ""
				n = max(1, longestFit(r, func(k int) bool { return Len(render(string(r[:k]))) <= limit }))
			}
			emit(prefix+string(r[:n]), open[i])
			lines[i] = string(r[n:])
			if lines[i] == "" {
				i++
			}
			prefix = ""
			if open[i] != "" {
				prefix = open[i] + "\n"
			}
			continue
		}
		// Grow the piece by doubling, then search back for the longest.
		lo, step := i+1, 1
		for lo+step <= len(lines) && fits(lo+step) {
			lo += step
			step *= 2
		}
		hi := min(lo+step, len(lines)+1) - 1 // fits(lo), and not fits(hi+1) when hi < len
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if fits(mid) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		emit(chunk(lo), open[lo])
		i = lo
		prefix = ""
		if open[i] != "" {
			prefix = open[i] + "\n"
		}
	}
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
