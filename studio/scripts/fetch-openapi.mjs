// Saves the OpenAPI document of a running `aion serve` to src/api/openapi.json, the source
// of the generated API types (`npm run api:refresh`). AION_URL picks the server.
import { writeFile } from 'node:fs/promises';

const base = process.env.AION_URL ?? 'http://127.0.0.1:8080';
const response = await fetch(new URL('/api/v1/openapi.json', base));
if (!response.ok) {
  console.error(`GET ${base}/api/v1/openapi.json answered ${response.status}`);
  process.exit(1);
}
const doc = await response.json();
await writeFile(new URL('../src/api/openapi.json', import.meta.url), JSON.stringify(doc, null, 2) + '\n');
console.error(`saved the OpenAPI document of ${base} (${Object.keys(doc.paths ?? {}).length} paths)`);
