/**
 * A figure as a flat list of drawing primitives in pixel coordinates. The heatmap and curve
 * builders lay a figure out once; svg.ts writes it as SVG and raster.ts paints it into pixels for
 * the PNG, so both files show the same thing.
 */
export interface RectShape {
  kind: 'rect';
  x: number;
  y: number;
  w: number;
  h: number;
  fill?: string;
  stroke?: string;
  strokeWidth?: number;
  /** Tooltip (SVG <title>). */
  title?: string;
  /** Extra attributes for the SVG element (e.g. data-value), ignored by the raster. */
  data?: Record<string, string>;
}

export interface LineShape {
  kind: 'line';
  points: [number, number][];
  stroke: string;
  width: number;
  dash?: boolean;
}

export interface CircleShape {
  kind: 'circle';
  cx: number;
  cy: number;
  r: number;
  fill: string;
  stroke?: string;
  title?: string;
}

export interface TextShape {
  kind: 'text';
  x: number;
  /** Vertical centre of the text. */
  y: number;
  text: string;
  size: number;
  fill: string;
  anchor: 'start' | 'middle' | 'end';
  bold?: boolean;
  /** Degrees; only 0 and -90 (reading upwards) are used. */
  rotate?: 0 | -90;
  /** Full text when `text` is shortened to fit. */
  title?: string;
  /** CSS class on the SVG element, for tests and styling. */
  className?: string;
}

export type Shape = RectShape | LineShape | CircleShape | TextShape;

export interface Scene {
  width: number;
  height: number;
  background: string;
  /** Accessible name of the figure. */
  title: string;
  shapes: Shape[];
}
