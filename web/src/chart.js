// The throughput chart (uPlot), sized to its container.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { clockTime } from './format.js';
import { html } from './html.js';

export function ThroughputChart({ xs, ys, label }) {
  const box = useRef(null);
  const plot = useRef(null);

  useEffect(() => {
    const el = box.current;
    const width = () => Math.max(200, el.clientWidth);
    const height = () => (el.clientWidth < 500 ? 160 : 220);
    plot.current = new uPlot(
      {
        width: width(),
        height: height(),
        legend: { show: false },
        cursor: { y: false, points: { size: 6 } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
        axes: [
          {
            stroke: '#5b6472',
            grid: { stroke: '#eef0f4' },
            ticks: { stroke: '#d5d9e0' },
            space: 64,
            size: 32,
            incrs: [60, 120, 300, 600, 900, 1800, 3600],
            values: (u, splits) => splits.map((v) => clockTime(v * 1000)),
          },
          {
            stroke: '#5b6472',
            grid: { stroke: '#eef0f4' },
            ticks: { stroke: '#d5d9e0' },
            size: 48,
            values: (u, splits) => splits.map((v) => (v >= 100 ? Math.round(v) : +v.toFixed(2))),
          },
        ],
        series: [
          {},
          {
            label: 'finished runs/s',
            stroke: '#2453a6',
            width: 2,
            fill: 'rgba(36, 83, 166, 0.12)',
            spanGaps: false,
            // Dots while there are few buckets, so that a lone value is visible.
            points: { show: (u, si, i0, i1) => i1 - i0 <= 60, size: 5 },
          },
        ],
      },
      [xs, ys],
      el,
    );
    const observer = new ResizeObserver(() => {
      if (plot.current) plot.current.setSize({ width: width(), height: height() });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.current.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    if (plot.current) plot.current.setData([xs, ys]);
  }, [xs, ys]);

  return html`<div class="chart" ref=${box} role="img" aria-label=${label}></div>`;
}
