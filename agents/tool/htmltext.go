package tool

import (
	"html"
	"net/url"
	"strings"
)

// rawTextElements have content that is not page text.
var rawTextElements = map[string]bool{
	"script": true, "style": true, "noscript": true, "template": true,
	"svg": true, "math": true, "iframe": true, "object": true, "canvas": true,
	"title": true, "textarea": true, "select": true,
}

// blockElements start and end a line.
var blockElements = map[string]bool{
	"address": true, "article": true, "aside": true, "blockquote": true,
	"body": true, "dd": true, "details": true, "dialog": true, "div": true,
	"dl": true, "dt": true, "fieldset": true, "figcaption": true, "figure": true,
	"footer": true, "form": true, "header": true, "hgroup": true, "hr": true,
	"html": true, "li": true, "main": true, "nav": true, "ol": true, "p": true,
	"pre": true, "section": true, "summary": true, "table": true, "tbody": true,
	"thead": true, "tfoot": true, "tr": true, "ul": true, "caption": true,
}

// htmlToText reduces an HTML document to readable text, roughly: scripts,
// styles and comments are dropped, block elements become line breaks,
// headings get "#" marks, list items "- ", links keep their target (made
// absolute against base) in parentheses, entities are decoded and white
// space is collapsed except inside <pre>. It returns the title separately.
func htmlToText(src string, base *url.URL) (title, text string) {
	lower := asciiLower(src)
	var b strings.Builder
	pre := 0
	type link struct {
		href  string
		start int
	}
	var links []link
	i := 0
	for i < len(src) {
		lt := strings.IndexByte(src[i:], '<')
		if lt < 0 {
			writeText(&b, src[i:], pre > 0)
			break
		}
		writeText(&b, src[i:i+lt], pre > 0)
		i += lt
		rest := lower[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				i = len(src)
			} else {
				i += 4 + end + 3
			}
			continue
		case strings.HasPrefix(rest, "<!") || strings.HasPrefix(rest, "<?"):
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				i = len(src)
			} else {
				i += end + 1
			}
			continue
		}
		j := i + 1
		closing := j < len(src) && src[j] == '/'
		if closing {
			j++
		}
		k := j
		for k < len(src) && isTagNameByte(lower[k]) {
			k++
		}
		if k == j {
			b.WriteByte('<') // a lone "<" in text
			i++
			continue
		}
		name := lower[j:k]
		end := tagEnd(src, k)
		attrs := src[k:end]
		if end < len(src) {
			end++
		}
		i = end

		if !closing && rawTextElements[name] {
			closeAt := strings.Index(lower[i:], "</"+name)
			inner := ""
			if closeAt < 0 {
				inner = src[i:]
				i = len(src)
			} else {
				inner = src[i : i+closeAt]
				i += closeAt
				if gt := strings.IndexByte(src[i:], '>'); gt >= 0 {
					i += gt + 1
				} else {
					i = len(src)
				}
			}
			if name == "title" && title == "" {
				title = strings.Join(strings.Fields(html.UnescapeString(inner)), " ")
			}
			continue
		}

		switch {
		case name == "br":
			b.WriteByte('\n')
		case len(name) == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6':
			endLines(&b, 2)
			if !closing {
				b.WriteString(strings.Repeat("#", int(name[1]-'0')) + " ")
			}
		case name == "li":
			endLines(&b, 1)
			if !closing {
				b.WriteString("- ")
			}
		case name == "p":
			endLines(&b, 2)
		case name == "pre":
			endLines(&b, 1)
			if closing {
				pre = max(pre-1, 0)
			} else {
				pre++
			}
		case name == "td" || name == "th":
			if !closing {
				b.WriteString(" | ")
			}
		case blockElements[name]:
			endLines(&b, 1)
		case name == "img" && !closing:
			if alt := attr(attrs, "alt"); alt != "" {
				b.WriteString("[image: " + strings.Join(strings.Fields(alt), " ") + "]")
			}
		case name == "a":
			if !closing {
				links = append(links, link{href: attr(attrs, "href"), start: b.Len()})
				break
			}
			if len(links) == 0 {
				break
			}
			l := links[len(links)-1]
			links = links[:len(links)-1]
			anchor := strings.TrimSpace(b.String()[l.start:])
			if target := linkTarget(l.href, base); target != "" && anchor != "" && anchor != target {
				b.WriteString(" (" + target + ")")
			}
		}
	}
	return title, tidy(b.String())
}

// endLines makes b end with at least n line breaks (trailing spaces
// aside), so nested blocks do not pile up blank lines.
func endLines(b *strings.Builder, n int) {
	s := strings.TrimRight(b.String(), " ")
	have := len(s) - len(strings.TrimRight(s, "\n"))
	if len(s) == 0 {
		return
	}
	for ; have < n; have++ {
		b.WriteByte('\n')
	}
}

func isTagNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == ':'
}

// tagEnd returns the index of the '>' closing a tag whose attributes start
// at i, skipping quoted values, or len(s).
func tagEnd(s string, i int) int {
	var quote byte
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return len(s)
}

// attr returns the decoded value of the attribute name in a tag's
// attribute text.
func attr(attrs, name string) string {
	lower := asciiLower(attrs)
	for i := 0; i < len(attrs); {
		k := strings.Index(lower[i:], name)
		if k < 0 {
			return ""
		}
		k += i
		i = k + len(name)
		if k > 0 && !isSpaceByte(lower[k-1]) {
			continue
		}
		j := i
		for j < len(attrs) && isSpaceByte(attrs[j]) {
			j++
		}
		if j >= len(attrs) || attrs[j] != '=' {
			continue
		}
		j++
		for j < len(attrs) && isSpaceByte(attrs[j]) {
			j++
		}
		if j >= len(attrs) {
			return ""
		}
		var v string
		if q := attrs[j]; q == '"' || q == '\'' {
			e := strings.IndexByte(attrs[j+1:], q)
			if e < 0 {
				v = attrs[j+1:]
			} else {
				v = attrs[j+1 : j+1+e]
			}
		} else {
			e := j
			for e < len(attrs) && !isSpaceByte(attrs[e]) && attrs[e] != '>' {
				e++
			}
			v = attrs[j:e]
		}
		return html.UnescapeString(v)
	}
	return ""
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// linkTarget resolves href against base, keeping only http(s) links.
func linkTarget(href string, base *url.URL) string {
	href = strings.TrimSpace(href)
	if href == "" || strings.HasPrefix(href, "#") {
		return ""
	}
	u, err := url.Parse(href)
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return ""
	}
	return u.String()
}

func writeText(b *strings.Builder, s string, pre bool) {
	if s == "" {
		return
	}
	s = html.UnescapeString(s)
	s = strings.ReplaceAll(s, "\u00a0", " ")
	if pre {
		b.WriteString(s)
		return
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		b.WriteByte(' ')
		return
	}
	if isSpaceByte(s[0]) {
		b.WriteByte(' ')
	}
	b.WriteString(strings.Join(fields, " "))
	if isSpaceByte(s[len(s)-1]) {
		b.WriteByte(' ')
	}
}

// tidy trims lines and folds runs of blank lines into one.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := true
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if strings.TrimSpace(l) == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		// Collapsed text leaves at most one leading space; more is
		// indentation from <pre>, which is kept.
		if strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "  ") {
			l = l[1:]
		}
		out = append(out, l)
		blank = false
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// asciiLower lowercases ASCII letters only, so byte offsets stay valid.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
