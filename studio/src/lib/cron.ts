// A preview of cron schedules for the triggers panel: a short description and the next fire
// times, for 5-field (minute hour day month weekday) or 6-field (seconds first) expressions,
// in the browser's time zone or a named IANA zone. The server's scheduler (croner) is the
// authority; this is only a preview and says so when it cannot read an expression.

interface Field {
  values: Set<number>;
  any: boolean;
}

const RANGES: Array<[number, number]> = [
  [0, 59], // second
  [0, 59], // minute
  [0, 23], // hour
  [1, 31], // day of month
  [1, 12], // month
  [0, 6], // day of week (0 = Sunday; 7 is also Sunday)
];
const NAMES: Record<string, number> = {
  jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12,
  sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6,
};

function parseField(text: string, [lo, hi]: [number, number], weekday: boolean): Field | null {
  const values = new Set<number>();
  const any = text === '*' || text === '?';
  for (const part of text.toLowerCase().split(',')) {
    const m = /^(\*|\?|[a-z0-9]+)(?:-([a-z0-9]+))?(?:\/(\d+))?$/.exec(part);
    if (!m) return null;
    const num = (s: string) => (s in NAMES ? NAMES[s] : /^\d+$/.test(s) ? Number(s) : NaN);
    let from = m[1] === '*' || m[1] === '?' ? lo : num(m[1]);
    let to = m[2] !== undefined ? num(m[2]) : m[1] === '*' || m[1] === '?' || m[3] ? hi : from;
    const step = m[3] ? Number(m[3]) : 1;
    if (weekday) {
      if (from === 7) from = 0;
      if (to === 7) to = 6;
    }
    if (Number.isNaN(from) || Number.isNaN(to) || from < lo || to > hi || from > to || step < 1) return null;
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return { values, any };
}

export interface CronPreview {
  description: string;
  next: Date[];
}

/** The schedule's next `count` fire times after `from`, or null when the preview cannot read it. */
export function previewCron(expr: string, timezone?: string, count = 3, from = new Date()): CronPreview | null {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) return null;
  const full = parts.length === 5 ? ['0', ...parts] : parts;
  const fields = full.map((p, i) => parseField(p, RANGES[i], i === 5));
  if (fields.some((f) => f === null)) return null;
  const [sec, min, hour, dom, mon, dow] = fields as Field[];
  const next: Date[] = [];
  // Walk minute by minute (seconds inside), in the zone's wall time, for at most a year.
  let t = Math.floor(from.getTime() / 1000) + 1;
  const end = t + 366 * 86400;
  const wall = zoned(timezone);
  while (t < end && next.length < count) {
    const w = wall(t * 1000);
    if (!mon.values.has(w.month)) {
      t += (60 - w.second) + 60 * (59 - w.minute) + 3600 * (23 - w.hour);
      continue;
    }
    const dayOk = dom.any && dow.any ? true : dom.any ? dow.values.has(w.weekday) : dow.any ? dom.values.has(w.day) : dom.values.has(w.day) || dow.values.has(w.weekday);
    if (!dayOk) {
      t += (60 - w.second) + 60 * (59 - w.minute) + 3600 * (23 - w.hour);
      continue;
    }
    if (!hour.values.has(w.hour)) {
      t += (60 - w.second) + 60 * (59 - w.minute);
      continue;
    }
    if (!min.values.has(w.minute)) {
      t += 60 - w.second;
      continue;
    }
    if (sec.values.has(w.second)) next.push(new Date(t * 1000));
    t += 1;
  }
  return { description: describe(parts), next };
}

function zoned(timezone?: string): (ms: number) => { month: number; day: number; weekday: number; hour: number; minute: number; second: number } {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: timezone || undefined, hourCycle: 'h23', month: 'numeric', day: 'numeric', weekday: 'short', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  } catch {
    fmt = new Intl.DateTimeFormat('en-US', { hourCycle: 'h23', month: 'numeric', day: 'numeric', weekday: 'short', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  }
  const days: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
  return (ms) => {
    const p = Object.fromEntries(fmt.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
    return { month: Number(p.month), day: Number(p.day), weekday: days[p.weekday], hour: Number(p.hour) % 24, minute: Number(p.minute), second: Number(p.second) };
  };
}

/** A few common shapes in words; others are shown as they are. */
function describe(parts: string[]): string {
  const [m, h, dom, mon, dow] = parts.length === 6 ? parts.slice(1) : parts;
  const everyMin = /^\*\/(\d+)$/.exec(m);
  if (everyMin && h === '*' && dom === '*' && mon === '*' && dow === '*') return `every ${everyMin[1]} minutes`;
  if (m === '*' && h === '*' && dom === '*' && mon === '*' && dow === '*') return 'every minute';
  if (/^\d+$/.test(m) && h === '*' && dom === '*' && mon === '*' && dow === '*') return `every hour at minute ${m}`;
  if (/^\d+$/.test(m) && /^\d+$/.test(h) && mon === '*') {
    const at = `${h.padStart(2, '0')}:${m.padStart(2, '0')}`;
    if (dom === '*' && dow === '*') return `every day at ${at}`;
    if (dom === '*' && /^(1-5|mon-fri)$/i.test(dow)) return `weekdays at ${at}`;
    if (dom === '*') return `at ${at} on weekdays ${dow}`;
    if (dow === '*') return `at ${at} on day ${dom} of the month`;
  }
  return parts.join(' ');
}
