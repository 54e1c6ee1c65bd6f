/**
 * Colours of the figures. The sequential scale maps an accuracy in [0, 1] to a colour running from
 * dark blue through teal and green to pale yellow (monotone in lightness, so it reads in greyscale
 * too); the categorical palette tells the tasks' curves apart.
 */
export type Rgb = [number, number, number];

// Hand-picked stops, evenly spaced over [0, 1].
const SCALE_STOPS: Rgb[] = [
  [38, 28, 92],
  [42, 70, 140],
  [35, 118, 150],
  [40, 160, 135],
  [110, 195, 95],
  [200, 220, 80],
  [250, 240, 160],
];

export const TASK_PALETTE = ['#1f6fb4', '#e3731c', '#2e9e44', '#c8283a', '#8a5cc2', '#8c564b', '#d45fb0', '#6f6f6f', '#a8ad1f', '#17a9bd'];

export function taskColour(i: number): string {
  return TASK_PALETTE[i % TASK_PALETTE.length];
}

/** The scale's colour for v (clamped to [0, 1]). */
export function scaleRgb(v: number): Rgb {
  const t = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * (SCALE_STOPS.length - 1);
  const k = Math.min(SCALE_STOPS.length - 2, Math.floor(t));
  const f = t - k;
  const a = SCALE_STOPS[k];
  const b = SCALE_STOPS[k + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as Rgb;
}

export function hex([r, g, b]: Rgb): string {
  return '#' + [r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('');
}

export function parseHex(colour: string): Rgb {
  const m = /^#([0-9a-f]{6})$/i.exec(colour);
  if (!m) return [0, 0, 0];
  const n = parseInt(m[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Black or white, whichever reads better on `background`. */
export function textOn(background: Rgb): string {
  const [r, g, b] = background.map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.22 ? '#111111' : '#ffffff';
}
