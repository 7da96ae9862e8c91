package telegram

import (
	"html"
	"regexp"
	"strconv"
	"strings"
)

// HTML renders the markdown models write as the HTML subset of Telegram's
// "HTML" parse mode: fenced code blocks as <pre><code>, inline code,
// bold, italic, strike-through, http(s) links, headings as bold lines and
// bullets as "•". Everything else is text, escaped (&, <, >). When the
// markdown nests marks in a way that would give unbalanced tags, the whole
// text is sent escaped instead, as Telegram would refuse the message.
func HTML(md string) string {
	md = strings.ReplaceAll(md, "\x00", "")
	out := render(md)
	if !balanced(out) {
		return escape(md)
	}
	return out
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var (
	heading = regexp.MustCompile(`^#{1,6}\s+(.*)$`)
	bullet  = regexp.MustCompile(`^(\s*)[-*+]\s+(.*)$`)
	code    = regexp.MustCompile("`([^`\n]+)`")
	link    = regexp.MustCompile(`\[([^\]\n]+)\]\((https?://[^\s)]+)\)`)
	bold    = regexp.MustCompile(`\*\*([^*\n]+?)\*\*|__([^_\n]+?)__`)
	strike  = regexp.MustCompile(`~~([^~\n]+?)~~`)
	italic  = regexp.MustCompile(`(^|[^\w*])\*([^*\s](?:[^*\n]*[^*\s])?)\*|(^|[^\w])_([^_\s](?:[^_\n]*[^_\s])?)_($|[^\w])`)
	slot    = regexp.MustCompile("\x00([0-9]+)\x01")
	tag     = regexp.MustCompile(`<(/?)([a-z]+)[^>]*>`)
)

func render(md string) string {
	var out []string
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			lang := strings.TrimSpace(strings.TrimPrefix(t, "```"))
			var body []string
			i++
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, lines[i])
			}
			text := escape(strings.Join(body, "\n"))
			if lang != "" && !strings.ContainsAny(lang, "\"<>& ") {
				out = append(out, `<pre><code class="language-`+lang+`">`+text+"</code></pre>")
			} else {
				out = append(out, "<pre>"+text+"</pre>")
			}
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			out = append(out, "<b>"+inline(m[1])+"</b>")
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

// inline renders the marks of one line. Code spans and links are set
// aside first (as numbered slots) so that no other mark reaches into them.
func inline(s string) string {
	var slots []string
	keep := func(v string) string {
		slots = append(slots, v)
		return "\x00" + strconv.Itoa(len(slots)-1) + "\x01"
	}
	s = code.ReplaceAllStringFunc(s, func(m string) string {
		return keep("<code>" + escape(m[1:len(m)-1]) + "</code>")
	})
	s = escape(s)
	s = link.ReplaceAllStringFunc(s, func(m string) string {
		sm := link.FindStringSubmatch(m)
		href := strings.ReplaceAll(html.UnescapeString(sm[2]), `"`, "%22")
		return keep(`<a href="` + escape(href) + `">` + marks(sm[1]) + "</a>")
	})
	s = marks(s)
	for slot.MatchString(s) {
		s = slot.ReplaceAllStringFunc(s, func(m string) string {
			n, _ := strconv.Atoi(slot.FindStringSubmatch(m)[1])
			return slots[n]
		})
	}
	return s
}

func marks(s string) string {
	s = bold.ReplaceAllStringFunc(s, func(m string) string {
		sm := bold.FindStringSubmatch(m)
		return "<b>" + sm[1] + sm[2] + "</b>"
	})
	s = strike.ReplaceAllString(s, "<s>$1</s>")
	return italic.ReplaceAllStringFunc(s, func(m string) string {
		sm := italic.FindStringSubmatch(m)
		if sm[2] != "" {
			return sm[1] + "<i>" + sm[2] + "</i>"
		}
		return sm[3] + "<i>" + sm[4] + "</i>" + sm[5]
	})
}

// balanced reports whether every tag is closed in order.
func balanced(s string) bool {
	var stack []string
	for _, m := range tag.FindAllStringSubmatch(s, -1) {
		if m[1] == "" {
			stack = append(stack, m[2])
			continue
		}
		if len(stack) == 0 || stack[len(stack)-1] != m[2] {
			return false
		}
		stack = stack[:len(stack)-1]
	}
	return len(stack) == 0
}
