// A flow's DAG drawn as inline SVG: steps in layers by the longest path from the
// entrance, edges as curves between them. Drawn by hand on purpose: a flow has a few
// to a few dozen steps, which a layered layout places well in some fifty lines (the
// whole page adds 5 KiB gzipped to the bundle), while dagre, the usual layout library,
// brings a graph library (and lodash, in its older line) for crossing minimisation and
// edge routing that graphs of this size do not need.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { statusLabel } from './format.js';

export const NODE_W = 210;
export const NODE_H = 92;
const GAP_LAYER = 56; // between layers
const GAP_SIBLING = 22; // between the steps of one layer
const PAD = 8;

// layers: [[stepName, …], …], layer 0 the entrance. A step's layer is the length of the
// longest path to it from the entrance, so that every edge points to a later layer.
// Steps out of reach of the entrance (a definition the server refused to load would
// be the only way) go to layer 0 rather than vanish.
export function layerSteps(stepNames, edges) {
  const preds = new Map(stepNames.map((n) => [n, []]));
  const succs = new Map(stepNames.map((n) => [n, []]));
  for (const { from, to } of edges) {
    if (!preds.has(from) || !preds.has(to)) continue;
    succs.get(from).push(to);
    preds.get(to).push(from);
  }
  // Kahn's order; what is left on a cycle (never loaded: the loader refuses cycles)
  // keeps layer 0.
  const indegree = new Map(stepNames.map((n) => [n, preds.get(n).length]));
  const queue = stepNames.filter((n) => indegree.get(n) === 0);
  const layer = new Map(stepNames.map((n) => [n, 0]));
  while (queue.length > 0) {
    const n = queue.shift();
    for (const s of succs.get(n)) {
      layer.set(s, Math.max(layer.get(s), layer.get(n) + 1));
      indegree.set(s, indegree.get(s) - 1);
      if (indegree.get(s) === 0) queue.push(s);
    }
  }
  const count = Math.max(0, ...layer.values()) + 1;
  const layers = Array.from({ length: count }, () => []);
  for (const n of stepNames) layers[layer.get(n)].push(n);
  // One pass of barycentres: a step sits near the middle of the steps it follows,
  // which removes the crossings of the usual fan-out / fan-in shapes.
  const position = new Map();
  layers.forEach((names, i) => {
    if (i > 0) {
      const centre = (n) => {
        const ps = preds.get(n).filter((p) => position.has(p));
        return ps.length ? ps.reduce((sum, p) => sum + position.get(p), 0) / ps.length : Infinity;
      };
      names.sort((a, b) => centre(a) - centre(b));
    }
    names.forEach((n, k) => position.set(n, k - (names.length - 1) / 2));
  });
  return layers;
}

// {width, height, nodes: Map name → {x, y}} with layers left to right (horizontal)
// or top to bottom.
export function placeSteps(layers, horizontal) {
  const widest = Math.max(1, ...layers.map((l) => l.length));
  const across = (n) => (horizontal ? n * NODE_H + (n - 1) * GAP_SIBLING : n * NODE_W + (n - 1) * GAP_SIBLING);
  const span = across(widest);
  const nodes = new Map();
  layers.forEach((names, i) => {
    const offset = (span - across(names.length)) / 2;
    names.forEach((name, k) => {
      const along = i * ((horizontal ? NODE_W : NODE_H) + GAP_LAYER);
      const side = offset + k * ((horizontal ? NODE_H : NODE_W) + GAP_SIBLING);
      nodes.set(name, horizontal ? { x: PAD + along, y: PAD + side } : { x: PAD + side, y: PAD + along });
    });
  });
  const length = layers.length * ((horizontal ? NODE_W : NODE_H) + GAP_LAYER) - GAP_LAYER;
  return horizontal
    ? { width: length + 2 * PAD, height: span + 2 * PAD, nodes }
    : { width: span + 2 * PAD, height: length + 2 * PAD, nodes };
}

function edgePath(a, b, horizontal) {
  if (horizontal) {
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x - 4;
    const y2 = b.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
  }
  const x1 = a.x + NODE_W / 2;
  const y1 = a.y + NODE_H;
  const x2 = b.x + NODE_W / 2;
  const y2 = b.y - 4;
  const mid = (y1 + y2) / 2;
  return `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function childrenText(c) {
  return `${c.done} done / ${c.failed} failed / ${c.total} total`;
}

function StepNode({ step, at, onOpen }) {
  const c = step.children || { total: 0, done: 0, failed: 0, running: 0 };
  const hasChildren = Boolean(step.child_func) || c.total > 0;
  const barW = NODE_W - 24;
  const share = (n) => (c.total > 0 ? (n / c.total) * barW : 0);
  const label = `Step ${step.name}: ${statusLabel(step.state)}, attempts ${step.attempts} of ${step.max_attempts}${
    hasChildren ? `, children ${childrenText(c)}` : ''
  }${step.run_id ? '. Opens its run.' : ''}`;
  const open = () => step.run_id && onOpen(step);
  return html`<g
    class=${`flow-node flow-state-${step.state}${step.run_id ? ' has-run' : ''}`}
    transform=${`translate(${at.x},${at.y})`}
    data-step=${step.name}
    data-state=${step.state}
    role=${step.run_id ? 'link' : 'img'}
    tabindex=${step.run_id ? '0' : undefined}
    aria-label=${label}
    onClick=${open}
    onKeyDown=${(e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        open();
      }
    }}
  >
    <title>${label}</title>
    <rect class="flow-box" width=${NODE_W} height=${NODE_H} rx="8" />
    <rect class="flow-stripe" width="6" height=${NODE_H} rx="3" />
    <text class="flow-name" x="16" y="24">${clip(step.name, 24)}</text>
    <text class="flow-meta" x="16" y="44"
      ><tspan class="flow-state-text" data-state-text>${statusLabel(step.state)}</tspan> · attempts ${step.attempts}/${step.max_attempts}</text
    >
    ${hasChildren &&
    html`<g class="flow-children" data-children=${childrenText(c)}>
      <rect class="flow-bar" x="12" y="56" width=${barW} height="8" rx="4" />
      <rect class="flow-bar-ok" x="12" y="56" width=${share(c.done)} height="8" rx="4" />
      <rect class="flow-bar-bad" x=${12 + share(c.done)} y="56" width=${share(c.failed)} height="8" rx="4" />
      <text class="flow-meta" x="12" y="82">${childrenText(c)}</text>
    </g>`}
  </g>`;
}

// The graph of a flow run (GET /api/v1/flows/runs/{id}): layers left to right when
// they fit the width at hand, top to bottom otherwise (a phone).
export function FlowGraph({ graph, onOpen }) {
  const box = useRef(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    setWidth(el.clientWidth);
    if (typeof ResizeObserver === 'undefined') return undefined;
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const names = graph.steps.map((s) => s.name);
  // The entrance first, so that it leads its layer.
  names.sort((a, b) => (a === graph.entrance ? -1 : b === graph.entrance ? 1 : 0));
  const layers = layerSteps(names, graph.edges);
  const wide = placeSteps(layers, true);
  const horizontal = width === 0 || wide.width <= width;
  const placed = horizontal ? wide : placeSteps(layers, false);
  const byName = new Map(graph.steps.map((s) => [s.name, s]));
  const summary = `Flow ${graph.flow}: ${graph.steps.length} steps in ${layers.length} layers, from ${graph.entrance}.`;
  return html`<div class="flow-graph" ref=${box}>
    <svg
      width=${placed.width}
      height=${placed.height}
      viewBox=${`0 0 ${placed.width} ${placed.height}`}
      role="group"
      aria-label=${summary}
      data-orientation=${horizontal ? 'horizontal' : 'vertical'}
    >
      <defs>
        <marker id="flow-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="flow-arrow" />
        </marker>
      </defs>
      ${graph.edges
        .filter((e) => placed.nodes.has(e.from) && placed.nodes.has(e.to))
        .map(
          (e) => html`<path
            key=${`${e.from}->${e.to}`}
            class="flow-edge"
            data-edge=${`${e.from}->${e.to}`}
            d=${edgePath(placed.nodes.get(e.from), placed.nodes.get(e.to), horizontal)}
            marker-end="url(#flow-arrow)"
          />`,
        )}
      ${names.map((n) => html`<${StepNode} key=${n} step=${byName.get(n)} at=${placed.nodes.get(n)} onOpen=${onOpen} />`)}
    </svg>
  </div>`;
}
