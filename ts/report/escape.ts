/**
 * Escaping of user text (task names, answers, references) for SVG and HTML. Both are parsed as
 * XML-ish markup, so the five markup characters are replaced by entities and characters XML
 * forbids (C0 controls other than tab/newline/CR, lone surrogates, U+FFFE/U+FFFF) become U+FFFD:
 * a model's answer can contain anything, and one stray control byte would make an SVG unparsable.
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// eslint-disable-next-line no-control-regex
const XML_FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text safe inside an element or a quoted attribute of SVG or HTML. */
export function escapeMarkup(text: string): string {
  return String(text).replace(XML_FORBIDDEN, '\uFFFD').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** At most `max` characters (code points, so emoji are not split), with an ellipsis when cut. */
export function truncateText(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, Math.max(1, max - 1)).join('') + '…';
}

/** Rough rendered width in ems: East Asian wide characters and emoji take about one em, others about 0.6. */
export function textWidthEm(text: string): number {
  let w = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    w += cp >= 0x1100 && (cp <= 0x115f || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) || cp >= 0x1f300) ? 1 : 0.6;
  }
  return w;
}

/** The longest prefix (with an ellipsis) that fits in `widthPx` at `fontPx`. */
export function fitText(text: string, widthPx: number, fontPx: number): string {
  if (textWidthEm(text) * fontPx <= widthPx) return text;
  const chars = Array.from(text);
  let n = chars.length;
  while (n > 1 && (textWidthEm(chars.slice(0, n).join('')) + 0.6) * fontPx > widthPx) n--;
  return chars.slice(0, n).join('') + '…';
}
