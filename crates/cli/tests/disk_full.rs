//! Disk full: on a data dir on a 2 MiB tmpfs, a run that runs out of space fails cleanly (exit 2
//! with a message saying the disk is full, never a panic) and nothing already recorded is lost;
//! once space is freed, the same data dir works again.
//!
//! Mounting needs root (CAP_SYS_ADMIN). Without it the test fails, unless `AION_TEST_NO_MOUNT=1`
//! says this machine cannot mount, in which case it says why it is skipped and passes.

use std::fs::File;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// A tmpfs mounted on a temporary directory, unmounted on drop (also when the test panics).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (a `mount -o size=` value); `None` when mounting is impossible
    /// here and `AION_TEST_NO_MOUNT=1` allows skipping.
    #[expect(
        clippy::disallowed_methods,
        reason = "the test reads its own skip switch, not configuration"
    )]
    #[expect(clippy::print_stderr, reason = "a skipped test says why")]
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match &mounted {
            Ok(output) if output.status.success() => return Some(Self { dir }),
            Ok(output) => format!(
                "`mount -t tmpfs` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => format!("cannot run `mount`: {error}"),
        };
        if std::env::var_os("AION_TEST_NO_MOUNT").is_some_and(|v| v == "1") {
            eprintln!("skipped: {why} (AION_TEST_NO_MOUNT=1)");
            return None;
        }
        panic!(
            "the disk-full test needs a small tmpfs and could not mount one: {why}. Run the tests \
             as root (or with CAP_SYS_ADMIN), or set AION_TEST_NO_MOUNT=1 to skip this test on a \
             machine that cannot mount"
        );
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Busy (a process still holds a file): detach it now, it goes when released.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Writes zeros to `path` (appending) until the file system is full; returns the file's size.
fn fill(path: &Path) -> u64 {
    let mut file = File::options()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0_u8; 64 * 1024];
    loop {
        match file.write_all(&chunk) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::StorageFull => break,
            Err(error) => panic!("filling {}: {error}", path.display()),
        }
    }
    file.sync_all().ok();
    file.metadata().unwrap().len()
}

struct Aion {
    /// Flow and input files (on the ordinary disk).
    files: tempfile::TempDir,
    data: PathBuf,
}

impl Aion {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_aion"))
            .args(args)
            .arg("--data-dir")
            .arg(&self.data)
            .current_dir(self.files.path())
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("the binary runs")
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.files.path().join(name), text).unwrap();
        name.to_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", err(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run_id_of(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("run ")?.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in {stderr}"))
        .to_owned()
}

/// A failure that is clean: exit 2, the disk named as full, a hint, no panic or backtrace.
fn assert_clean_disk_full(output: &Output, hint: &str) {
    let stderr = err(output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the disk holding the data directory"),
        "{stderr}"
    );
    assert!(stderr.contains("is full"), "{stderr}");
    assert!(stderr.contains(hint), "{stderr}");
    assert!(
        stderr.contains("everything already recorded is kept"),
        "{stderr}"
    );
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "{stderr}");
    }
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

const SMALL: &str = r#"aion: 1
id: small
nodes:
  - { id: a, type: core.set, config: { value: "hello" } }
  - { id: b, type: core.set, config: { value: "{{ steps.a.output }} world" } }
output: "{{ steps.b.output }}"
edges:
  - { from: a, to: b }
"#;

/// 100 steps of 16 KiB of incompressible text each: more than the whole file system holds.
/// The short wait after each makes the worker commit each item's result on its own (a chain of
/// pure steps may share one commit).
const HOG: &str = r#"aion: 1
id: hog
inputs:
  type: object
  properties:
    blob: { type: string }
nodes:
  - id: each
    type: core.foreach
    config: { items: "{{ range(100) | list }}" }
    body:
      nodes:
        - { id: big, type: core.set, config: { value: "{{ item }}:{{ inputs.blob }}" } }
        - { id: nap, type: core.wait, config: { duration: 1ms } }
      edges:
        - { from: big, to: nap }
"#;

/// `len` characters of pseudo-random hex (lz4 cannot shrink it much).
fn noise(len: usize) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b"0123456789abcdef"[usize::try_from(state % 16).unwrap()])
        })
        .collect()
}

#[test]
fn disk_full_fails_the_run_cleanly_and_loses_nothing() {
    let Some(tmpfs) = Tmpfs::mount("2m") else {
        return;
    };
    let aion = Aion {
        files: tempfile::tempdir().unwrap(),
        data: tmpfs.path().join("data"),
    };
    let filler = tmpfs.path().join("filler");
    let small = aion.write("small.yaml", SMALL);
    let hog = aion.write("hog.yaml", HOG);
    let blob = noise(16 * 1024);
    let input = aion.write("blob.json", &json!({ "blob": blob }).to_string());

    // 1. A run that fits is recorded.
    let first = aion.run(&["run", &small]);
    assert_eq!(first.status.code(), Some(0), "{}", err(&first));
    assert_eq!(
        serde_json::from_slice::<Value>(&first.stdout).unwrap(),
        "hello world"
    );
    let first_id = run_id_of(&err(&first));
    let first_shown = aion.json(&["runs", "show", &first_id, "--format", "json"]);

    // 2. The disk fills up in the middle of a run: leave 256 KiB free, enough to store the run
    // and a few of its steps but not all of them.
    let size = fill(&filler);
    File::options()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(size.saturating_sub(256 * 1024))
        .unwrap();
    let hogged = aion.run(&["run", &hog, "--input-file", &input]);
    assert_clean_disk_full(&hogged, "then `aion worker` resumes the run");
    let hog_id = run_id_of(&err(&hogged));
    assert!(
        err(&hogged).contains(&format!("run {hog_id} stopped before it finished")),
        "{}",
        err(&hogged)
    );

    // 3. The disk is full before the run starts: its 640 KiB input cannot be stored (not even
    // in the WAL space the failed transaction left behind, which a small run may reuse).
    let large = aion.write(
        "large.json",
        &json!({ "blob": noise(640 * 1024) }).to_string(),
    );
    fill(&filler);
    let refused = aion.run(&["run", &small, "--input-file", &large]);
    assert_clean_disk_full(&refused, "free some space");

    // 4. Space comes back: everything recorded before is intact.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        aion.json(&["runs", "show", &first_id, "--format", "json"]),
        first_shown
    );
    let listed = aion.json(&["runs", "list", "--format", "json"]);
    let statuses: Vec<(&str, &str)> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    let status = |id: &str| statuses.iter().find(|(i, _)| *i == id).map(|(_, s)| *s);
    assert_eq!(status(&first_id), Some("succeeded"), "{statuses:?}");
    // The stopped run is kept, unfinished, for a worker to resume.
    assert!(
        matches!(status(&hog_id), Some("queued" | "running" | "waiting")),
        "{hog_id}: {statuses:?}"
    );
    // The steps it finished before the disk filled are recorded whole.
    let hog_shown = aion.json(&["runs", "show", &hog_id, "--format", "json"]);
    let done: Vec<&Value> = hog_shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "succeeded" && s["step"].as_str().unwrap().ends_with(".big"))
        .collect();
    assert!(!done.is_empty(), "no step finished before the disk filled");
    for step in &done {
        let key = step["step"].as_str().unwrap();
        let index = key
            .strip_prefix("each[")
            .and_then(|k| k.strip_suffix("].big"))
            .unwrap_or_else(|| panic!("unexpected step {key}"));
        assert_eq!(step["output"], format!("{index}:{blob}"), "{key}");
    }
    assert!(done.len() < 100, "every step fit: the disk never filled");

    // 5. And the data dir takes new runs again.
    let again = aion.run(&["run", &small]);
    assert_eq!(again.status.code(), Some(0), "{}", err(&again));
    assert_eq!(
        serde_json::from_slice::<Value>(&again.stdout).unwrap(),
        "hello world"
    );
}
