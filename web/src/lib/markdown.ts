// Markdown rendered safely: marked turns it into HTML, DOMPurify removes
// anything that could run (scripts, handlers, javascript: URLs). Raw HTML
// in the text is escaped, not rendered.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';

const escapeHTML = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html({ text }) {
      return escapeHTML(text);
    },
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

export function markdown(text: string): string {
  const html = marked.parse(text ?? '') as string;
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'form', 'input', 'img'] });
}
