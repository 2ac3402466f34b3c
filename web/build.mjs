// Builds the web UI into web/dist/: index.html, one JS and one CSS file under
// assets/ whose names carry a content hash (the server caches /assets/ for a year).
// cmake/EmbedWeb.cmake then embeds every file of dist/ into the taskmill binary.
//
//   node build.mjs            build once (minified)
//   node build.mjs --watch    rebuild on change, for work on the UI against a running server
import * as esbuild from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const watch = process.argv.includes('--watch');

// Writes index.html naming the hashed bundle files found in the esbuild metafile.
async function writeIndex(metafile) {
  const outputs = Object.keys(metafile.outputs);
  const js = outputs.find((p) => p.endsWith('.js'));
  const css = outputs.find((p) => p.endsWith('.css'));
  if (!js || !css) throw new Error('build: esbuild produced no JS or no CSS bundle');
  const template = await readFile(join(root, 'index.html'), 'utf8');
  const html = template
    .replace('%CSS%', `/assets/${basename(css)}`)
    .replace('%JS%', `/assets/${basename(js)}`);
  await writeFile(join(dist, 'index.html'), html);
  const sizes = outputs.map((p) => `${basename(p)} ${(metafile.outputs[p].bytes / 1024).toFixed(1)} KiB`);
  console.log(`web: built ${sizes.join(', ')}`);
}

const options = {
  entryPoints: [join(root, 'src/main.js')],
  bundle: true,
  minify: !watch,
  sourcemap: false,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: join(dist, 'assets'),
  entryNames: 'app-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [
    {
      name: 'index-html',
      setup(build) {
        build.onEnd(async (result) => {
          if (result.errors.length === 0) await writeIndex(result.metafile);
        });
      },
    },
  ],
};

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
  console.log('web: watching src/ (Ctrl-C to stop)');
} else {
  await esbuild.build(options);
}
