/**
 * Writes a Scene as a standalone SVG document. It has no XML declaration, ids or external
 * references, so the same text is a valid .svg file and can be inlined in HTML any number of times.
 */
import { escapeMarkup as esc } from './escape';
import type { Scene, Shape } from './scene';

const num = (v: number) => String(Math.round(v * 100) / 100);

function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : esc(v as string)}"`)
    .join('');
}

const titled = (open: string, close: string, title?: string) => (title ? `${open}><title>${esc(title)}</title></${close}>` : `${open}/>`);

function shapeSvg(s: Shape): string {
  switch (s.kind) {
    case 'rect': {
      const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [`data-${k}`, v]));
      const open = `<rect${attrs({ x: s.x, y: s.y, width: s.w, height: s.h, fill: s.fill ?? 'none', stroke: s.stroke, 'stroke-width': s.stroke ? (s.strokeWidth ?? 1) : undefined, ...data })}`;
      return titled(open, 'rect', s.title);
    }
    case 'line':
      return `<polyline${attrs({
        points: s.points.map(([x, y]) => `${num(x)},${num(y)}`).join(' '),
        fill: 'none',
        stroke: s.stroke,
        'stroke-width': s.width,
        'stroke-dasharray': s.dash ? '4 3' : undefined,
        'stroke-linejoin': 'round',
      })}/>`;
    case 'circle':
      return titled(`<circle${attrs({ cx: s.cx, cy: s.cy, r: s.r, fill: s.fill, stroke: s.stroke, 'stroke-width': s.stroke ? 1.5 : undefined })}`, 'circle', s.title);
    case 'text': {
      const anchor = s.anchor === 'start' ? 'start' : s.anchor === 'end' ? 'end' : 'middle';
      const a = attrs({
        x: s.x,
        y: s.y,
        'font-size': s.size,
        'font-weight': s.bold ? 'bold' : undefined,
        fill: s.fill,
        'text-anchor': anchor,
        'dominant-baseline': 'central',
        transform: s.rotate ? `rotate(${s.rotate} ${num(s.x)} ${num(s.y)})` : undefined,
        class: s.className,
      });
      return `<text${a}>${s.title ? `<title>${esc(s.title)}</title>` : ''}${esc(s.text)}</text>`;
    }
  }
}

export function sceneToSvg(scene: Scene): string {
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg"${attrs({ width: scene.width, height: scene.height, viewBox: `0 0 ${scene.width} ${scene.height}`, role: 'img', 'aria-label': scene.title, 'font-family': 'DejaVu Sans, Helvetica, Arial, sans-serif' })}>`,
    `<title>${esc(scene.title)}</title>`,
    `<rect width="100%" height="100%" fill="${esc(scene.background)}"/>`,
    ...scene.shapes.map(shapeSvg),
    '</svg>',
  ];
  return lines.join('\n') + '\n';
}
