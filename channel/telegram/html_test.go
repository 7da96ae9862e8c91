package telegram_test

import (
	"testing"

	"github.com/viberhq/viber/channel/telegram"
)

func TestHTML(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ md, want string }{
		{"hello", "hello"},
		{"a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"},
		{"**bold** and *it* and _it_ and ~~gone~~", "<b>bold</b> and <i>it</i> and <i>it</i> and <s>gone</s>"},
		{"snake_case_name stays", "snake_case_name stays"},
		{"use `a<b>` here", "use <code>a&lt;b&gt;</code> here"},
		{"`**not bold**`", "<code>**not bold**</code>"},
		{"see [the docs](https://example.com/a?b=1&c=\"2\")", `see <a href="https://example.com/a?b=1&amp;c=%222%22">the docs</a>`},
		{"[x](javascript:alert(1))", "[x](javascript:alert(1))"},
		{"# Title\n- one\n* two", "<b>Title</b>\n• one\n• two"},
		{"```go\nif a < b {}\n```", `<pre><code class="language-go">if a &lt; b {}</code></pre>`},
		{"```\nplain\n```", "<pre>plain</pre>"},
		{"```\nunclosed", "<pre>unclosed</pre>"},
		{"**a [b** c](https://x.io)", "**a <a href=\"https://x.io\">b** c</a>"},
	} {
		if got := telegram.HTML(c.md); got != c.want {
			t.Errorf("HTML(%q)\n got %q\nwant %q", c.md, got, c.want)
		}
	}
}
