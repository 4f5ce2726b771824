// Prints the gzipped size of each built chunk and fails when the entry chunk (what the first
// page load needs) passes its budget: 400 KB gzipped. The editor, forms, code view and palette
// are separate chunks loaded on demand.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET = 400 * 1024;
const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const entries = new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]));
let initial = 0;
const rows = [];
for (const file of readdirSync(join(dist, 'assets'))) {
  if (!/\.(js|css)$/.test(file)) continue;
  const size = gzipSync(readFileSync(join(dist, 'assets', file))).length;
  const first = entries.has(`assets/${file}`);
  if (first) initial += size;
  rows.push([file, size, first]);
}
rows.sort((a, b) => b[1] - a[1]);
for (const [file, size, first] of rows) console.log(`${(size / 1024).toFixed(1).padStart(7)} KB gz  ${first ? 'first load ' : 'on demand  '} ${file}`);
console.log(`first load: ${(initial / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (initial > BUDGET) {
  console.error('the first load is over budget');
  process.exit(1);
}
