// End-to-end test of the Studio in Debian's Chromium against a real `aion serve` with a fresh
// data dir: first-run setup, create a flow, build 3 nodes by dragging from the palette and
// connecting ports, fix a compiler error shown on a node, save, run, read each step's output,
// retry from a step, a bad YAML in the code view, a conflicting save, Ctrl+K, sign-out.
// Screenshots of each page go to test-results/. Prints "N passed, N failed".
//
// AION_BIN: the aion binary (default: the cargo target's debug build). CHROMIUM: the browser.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, copyFileSync, mkdirSync, existsSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const studio = join(here, '..');
const out = join(studio, 'test-results');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const bin = process.env.AION_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(process.env.HOME ?? '/root', '.cache/aion/target'), 'debug/aion');
if (!existsSync(bin)) {
  console.error(`no aion binary at ${bin}; build it (cargo build -p aion-cli) or set AION_BIN`);
  process.exit(2);
}
const browserPath = process.env.CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
if (!browserPath) {
  console.error('no chromium: apt-get install chromium');
  process.exit(2);
}
if (!existsSync(join(studio, 'dist/index.html'))) {
  console.error('no dist/: run `npm run build` first');
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'aion-studio-e2e-'));
// A copy, so a concurrent rebuild does not swap the binary under the test.
const aion = join(work, 'aion');
copyFileSync(bin, aion);
chmodSync(aion, 0o755);

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const children = [];
function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  children.push(child);
  child.log = () => log;
  return child;
}
async function waitFor(url, ms = 30000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return r;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer in ${ms} ms`);
}

const apiPort = await freePort();
const dataDir = join(work, 'data');
let server = start(aion, ['serve', '--listen', `127.0.0.1:${apiPort}`, '--data-dir', dataDir]);
await waitFor(`http://127.0.0.1:${apiPort}/healthz`);

// The server serves the Studio itself; until it does, Vite's preview server serves dist/ and
// proxies /api to it.
let base = `http://127.0.0.1:${apiPort}`;
const root = await fetch(`${base}/flows`).then((r) => r.text()).catch(() => '');
if (!root.includes('<div id="root">')) {
  const uiPort = await freePort();
  start(join(studio, 'node_modules/.bin/vite'), ['preview', '--port', String(uiPort), '--strictPort', '--host', '127.0.0.1'], {
    cwd: studio,
    env: { ...process.env, AION_URL: base },
  });
  base = `http://127.0.0.1:${uiPort}`;
  await waitFor(base);
  console.error(`note: aion serve does not serve the Studio yet; using vite preview on ${base}`);
}

const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox', '--headless=new'] });
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
const page = await context.newPage();
page.setDefaultTimeout(10000);
page.on('dialog', (d) => void d.accept());
const consoleErrors = [];
page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
page.on('pageerror', (e) => consoleErrors.push(String(e)));

let passed = 0;
let failed = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message.split('\n').slice(0, 6).join('\n     ') : e}`);
    await page.screenshot({ path: join(out, `failed-${name.replace(/\W+/g, '-')}.png`) }).catch(() => {});
  }
}
const shot = (name) => page.screenshot({ path: join(out, `${name}.png`) });
const expectVisible = (locator, timeout) => locator.first().waitFor({ state: 'visible', timeout });

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';

await step('first load is fast and shows first-run setup', async () => {
  const t0 = Date.now();
  await page.goto(base + '/');
  // `GET /setup` says no user exists yet, so the setup form shows directly.
  await expectVisible(page.getByRole('heading', { name: 'Set up Aion' }));
  const ms = Date.now() - t0;
  if (ms > 2000) throw new Error(`first load took ${ms} ms`);
  await shot('01-sign-in');
});

await step('first-run setup creates the owner and signs in', async () => {
  await expectVisible(page.getByRole('heading', { name: 'Set up Aion' }));
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Confirm password').fill(PASSWORD);
  await shot('02-setup');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expectVisible(page.getByRole('heading', { name: 'Flows' }));
  await expectVisible(page.getByText('No flows yet'));
  await shot('03-flows-empty');
});

await step('after a reload the CSRF token comes from GET /me', async () => {
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  if (!me.csrf_token) throw new Error('GET /me gave no csrf_token to a browser session');
  await page.evaluate(() => localStorage.setItem('aion.csrf', 'stale-token'));
  await page.reload();
  await expectVisible(page.getByRole('heading', { name: 'Flows' }));
  await page.waitForFunction((t) => localStorage.getItem('aion.csrf') === t, me.csrf_token, { timeout: 5000 });
});

await step('create a flow', async () => {
  await page.getByRole('button', { name: 'New flow' }).first().click();
  await page.getByLabel('Name').fill('Greeting pipeline');
  await shot('04-new-flow-dialog');
  await page.getByRole('button', { name: 'Create flow' }).click();
  await page.waitForURL('**/flows/greeting-pipeline');
  await expectVisible(page.getByTestId('flow-title'));
  await expectVisible(page.getByTestId('palette-core.set'), 15000);
  await shot('05-editor-empty');
});

async function dragFromPalette(type, x, y) {
  const canvas = await page.getByTestId('canvas').boundingBox();
  await page.getByTestId(`palette-${type}`).dragTo(page.getByTestId('canvas'), { targetPosition: { x, y }, force: true });
  void canvas;
}
async function connect(from, port, to) {
  const before = await page.locator('.react-flow__edge').count();
  for (let attempt = 0; attempt < 2; attempt++) {
    await dragEdge(from, port, to);
    try {
      await page.waitForFunction((n) => document.querySelectorAll('.react-flow__edge').length > n, before, { timeout: 2000 });
      return;
    } catch {
      // A drag that missed the handle: try once more.
    }
  }
  throw new Error(`could not connect ${from}.${port} -> ${to}`);
}
async function dragEdge(from, port, to) {
  const source = page.locator(`[data-testid="node-${from}"] .react-flow__handle.source[data-handleid="${port}"]`);
  const target = page.locator(`[data-testid="node-${to}"] .react-flow__handle.target`);
  await page.locator(`[data-testid="node-${from}"]`).hover();
  const a = await source.boundingBox();
  const b = await target.boundingBox();
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
  await page.mouse.up();
}

await step('build a 3-node flow by dragging from the palette and connecting ports', async () => {
  // The starter node goes first: select it and press Delete.
  await page.getByTestId('node-start').click();
  await page.keyboard.press('Delete');
  await page.getByTestId('node-start').waitFor({ state: 'detached' });
  await dragFromPalette('core.set', 130, 150);
  await expectVisible(page.getByTestId('node-set'));
  await dragFromPalette('core.if', 400, 300);
  await expectVisible(page.getByTestId('node-if'));
  await dragFromPalette('core.set', 650, 450);
  await expectVisible(page.getByTestId('node-set_2'));
  await connect('set', 'out', 'if');
  await connect('if', 'true', 'set_2');
  await page.waitForFunction(() => document.querySelectorAll('.react-flow__edge').length === 2);
  await page.getByRole('button', { name: 'Auto-layout' }).click();
  await page.waitForTimeout(400);
  await shot('06-editor-three-nodes');
});

await step('a compiler error shows on a node and is fixed in its form', async () => {
  // New nodes have empty configs: the compiler reports the missing fields on them.
  await expectVisible(page.locator('[data-testid^="node-errors-"]'), 15000);
  await page.getByRole('tab', { name: /Problems/ }).click();
  await shot('07-editor-diagnostics');
  // Fill each node's required field through its generated form.
  await page.getByTestId('node-set').click();
  await page.locator('#cfg_value').fill('{"greeting": "Hello, {{ inputs.name | default(\'world\') }}"}');
  await page.getByTestId('node-if').click();
  await page.locator('#cfg_condition').fill('{{ steps.set.output.greeting | length > 3 }}');
  await page.getByTestId('node-set_2').click();
  const field = page.locator('#cfg_value');
  await field.fill('{{ steps.');
  await expectVisible(page.getByTestId('expr-completions'));
  await shot('08-expression-autocomplete');
  await field.fill('{{ steps.set.output.greeting }}!');
  await page.waitForFunction(() => !document.querySelector('[data-testid^="node-errors-"]'), null, { timeout: 15000 });
  await shot('09-editor-valid');
});

await step('save creates a version', async () => {
  await page.keyboard.press('Control+s');
  await expectVisible(page.getByText('Saved version 2'));
  await page.getByTestId('unsaved').waitFor({ state: 'detached' });
});

await step('run it and see each step light up with its output', async () => {
  await page.getByTestId('run-button').click();
  await shot('10-run-dialog');
  await page.getByTestId('run-confirm').click();
  await expectVisible(page.getByTestId('run-panel'));
  await page.waitForFunction(() => document.querySelector('[data-testid="run-panel"] [data-status="succeeded"]'), null, { timeout: 20000 });
  await page.waitForFunction(() => document.querySelector('[data-testid="node-set_2"]')?.getAttribute('data-status') === 'succeeded', null, { timeout: 20000 });
  for (const key of ['set', 'if', 'set_2']) {
    await page.getByTestId(`step-${key}`).click();
    await expectVisible(page.getByTestId('step-details'));
  }
  await expectVisible(page.getByTestId('step-details').getByText('"Hello, world!"'));
  await shot('11-run-succeeded');
});

await step('retry from a step', async () => {
  await page.getByTestId('step-if').click();
  await page.getByRole('button', { name: 'Retry from here' }).click();
  await page.getByRole('button', { name: 'Retry', exact: true }).click();
  await expectVisible(page.getByText('Retrying from if'));
  await page.waitForFunction(() => document.querySelector('[data-testid="run-panel"] [data-status="succeeded"]'), null, { timeout: 20000 });
  await expectVisible(page.getByText(/retry of/));
  await shot('12-retried');
});

await step('invalid YAML in the code view is shown and nothing is lost', async () => {
  await page.getByRole('tab', { name: 'code' }).click();
  const editor = page.locator('.cm-content');
  await expectVisible(editor, 15000);
  await editor.click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('\nnodes: [oops\n');
  await expectVisible(page.getByTestId('code-error'));
  await shot('13-code-invalid-yaml');
  for (let i = 0; i < 10 && (await page.getByTestId('code-error').count()); i++) {
    await page.keyboard.press('Control+z');
    await page.waitForTimeout(150);
  }
  await page.getByTestId('code-error').waitFor({ state: 'detached' });
  await page.getByRole('tab', { name: 'canvas' }).click();
  await expectVisible(page.getByTestId('node-set_2'));
});

await step('a save conflict is shown, not overwritten', async () => {
  // Someone else saves version 3 through the API meanwhile.
  const csrf = await page.evaluate(() => localStorage.getItem('aion.csrf'));
  const res = await page.evaluate(async (csrf) => {
    const latest = await fetch('/api/v1/flows/greeting-pipeline');
    const { document } = await latest.json();
    const r = await fetch('/api/v1/flows/greeting-pipeline', { method: 'PUT', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, 'if-match': latest.headers.get('etag') }, body: JSON.stringify({ document: document.replace('Greeting pipeline', 'Greeting pipeline (theirs)') }) });
    return r.status;
  }, csrf);
  if (res !== 200) throw new Error(`the concurrent save answered ${res}`);
  await page.getByTestId('node-set').click();
  await page.locator('#node-name').fill('Build greeting');
  await page.keyboard.press('Control+s');
  await expectVisible(page.getByTestId('conflict'));
  await expectVisible(page.getByTestId('unsaved'));
  await shot('14-conflict');
  await page.getByRole('button', { name: 'Save mine as a new version' }).click();
  await expectVisible(page.getByText('Saved version 4'));
});

await step('version history compares versions; triggers show a webhook URL and the next cron slots', async () => {
  await page.getByRole('button', { name: 'Versions' }).click();
  await page.getByRole('button', { name: 'Compare' }).last().click();
  await expectVisible(page.getByTestId('version-diff'));
  await shot('14b-versions-diff');
  await page.keyboard.press('Escape');
  await page.locator('.react-flow__pane').click({ position: { x: 20, y: 20 } });
  await expectVisible(page.getByTestId('triggers'));
  await page.getByTestId('triggers').getByRole('button', { name: 'Webhook' }).click();
  await page.getByTestId('triggers').getByRole('button', { name: 'Schedule' }).click();
  await expectVisible(page.getByTestId('cron-preview'));
  await shot('14c-triggers');
});

await step('Ctrl+K opens the command palette and reaches pages and nodes', async () => {
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('Control+k');
  const input = page.getByPlaceholder('Type a command or search flows…');
  await expectVisible(input);
  await input.fill('add log');
  await shot('15-command-palette');
  await page.keyboard.press('Enter');
  await expectVisible(page.getByTestId('node-log'));
  await page.keyboard.press('Control+k');
  await page.getByPlaceholder('Type a command or search flows…').fill('go runs');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/runs');
  await expectVisible(page.getByRole('heading', { name: 'Runs' }));
  await expectVisible(page.getByTestId('dashboard'));
  await shot('16-runs');
});

await step('run page shows steps and output', async () => {
  await page.locator('tbody tr').first().click();
  await page.waitForURL('**/runs/*');
  await expectVisible(page.getByTestId('step-details'));
  await shot('17-run-page');
  await page.getByRole('tab', { name: 'Timeline' }).click();
  await expectVisible(page.getByTestId('gantt'));
  await shot('17b-run-timeline');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot('18-run-page-phone');
  await page.setViewportSize({ width: 1440, height: 900 });
});

await step('settings: variables, API keys, members', async () => {
  await page.goto(base + '/settings?tab=vars');
  await expectVisible(page.getByText('No variables yet'));
  await page.getByLabel('Variable name').fill('greeting_suffix');
  await page.getByLabel('Variable value').fill('"!"');
  await page.getByRole('button', { name: 'Save variable' }).click();
  await expectVisible(page.getByText('greeting_suffix'));
  await shot('25-settings-vars');
  await page.getByRole('tab', { name: 'API keys' }).click();
  await page.getByRole('button', { name: 'New key' }).click();
  await page.getByLabel('Name').fill('ci');
  await page.getByRole('button', { name: 'Create key' }).click();
  await expectVisible(page.getByLabel('API key', { exact: true }));
  const token = await page.getByLabel('API key', { exact: true }).inputValue();
  if (!token.startsWith('aion_')) throw new Error(`unexpected key ${token}`);
  await page.getByRole('button', { name: 'Done' }).click();
  await shot('26-settings-keys');
  await page.getByRole('tab', { name: 'Members' }).click();
  await expectVisible(page.getByText('(you)'));
  await shot('27-settings-members');
});

await step('flows list shows the flow with its last run; dark theme', async () => {
  await page.goto(base + '/flows');
  await expectVisible(page.getByTestId('flow-row-greeting-pipeline'));
  await expectVisible(page.getByTestId('flow-row-greeting-pipeline').locator('[data-status]'));
  await shot('19-flows');
  await page.getByRole('button', { name: 'Toggle theme' }).click();
  await shot('20-flows-dark');
  await page.goto(base + '/flows/greeting-pipeline');
  await expectVisible(page.getByTestId('node-set'));
  await page.waitForTimeout(500);
  await shot('21-editor-dark');
  await page.getByRole('button', { name: 'Toggle theme' }).click().catch(() => {});
});

await step('an expired session asks to sign in again without leaving the page', async () => {
  await page.goto(base + '/flows/greeting-pipeline');
  await expectVisible(page.getByTestId('node-set'));
  await page.getByTestId('node-set').click();
  await page.locator('#node-name').fill('Unsaved label');
  await context.clearCookies();
  await page.keyboard.press('Control+s');
  await expectVisible(page.getByText('Your session has expired'));
  await shot('22-session-expired');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Your session has expired').waitFor({ state: 'detached' });
  await expectVisible(page.getByTestId('unsaved'));
});

async function apiPost(path, body, method = 'POST', extra = {}) {
  return page.evaluate(
    async ([path, body, method, extra]) => {
      const r = await fetch(path, { method, headers: { 'content-type': 'application/json', 'x-csrf-token': localStorage.getItem('aion.csrf'), ...extra }, body: JSON.stringify(body) });
      return { status: r.status, body: await r.text() };
    },
    [path, body, method, extra],
  );
}

await step('the live run view reconnects and catches up when the server restarts mid-run', async () => {
  const slow = 'aion: 1\nid: slow\nnodes:\n  - { id: first, type: core.set, config: { value: 1 } }\n  - { id: pause, type: core.wait, config: { duration: 4s } }\n  - { id: last, type: core.set, config: { value: "{{ steps.first.output + 1 }}" } }\nedges:\n  - { from: first, to: pause }\n  - { from: pause, to: last }\n';
  const created = await apiPost('/api/v1/flows', { document: slow });
  if (created.status !== 201) throw new Error(`creating the slow flow answered ${created.status}: ${created.body}`);
  await page.goto(base + '/flows/slow');
  await expectVisible(page.getByTestId('node-pause'));
  await page.getByTestId('run-button').click();
  await page.getByTestId('run-confirm').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="node-first"]')?.getAttribute('data-status') === 'succeeded', null, { timeout: 10000 });
  // kill -9: the server goes away without finishing anything; the run resumes on restart.
  server.kill('SIGKILL');
  await new Promise((r) => server.once('exit', r));
  await expectVisible(page.getByText('Connection lost, reconnecting…'), 10000);
  await shot('23-reconnecting');
  server = start(aion, ['serve', '--listen', `127.0.0.1:${apiPort}`, '--data-dir', dataDir]);
  await waitFor(`http://127.0.0.1:${apiPort}/healthz`);
  await page.waitForFunction(() => document.querySelector('[data-testid="node-last"]')?.getAttribute('data-status') === 'succeeded', null, { timeout: 30000 });
  await page.getByText('Connection lost, reconnecting…').waitFor({ state: 'detached' });
});

await step('a 300-node flow opens in about a second and zooms smoothly', async () => {
  const nodes = [];
  const edges = [];
  for (let i = 0; i < 300; i++) {
    nodes.push({ id: `n${i}`, type: 'core.set', config: { value: i }, position: { x: (i % 20) * 260, y: Math.floor(i / 20) * 120 } });
    if (i > 0) edges.push({ from: `n${i - 1}`, to: `n${i}` });
  }
  const created = await apiPost('/api/v1/flows', { document: JSON.stringify({ aion: 1, id: 'big', nodes, edges }), format: 'json' });
  if (created.status !== 201) throw new Error(`creating the big flow answered ${created.status}: ${created.body.slice(0, 300)}`);
  const t0 = Date.now();
  await page.goto(base + '/flows/big');
  await page.waitForFunction(() => document.querySelectorAll('.react-flow__node').length > 0);
  const openMs = Date.now() - t0;
  const box = await page.getByTestId('canvas').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const frames = await page.evaluate(async () => {
    const times = [];
    let last = performance.now();
    let stop = false;
    const tick = (t) => { times.push(t - last); last = t; if (!stop) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    return times;
  }).then(async (p) => p);
  void frames;
  const t1 = Date.now();
  for (let i = 0; i < 10; i++) await page.mouse.wheel(0, i < 5 ? -200 : 200);
  for (let i = 0; i < 5; i++) {
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 80, box.y + box.height / 2 + 40, { steps: 8 });
    await page.mouse.up();
  }
  const panMs = Date.now() - t1;
  await shot('24-big-flow');
  console.log(`     300 nodes: opened in ${openMs} ms; 10 zooms + 5 pans in ${panMs} ms`);
  if (openMs > 2500) throw new Error(`opening took ${openMs} ms`);
});

await step('sign out', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expectVisible(page.getByRole('heading', { name: 'Sign in to Aion' }));
});

if (consoleErrors.length) console.log(`browser console errors:\n  ${consoleErrors.slice(0, 10).join('\n  ')}`);
await browser.close();
// Stop what the test started: SIGTERM, then SIGKILL for anything still there after 5 s.
await Promise.all(
  children.map(
    (c) =>
      new Promise((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
        c.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        c.kill('SIGTERM');
      }),
  ),
);
if (failed) console.log(`server log (tail):\n${server.log().split('\n').slice(-30).join('\n')}`);
console.log(`screenshots in ${out}`);
console.log(`${passed} passed, ${failed} failed`);
rmSync(work, { recursive: true, force: true });
void execFileSync;
process.exit(failed ? 1 : 0);
