// A sparkline: one small inline SVG polyline, for the dashboard's per-queue figures.
// uPlot would cost a canvas and its setup per queue; a polyline of 60 points costs one
// DOM node. Unknown points (null: before the server began counting, or a minute in
// which no run started) break the line instead of reading as zero.
import { html } from './html.js';

const WIDTH = 64;
const HEIGHT = 18;

// The SVG path of `values` scaled into the box: "M x y L x y …", with a new "M" after
// each gap; a lone point is drawn as a dot (a zero-length segment with round caps).
export function sparkPath(values, width = WIDTH, height = HEIGHT) {
  const known = values.filter((v) => v !== null && v !== undefined);
  if (known.length === 0) return '';
  const max = Math.max(...known) || 1;
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  let path = '';
  let drawing = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      drawing = false;
      return;
    }
    const x = (i * step).toFixed(1);
    // One pixel of margin so that the stroke at 0 and at max is not cut in half.
    const y = (height - 1 - (v / max) * (height - 2)).toFixed(1);
    path += `${drawing ? 'L' : 'M'}${x} ${y}`;
    if (!drawing && (i === values.length - 1 || values[i + 1] === null || values[i + 1] === undefined)) {
      path += `L${x} ${y}`;
    }
    drawing = true;
  });
  return path;
}

export function Sparkline({ values, label, kind = 'runs', name }) {
  return html`<svg class=${`sparkline sparkline-${kind}`} width=${WIDTH} height=${HEIGHT}
    viewBox=${`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label=${label} data-spark=${name || kind}
    data-points=${values.filter((v) => v !== null && v !== undefined).length}>
    <title>${label}</title>
    <line class="spark-base" x1="0" y1=${HEIGHT - 0.5} x2=${WIDTH} y2=${HEIGHT - 0.5} />
    <path d=${sparkPath(values)} />
  </svg>`;
}
