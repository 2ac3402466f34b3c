// Tagged templates for Preact (htm): html`<div class=${x}>…</div>`, no JSX build step.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
