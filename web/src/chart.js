// The throughput charts (uPlot), sized to their container. `lines`: one or more
// [{label, ys, color}] over the same xs (seconds), e.g. completed and failed runs.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { axisNumber, clockTime } from './format.js';
import { html } from './html.js';

// The y axis is as wide as its longest label ("25,000" needs more room than "5"):
// uPlot calls this with the labels it is about to draw.
export function axisWidth(values) {
  const longest = (values || []).reduce((m, v) => Math.max(m, String(v ?? '').length), 1);
  return Math.ceil(longest * 7.5 + 20);
}

function cssColor(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export function ThroughputChart({ xs, ys, lines, label }) {
  const box = useRef(null);
  const plot = useRef(null);
  const series = lines || [{ label: 'finished runs/s', ys, color: '#2453a6' }];
  const data = [xs, ...series.map((l) => l.ys)];

  useEffect(() => {
    const el = box.current;
    const width = () => Math.max(200, el.clientWidth);
    const height = () => (el.clientWidth < 500 ? 160 : 220);
    const text = cssColor('--muted', '#5b6472');
    const grid = cssColor('--line-soft', '#eef0f4');
    plot.current = new uPlot(
      {
        width: width(),
        height: height(),
        legend: { show: series.length > 1 },
        cursor: { y: false, points: { size: 6 } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
        axes: [
          {
            stroke: text,
            grid: { stroke: grid },
            ticks: { stroke: grid },
            space: 64,
            size: 32,
            incrs: [60, 120, 300, 600, 900, 1800, 3600],
            values: (u, splits) => splits.map((v) => clockTime(v * 1000)),
          },
          {
            stroke: text,
            grid: { stroke: grid },
            ticks: { stroke: grid },
            size: (u, values) => axisWidth(values),
            values: (u, splits) => splits.map(axisNumber),
          },
        ],
        series: [
          {},
          ...series.map((l) => ({
            label: l.label,
            stroke: l.color,
            width: 2,
            fill: `${l.color}1f`,
            spanGaps: false,
            // Dots while there are few buckets, so that a lone value is visible.
            points: { show: (u, si, i0, i1) => i1 - i0 <= 60, size: 5 },
          })),
        ],
      },
      data,
      el,
    );
    el._uplot = plot.current; // for the browser tests, which read the axes
    const observer = new ResizeObserver(() => {
      if (plot.current) plot.current.setSize({ width: width(), height: height() });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.current.destroy();
      plot.current = null;
    };
  }, [series.length]);

  useEffect(() => {
    if (plot.current) plot.current.setData(data);
  }, [xs, ...series.map((l) => l.ys)]);

  return html`<div class="chart" ref=${box} role="img" aria-label=${label}></div>`;
}
