// Builds the sno dashboard into web/dist/ (what the relay serves from its
// web_root): src/main.js (+ the CSS it imports) is bundled and minified by
// esbuild into content-hashed assets/app-[hash].js and assets/app-[hash].css,
// and src/index.html is copied to dist/index.html pointing at them; each
// text file also gets a gzip twin (FILE.gz) that the relay serves.
// Usage: node build.mjs [--dev]   (--dev: no minify, inline source maps)
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');
const tmp = path.join(here, `dist.tmp-${process.pid}`);
const dev = process.argv.includes('--dev');

fs.rmSync(tmp, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: { app: path.join(src, 'main.js') },
  bundle: true,
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: path.join(tmp, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
});

// Find the emitted entry files by extension; paths are relative to dist.
const outs = Object.keys(result.metafile.outputs)
  .map((p) => path.relative(tmp, path.resolve(p)).split(path.sep).join('/'));
const js = outs.find((p) => /^assets\/app-[A-Z0-9]+\.js$/i.test(p));
const css = outs.find((p) => /^assets\/app-[A-Z0-9]+\.css$/i.test(p));
if (!js || !css) throw new Error(`build: missing outputs in ${outs.join(', ')}`);

let html = fs.readFileSync(path.join(src, 'index.html'), 'utf8');
html = html.replace('%APP_CSS%', `/${css}`).replace('%APP_JS%', `/${js}`);
if (html.includes('%APP_')) throw new Error('build: unreplaced placeholder');
fs.writeFileSync(path.join(tmp, 'index.html'), html);

// FILE.gz beside each text file: the relay sends it to browsers that accept
// gzip (the bundle shrinks to about a third). Skipped when it saves nothing.
for (const p of outs.concat('index.html')) {
  const f = path.join(tmp, p);
  if (!/\.(js|css|html|svg|txt|json)$/.test(p) || !fs.existsSync(f)) continue;
  const data = fs.readFileSync(f);
  const gz = zlib.gzipSync(data, { level: 9 });
  if (gz.length < data.length) fs.writeFileSync(`${f}.gz`, gz);
}

// Swap the new tree in at once so the relay never serves a half-built dist.
fs.rmSync(dist, { recursive: true, force: true });
fs.renameSync(tmp, dist);
let total = 0;
for (const p of outs.concat('index.html')) {
  const f = path.join(dist, p);
  if (!fs.existsSync(f)) continue;
  const n = fs.statSync(f).size;
  total += n;
  console.log(`  dist/${p}  ${(n / 1024).toFixed(1)} kB`);
}
console.log(`web: built dist/ (${(total / 1024).toFixed(1)} kB)`);
