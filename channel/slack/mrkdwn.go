package slack

import (
	"regexp"
	"strconv"
	"strings"
)

// Mrkdwn renders the markdown models write as Slack's mrkdwn: **bold** as
// *bold*, *italic* and _italic_ as _italic_, ~~strike~~ as ~strike~,
// [text](url) as <url|text>, headings as bold lines, bullets as "•";
// code spans and fenced blocks stay (without the language). &, < and >
// are escaped everywhere, as Slack asks.
func Mrkdwn(md string) string {
	md = strings.ReplaceAll(md, "\x00", "")
	var out []string
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			var body []string
			i++
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, lines[i])
			}
			out = append(out, "```\n"+escape(strings.Join(body, "\n"))+"\n```")
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			out = append(out, "*"+strings.Trim(inline(m[1]), "*")+"*")
			continue
		}
		if m := bullet.FindStringSubmatch(line); m != nil && !strings.HasPrefix(strings.TrimSpace(line), "**") {
			out = append(out, m[1]+"• "+inline(m[2]))
			continue
		}
		out = append(out, inline(line))
	}
	return strings.Join(out, "\n")
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var (
	heading = regexp.MustCompile(`^#{1,6}\s+(.*)$`)
	bullet  = regexp.MustCompile(`^(\s*)[-*+]\s+(.*)$`)
	code    = regexp.MustCompile("`([^`\n]+)`")
	link    = regexp.MustCompile(`\[([^\]\n]+)\]\((https?://[^\s)|>]+)\)`)
	bold    = regexp.MustCompile(`\*\*([^*\n]+?)\*\*|__([^_\n]+?)__`)
	strike  = regexp.MustCompile(`~~([^~\n]+?)~~`)
	italic  = regexp.MustCompile(`(^|[^\w*])\*([^*\s](?:[^*\n]*[^*\s])?)\*`)
	slot    = regexp.MustCompile("\x00([0-9]+)\x01")
)

// inline renders one line's marks; code spans, links and the marks made
// are set aside as numbered slots so no later rule reaches into them.
func inline(s string) string {
	var slots []string
	keep := func(v string) string {
		slots = append(slots, v)
		return "\x00" + strconv.Itoa(len(slots)-1) + "\x01"
	}
	s = code.ReplaceAllStringFunc(s, func(m string) string { return keep("`" + escape(m[1:len(m)-1]) + "`") })
	s = link.ReplaceAllStringFunc(s, func(m string) string {
		sm := link.FindStringSubmatch(m)
		return keep("<" + escape(sm[2]) + "|" + escape(sm[1]) + ">")
	})
	s = escape(s)
	s = bold.ReplaceAllStringFunc(s, func(m string) string {
		sm := bold.FindStringSubmatch(m)
		return keep("*" + sm[1] + sm[2] + "*")
	})
	s = italic.ReplaceAllStringFunc(s, func(m string) string {
		sm := italic.FindStringSubmatch(m)
		return sm[1] + keep("_"+sm[2]+"_")
	})
	s = strike.ReplaceAllString(s, "~$1~")
	for slot.MatchString(s) {
		s = slot.ReplaceAllStringFunc(s, func(m string) string {
			n, _ := strconv.Atoi(slot.FindStringSubmatch(m)[1])
			return slots[n]
		})
	}
	return s
}
