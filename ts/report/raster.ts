/**
 * Paints a Scene into an RGB pixel buffer for the PNG files: filled and outlined rectangles,
 * anti-aliased lines and dots, and text in the built-in bitmap font (bitmap-font.ts). Tooltips
 * and other SVG-only details are ignored. `scale` multiplies every coordinate (2 = a crisp image
 * twice the SVG's size).
 */
import { GLYPH_H, GLYPH_W, glyphPixels } from './bitmap-font';
import { parseHex, type Rgb } from './colours';
import { textWidthEm } from './escape';
import type { CircleShape, LineShape, RectShape, Scene, TextShape } from './scene';

export interface RgbImage {
  width: number;
  height: number;
  /** width × height × 3 bytes, rows top to bottom. */
  pixels: Uint8Array;
}

class Canvas implements RgbImage {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: Rgb) {
    this.pixels = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) this.pixels.set(background, p * 3);
  }

  blend(x: number, y: number, c: Rgb, alpha: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || alpha <= 0) return;
    const a = Math.min(1, alpha);
    const o = (y * this.width + x) * 3;
    for (let k = 0; k < 3; k++) this.pixels[o + k] = Math.round(this.pixels[o + k] * (1 - a) + c[k] * a);
  }

  /** Fills [x0, x1) × [y0, y1) in device pixels, edges rounded to whole pixels. */
  fill(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    const xa = Math.max(0, Math.round(x0));
    const xb = Math.min(this.width, Math.round(x1));
    const ya = Math.max(0, Math.round(y0));
    const yb = Math.min(this.height, Math.round(y1));
    for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) this.pixels.set(c, (y * this.width + x) * 3);
  }
}

function drawRect(cv: Canvas, r: RectShape, s: number): void {
  const [x0, y0, x1, y1] = [r.x * s, r.y * s, (r.x + r.w) * s, (r.y + r.h) * s];
  if (r.fill && r.fill !== 'none') cv.fill(x0, y0, x1, y1, parseHex(r.fill));
  if (r.stroke) {
    const c = parseHex(r.stroke);
    const h = Math.max(1, (r.strokeWidth ?? 1) * s) / 2;
    cv.fill(x0 - h, y0 - h, x1 + h, y0 + h, c);
    cv.fill(x0 - h, y1 - h, x1 + h, y1 + h, c);
    cv.fill(x0 - h, y0 - h, x0 + h, y1 + h, c);
    cv.fill(x1 - h, y0 - h, x1 + h, y1 + h, c);
  }
}

/** Anti-aliased thick segment: coverage from each pixel centre's distance to the segment. */
function drawSegment(cv: Canvas, ax: number, ay: number, bx: number, by: number, width: number, c: Rgb, dash: boolean, s: number): void {
  const half = width / 2;
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const len = Math.sqrt(len2);
  const xmin = Math.floor(Math.min(ax, bx) - half - 1);
  const xmax = Math.ceil(Math.max(ax, bx) + half + 1);
  const ymin = Math.floor(Math.min(ay, by) - half - 1);
  const ymax = Math.ceil(Math.max(ay, by) + half + 1);
  for (let y = ymin; y <= ymax; y++) {
    for (let x = xmin; x <= xmax; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      const t = len2 === 0 ? 0 : Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / len2));
      if (dash && (t * len) % (7 * s) > 4 * s) continue;
      const d = Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
      cv.blend(x, y, c, half + 0.5 - d);
    }
  }
}

function drawLine(cv: Canvas, l: LineShape, s: number): void {
  const c = parseHex(l.stroke);
  const w = Math.max(1, l.width * s);
  for (let k = 1; k < l.points.length; k++) {
    const [a, b] = [l.points[k - 1], l.points[k]];
    drawSegment(cv, a[0] * s, a[1] * s, b[0] * s, b[1] * s, w, c, l.dash === true, s);
  }
}

function drawDisc(cv: Canvas, cx: number, cy: number, r: number, c: Rgb): void {
  for (let y = Math.floor(cy - r - 1); y <= Math.ceil(cy + r + 1); y++) {
    for (let x = Math.floor(cx - r - 1); x <= Math.ceil(cx + r + 1); x++) cv.blend(x, y, c, r + 0.5 - Math.hypot(x + 0.5 - cx, y + 0.5 - cy));
  }
}

function drawCircle(cv: Canvas, ci: CircleShape, s: number): void {
  if (ci.stroke) drawDisc(cv, ci.cx * s, ci.cy * s, (ci.r + 1.5) * s, parseHex(ci.stroke));
  drawDisc(cv, ci.cx * s, ci.cy * s, ci.r * s, parseHex(ci.fill));
}

function drawText(cv: Canvas, t: TextShape, s: number): void {
  const c = parseHex(t.fill);
  const u = Math.max(1, Math.round((t.size * s) / 10));
  const chars = Array.from(t.text).map((ch) => {
    const px = glyphPixels(ch);
    return { px, advance: px ? (GLYPH_W + 1) * u : Math.max(2 * u, Math.round(textWidthEm(ch) * t.size * s)) };
  });
  const total = chars.reduce((a, ch) => a + ch.advance, 0) - u;
  const shift = t.anchor === 'start' ? 0 : t.anchor === 'middle' ? total / 2 : total;
  const up = t.rotate === -90;
  // position along the text's direction (pen) and across it (row), mapped to device pixels
  const ox = t.x * s;
  const oy = t.y * s;
  const put = (pen: number, row: number) => {
    const along = pen - shift;
    const across = row - (GLYPH_H * u) / 2;
    const x = up ? ox + across : ox + along;
    const y = up ? oy - along : oy + across;
    cv.fill(x, y - (up ? u : 0), x + u, y + (up ? 0 : u), c);
  };
  let pen = 0;
  for (const ch of chars) {
    if (ch.px) {
      for (const [col, row] of ch.px) {
        put(pen + col * u, row * u);
        if (t.bold) put(pen + col * u + Math.max(1, u / 2), row * u);
      }
    } else {
      // hollow box for characters the font lacks
      const w = Math.floor((ch.advance - u) / u);
      for (let k = 0; k < w; k++) {
        put(pen + k * u, 0);
        put(pen + k * u, (GLYPH_H - 1) * u);
      }
      for (let r = 0; r < GLYPH_H; r++) {
        put(pen, r * u);
        put(pen + (w - 1) * u, r * u);
      }
    }
    pen += ch.advance;
  }
}

export function rasterize(scene: Scene, scale = 2): RgbImage {
  const cv = new Canvas(Math.ceil(scene.width * scale), Math.ceil(scene.height * scale), parseHex(scene.background));
  for (const shape of scene.shapes) {
    if (shape.kind === 'rect') drawRect(cv, shape, scale);
    else if (shape.kind === 'line') drawLine(cv, shape, scale);
    else if (shape.kind === 'circle') drawCircle(cv, shape, scale);
    else drawText(cv, shape, scale);
  }
  return cv;
}
