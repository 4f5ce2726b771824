//! Crash safety end to end: `aion worker` processes are killed with SIGKILL at seeded
//! pseudo-random moments while they drive runs whose steps POST to a local counting server, and
//! restarted each time. At the end every run must have succeeded with the right output, every
//! step must have exactly one recorded success, and a side effect may only repeat for a step that
//! was in flight when a worker was killed (the server counts deliveries per `Idempotency-Key`).
#![expect(
    clippy::disallowed_methods,
    reason = "the test thread drives other processes and a blocking server; it reads the wall \
              clock to compare kill times with the times the workers recorded"
)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Runs queued before the kills start.
const RUNS: usize = 20;
/// SIGKILLs delivered.
const KILLS: usize = 55;
/// The lease of the workers: a killed worker's run is taken over this long after its last renewal.
const LEASE_MS: &str = "300";
/// How long the server takes to answer, so that kills land mid-request.
const ANSWER_DELAY: Duration = Duration::from_millis(30);

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// Every delivery the server saw: idempotency key → arrival times (ms since the epoch).
type Deliveries = Arc<Mutex<BTreeMap<String, Vec<i64>>>>;

/// A counting HTTP server on 127.0.0.1: answers `{"n": <deliveries of this key>, "echo": body.x}`
/// after [`ANSWER_DELAY`].
fn counting_server() -> (u16, Deliveries) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Deliveries = Arc::default();
    let shared = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let seen = Arc::clone(&shared);
            std::thread::spawn(move || {
                let _ = answer(stream, &seen);
            });
        }
    });
    (port, seen)
}

fn answer(stream: TcpStream, seen: &Deliveries) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut key = None;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "idempotency-key" => key = Some(value.trim().to_owned()),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let key = key.unwrap_or_else(|| "<none>".to_owned());
    let n = {
        let mut seen = seen.lock().unwrap();
        let times = seen.entry(key).or_default();
        times.push(now_ms());
        times.len()
    };
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = serde_json::json!({ "n": n, "echo": body["x"] }).to_string();
    std::thread::sleep(ANSWER_DELAY);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

fn flow(port: u16) -> String {
    format!(
        r#"aion: 1
id: crashy
inputs:
  type: object
  properties:
    i: {{ type: integer }}
  required: [i]
nodes:
  - {{ id: start, type: core.set, config: {{ value: "run {{{{ inputs.i }}}}" }} }}
  - id: first
    type: http.request
    config:
      method: POST
      url: "http://127.0.0.1:{port}/first"
      body: {{ x: "one-{{{{ inputs.i }}}}" }}
  - {{ id: nap, type: core.wait, config: {{ duration: 50ms }} }}
  - id: second
    type: http.request
    config:
      method: POST
      url: "http://127.0.0.1:{port}/second"
      body: {{ x: "two-{{{{ inputs.i }}}}" }}
  - id: combine
    type: core.set
    config:
      value: "{{{{ steps.start.output }}}}: {{{{ steps.first.output.body.echo }}}}/{{{{ steps.second.output.body.echo }}}}"
output: "{{{{ steps.combine.output }}}}"
edges:
  - {{ from: start, to: first }}
  - {{ from: first, to: nap }}
  - {{ from: nap, to: second }}
  - {{ from: second, to: combine }}
"#
    )
}

fn spawn_worker(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aion"))
        .args([
            "worker",
            "--allow-loopback",
            "--lease-ms",
            LEASE_MS,
            "--max-runs",
            "1",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the worker starts")
}

/// A small seeded generator (xorshift64*), so every CI run kills at the same offsets.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn open_db(dir: &Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("data").join("aion.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db
}

/// The journal and step records of each run, read through the store once no worker runs.
fn recorded<'a>(
    dir: &Path,
    ids: impl Iterator<Item = &'a String>,
) -> BTreeMap<String, (Vec<aion_store::JournalRecord>, Vec<aion_store::StepRecord>)> {
    use aion_store::Store as _;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio.block_on(async {
        let store = aion_store_sqlite::SqliteStore::open(
            dir.join("data"),
            aion_store_sqlite::Options::default(),
        )
        .await
        .unwrap();
        let mut out = BTreeMap::new();
        for id in ids {
            let journal = store.read_journal("default", id).await.unwrap();
            let steps = store.list_steps("default", id).await.unwrap();
            out.insert(id.clone(), (journal, steps));
        }
        out
    })
}

fn unfinished(dir: &Path) -> i64 {
    open_db(dir)
        .query_row(
            "SELECT count(*) FROM runs WHERE status NOT IN ('succeeded', 'failed', 'cancelled')",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

#[test]
fn killed_workers_lose_nothing_and_repeat_only_in_flight_side_effects() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = counting_server();
    std::fs::write(dir.path().join("crashy.yaml"), flow(port)).unwrap();
    let mut runs = BTreeMap::new();
    for i in 0..RUNS {
        let out = Command::new(env!("CARGO_BIN_EXE_aion"))
            .args(["run", "crashy.yaml", "--detach", "--input"])
            .arg(format!(r#"{{"i": {i}}}"#))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        runs.insert(id, i);
    }

    let mut rng = Rng(0x5eed_a10e_c4a5_4001);
    let mut kills = Vec::with_capacity(KILLS);
    for _ in 0..KILLS {
        let mut worker = spawn_worker(dir.path());
        std::thread::sleep(Duration::from_millis(20 + rng.below(281)));
        kills.push(now_ms());
        worker.kill().unwrap(); // SIGKILL
        worker.wait().unwrap();
    }
    let kill_phase = started.elapsed();

    let mut last = spawn_worker(dir.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    while unfinished(dir.path()) > 0 {
        assert!(
            Instant::now() < deadline,
            "runs still unfinished after 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    last.kill().unwrap();
    last.wait().unwrap();

    let db = open_db(dir.path());
    // Every run succeeded with the right output.
    for (id, i) in &runs {
        let (status, output): (String, Option<Vec<u8>>) = db
            .query_row(
                "SELECT status, output FROM runs WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(status, "succeeded", "run {id}");
        let output: serde_json::Value = aion_store::payload::decode_json(&output.unwrap()).unwrap();
        assert_eq!(
            output,
            serde_json::json!(format!("run {i}: one-{i}/two-{i}"))
        );
    }
    // Every step has exactly one recorded success in the journal, and a succeeded history row
    // (read through the store, which unpacks the journal's chunks).
    let history = recorded(dir.path(), runs.keys());
    let mut successes: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (run_id, (journal, _)) in &history {
        for record in journal.iter().filter(|r| r.kind == "step_succeeded") {
            let event: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
            *successes
                .entry((run_id.clone(), event["key"].to_string()))
                .or_default() += 1;
        }
    }
    for ((run_id, key), count) in &successes {
        assert_eq!(
            *count, 1,
            "step {key} of run {run_id} succeeded {count} times"
        );
    }
    for id in runs.keys() {
        let per_run = successes.keys().filter(|(r, _)| r == id).count();
        assert_eq!(
            per_run, 4,
            "run {id}: start, first, second and combine succeed"
        );
    }
    let mut finished_at: BTreeMap<String, i64> = BTreeMap::new();
    let mut step_rows = 0;
    for (run_id, (_, steps)) in &history {
        for step in steps {
            step_rows += 1;
            assert_eq!(
                step.status,
                aion_store::StepStatus::Succeeded,
                "step {} of run {run_id}",
                step.step_key
            );
            if let (Some(key), Some(finished)) = (&step.idempotency_key, step.finished_ms) {
                finished_at.insert(key.clone(), finished);
            }
        }
    }
    assert_eq!(step_rows, RUNS * 5);

    // Side effects: one delivery per key, plus at most one per kill that happened while the step
    // was in flight (between its first delivery and the commit of its result); and, since a
    // worker drives one run at a time here, at most one duplicate per kill in total.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), RUNS * 2, "one key per POST step: {seen:?}");
    let mut duplicates = 0;
    let mut hit = 0;
    for (key, times) in &seen {
        let (run_id, step) = key.split_once('/').unwrap();
        assert!(runs.contains_key(run_id), "unknown key {key}");
        assert!(step == "first" || step == "second", "unknown key {key}");
        let first = times[0];
        let done = finished_at[key.as_str()];
        let in_flight = kills
            .iter()
            .filter(|k| **k + 500 >= first && **k <= done + 100)
            .count();
        assert!(
            times.len() <= 1 + in_flight,
            "{key} delivered {} times but only {in_flight} kills hit it",
            times.len()
        );
        duplicates += times.len() - 1;
        hit += usize::from(times.len() > 1);
    }
    assert!(kills.len() >= 50);
    assert!(
        duplicates <= kills.len(),
        "{duplicates} duplicates for {} kills",
        kills.len()
    );
    eprintln!(
        "{} kills, {duplicates} duplicate deliveries ({hit} keys), kill phase {:?}, total {:?}",
        kills.len(),
        kill_phase,
        started.elapsed()
    );
}
