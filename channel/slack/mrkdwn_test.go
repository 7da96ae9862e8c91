package slack_test

import (
	"testing"

	"github.com/viberhq/viber/channel/slack"
)

func TestMrkdwn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ md, want string }{
		{"hello", "hello"},
		{"a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"},
		{"**bold** and *it* and ~~gone~~", "*bold* and _it_ and ~gone~"},
		{"snake_case_name stays", "snake_case_name stays"},
		{"use `a<b>` here", "use `a&lt;b&gt;` here"},
		{"see [the docs](https://example.com/a?b=1&c=2)", "see <https://example.com/a?b=1&amp;c=2|the docs>"},
		{"# Title\n- one", "*Title*\n• one"},
		{"```go\nif a < b {}\n```", "```\nif a &lt; b {}\n```"},
	} {
		if got := slack.Mrkdwn(c.md); got != c.want {
			t.Errorf("Mrkdwn(%q)\n got %q\nwant %q", c.md, got, c.want)
		}
	}
}
