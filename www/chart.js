// A small live line chart on a <canvas>: one line per series over the last `windowMs`, time on x.
// Drawn by hand; redraws at most ~10 times a second while the page is visible.

import { formatNumber } from './common.js';

const PALETTE = ['--chart-1', '--chart-2', '--chart-3', '--chart-4', '--chart-5', '--chart-6'];
const MAX_POINTS = 5000;     // per series; keeps memory bounded when events arrive fast
const FRAME_MS = 100;

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLElement} legend  a <ul> that gets one <li> per series
   */
  constructor(canvas, legend, { windowMs = 60_000 } = {}) {
    this.canvas = canvas;
    this.legend = legend;
    this.windowMs = windowMs;
    this.series = new Map(); // name -> { points: [{t, v}], sorted, colorIndex, valueEl }
    this.lastDraw = 0;
    this.frame = this.frame.bind(this);
    requestAnimationFrame(this.frame);
  }

  /** Add one sample per field at time `t` (ms since epoch). */
  add(t, fields) {
    for (const [name, v] of Object.entries(fields)) {
      let s = this.series.get(name);
      if (!s) s = this.addSeries(name);
      const last = s.points[s.points.length - 1];
      if (last && t < last.t) s.sorted = false; // history and several publishers can interleave
      s.points.push({ t, v });
      // trimmed in steps, not one point per event (each trim moves every point)
      if (s.points.length > MAX_POINTS + MAX_POINTS / 10) s.points.splice(0, s.points.length - MAX_POINTS);
      s.latest = v;
    }
  }

  addSeries(name) {
    const s = { points: [], sorted: true, colorIndex: this.series.size % PALETTE.length, latest: undefined };
    this.series.set(name, s);
    if (this.legend) {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `var(${PALETTE[s.colorIndex]})`;
      const value = document.createElement('span');
      value.className = 'value';
      li.append(swatch, document.createTextNode(name), value);
      this.legend.append(li);
      s.valueEl = value;
    }
    return s;
  }

  frame(now) {
    // The x axis moves with the clock, so redraw periodically whether or not data came in.
    if (now - this.lastDraw >= FRAME_MS) {
      this.lastDraw = now;
      // Each draw re-reads the element's size and devicePixelRatio, which covers resizes and zoom.
      this.draw();
    }
    // The next frame is asked for when the next draw is due: a frame requested at every vsync would
    // have the browser update its layers 60 times a second for nothing.
    const wait = Math.max(0, this.lastDraw + FRAME_MS - performance.now());
    setTimeout(() => requestAnimationFrame(this.frame), wait);
  }

  draw() {
    const { canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth;
    const cssH = canvas.clientHeight;
    if (cssW === 0 || cssH === 0) return; // hidden
    const w = Math.round(cssW * dpr);
    const h = Math.round(cssH * dpr);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0); // draw in CSS pixels from here on
    ctx.clearRect(0, 0, cssW, cssH);

    const css = getComputedStyle(canvas);
    const color = (name) => css.getPropertyValue(name).trim() || '#888';
    const fg = color('--fg');
    const muted = color('--muted');
    const grid = color('--grid');
    ctx.font = `12px ${css.fontFamily}`;

    const now = Date.now();
    const t0 = now - this.windowMs;

    // y range over the visible points
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of this.series.values()) {
      if (!s.sorted) { s.points.sort((a, b) => a.t - b.t); s.sorted = true; }
      prune(s.points, t0 - 5000);
      for (const p of s.points) {
        if (p.t < t0) continue;
        if (p.v < lo) lo = p.v;
        if (p.v > hi) hi = p.v;
      }
      if (s.valueEl && s.latest !== undefined) s.valueEl.textContent = formatNumber(s.latest);
    }
    const empty = lo === Infinity;
    if (empty) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    const ticks = niceTicks(lo, hi, Math.max(2, Math.floor(cssH / 50)));
    lo = Math.min(lo, ticks[0]);
    hi = Math.max(hi, ticks[ticks.length - 1]);

    // plot area, leaving room for the tick labels and the axis titles
    const labelW = Math.max(...ticks.map((v) => ctx.measureText(formatNumber(v)).width));
    const left = 22 + labelW + 6;
    const right = cssW - 16; // room for half of the 'now' label
    const top = 10;
    const bottom = cssH - 38;
    const x = (t) => left + ((t - t0) / this.windowMs) * (right - left);
    const y = (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);

    // grid and y tick labels
    ctx.lineWidth = 1;
    ctx.strokeStyle = grid;
    ctx.fillStyle = muted;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of ticks) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(right, yy); ctx.stroke();
      ctx.fillText(formatNumber(v), left - 6, yy);
    }
    // x ticks every 10 s, labelled in seconds before now
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let s = 0; s <= this.windowMs / 1000; s += 10) {
      const xx = Math.round(x(now - s * 1000)) + 0.5;
      ctx.beginPath(); ctx.moveTo(xx, top); ctx.lineTo(xx, bottom); ctx.stroke();
      ctx.fillText(s === 0 ? 'now' : `−${s}`, xx, bottom + 4);
    }
    // axes and their titles
    ctx.strokeStyle = muted;
    ctx.beginPath(); ctx.moveTo(left + 0.5, top); ctx.lineTo(left + 0.5, bottom + 0.5); ctx.lineTo(right, bottom + 0.5); ctx.stroke();
    ctx.fillStyle = fg;
    ctx.fillText('time (seconds ago)', (left + right) / 2, bottom + 20);
    ctx.save();
    ctx.translate(10, (top + bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle';
    ctx.fillText('value', 0, 0);
    ctx.restore();

    if (empty) {
      ctx.fillStyle = muted;
      ctx.textBaseline = 'middle';
      ctx.fillText('no events in the last minute', (left + right) / 2, (top + bottom) / 2);
      return;
    }

    // the lines, clipped to the plot area
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - 2, right - left, bottom - top + 4);
    ctx.clip();
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    for (const s of this.series.values()) {
      ctx.strokeStyle = color(PALETTE[s.colorIndex]);
      ctx.beginPath();
      let drawn = 0;
      let last;
      // points up to 5 s before the window are kept, so a line enters from the left edge
      for (const p of s.points) {
        if (drawn) ctx.lineTo(x(p.t), y(p.v));
        else ctx.moveTo(x(p.t), y(p.v));
        drawn++;
        last = p;
      }
      ctx.stroke();
      // a lone point has no line segment; mark it
      if (drawn === 1) {
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fillRect(x(last.t) - 2, y(last.v) - 2, 4, 4);
      }
    }
    ctx.restore();
  }

}

/** Drop the points (sorted by time) older than `before` (ms). */
function prune(points, before) {
  let i = 0;
  while (i < points.length && points[i].t < before) i++;
  if (i > 0) points.splice(0, i);
}

/** About `count` round tick values covering [lo, hi]. */
function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step) * step;
  const ticks = [];
  for (let v = first; v <= hi + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}
