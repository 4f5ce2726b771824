//! Opening the data dir's store for `run`, `runs` and `worker`, and the shared pieces of those
//! commands: the data dir arguments, the runtime and the live progress printer.

use std::path::PathBuf;
use std::sync::Arc;

use aion_store::Store;
use aion_store_sqlite::{Durability, Options, SqliteStore};
use aion_worker::{Config, Observer, Parts, Progress, Runtime, SystemClock};
use anyhow::Context as _;
use clap::{Args, ValueEnum};

/// Where the data lives and how hard commits are pushed to disk.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// The data directory [default: $XDG_DATA_HOME/aion, else $HOME/.local/share/aion].
    #[arg(long, env = "AION_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `normal` survives a process crash; `full` also survives power loss (slower).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Normal)]
    durability: DurabilityArg,
    #[arg(long, env = "XDG_DATA_HOME", hide = true)]
    xdg_data_home: Option<PathBuf>,
    #[arg(long, env = "HOME", hide = true)]
    home: Option<PathBuf>,
}

/// The per-user data folder: `$XDG_DATA_HOME/aion` (when absolute), else
/// `$HOME/.local/share/aion`.
pub(crate) fn default_data_dir(
    xdg_data_home: Option<&std::path::Path>,
    home: Option<&std::path::Path>,
) -> Option<PathBuf> {
    if let Some(xdg) = xdg_data_home.filter(|p| p.is_absolute()) {
        return Some(xdg.join("aion"));
    }
    home.map(|home| home.join(".local/share/aion"))
}

/// Commit durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DurabilityArg {
    /// Crash-safe (`synchronous=NORMAL` in WAL).
    Normal,
    /// Power-loss safe (`synchronous=FULL`).
    Full,
}

impl StoreArgs {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        match default_data_dir(self.xdg_data_home.as_deref(), self.home.as_deref()) {
            Some(dir) => Ok(dir),
            None => anyhow::bail!("no data directory: pass --data-dir or set AION_DATA_DIR"),
        }
    }

    /// Opens the store, with a clear message for foreign, corrupt or newer data.
    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(self.open_sqlite().await?)
    }

    /// Opens the store and its accounts (the same SQLite file).
    pub(crate) async fn open_with_accounts(
        &self,
    ) -> anyhow::Result<(Arc<dyn Store>, Arc<dyn aion_store::Accounts>)> {
        let store = self.open_sqlite().await?;
        Ok((
            Arc::clone(&store) as Arc<dyn Store>,
            store as Arc<dyn aion_store::Accounts>,
        ))
    }

    async fn open_sqlite(&self) -> anyhow::Result<Arc<SqliteStore>> {
        let dir = self.dir()?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        let options = Options {
            durability: match self.durability {
                DurabilityArg::Normal => Durability::Normal,
                DurabilityArg::Full => Durability::Full,
            },
            ..Options::default()
        };
        match SqliteStore::open(&dir, options).await {
            Ok(store) => Ok(Arc::new(store)),
            Err(error) => {
                let what = match error.kind() {
                    aion_store::ErrorKind::SchemaTooNew => {
                        "it was written by a newer version of aion; upgrade aion to use it"
                    }
                    aion_store::ErrorKind::NotAStore => {
                        "it is not an aion data directory (a foreign or damaged database file)"
                    }
                    aion_store::ErrorKind::Corrupt => "its data is corrupt",
                    aion_store::ErrorKind::Backend if disk_full(&dir, &error.to_string()) => {
                        return Err(DiskFull {
                            dir,
                            cause: root_cause(&error),
                            unfinished: None,
                        }
                        .into());
                    }
                    _ => "it cannot be opened",
                };
                anyhow::bail!(
                    "cannot use the data directory {}: {what} ({error})",
                    dir.display()
                )
            }
        }
    }

    /// Explains a command's failure for the operator: a store failure on a full disk becomes
    /// a [`DiskFull`] error (saying so, and that nothing recorded is lost) instead of SQLite's
    /// terse message; any other error is returned as it is.
    pub(crate) fn explain(&self, error: anyhow::Error) -> anyhow::Error {
        if error.downcast_ref::<DiskFull>().is_some() {
            return error;
        }
        let Some(store_error) = error.chain().find_map(store_failure) else {
            return error;
        };
        let Ok(dir) = self.dir() else {
            return error;
        };
        if !disk_full(&dir, &format!("{error:#}")) {
            return error;
        }
        DiskFull {
            dir,
            cause: root_cause(store_error),
            unfinished: error.downcast_ref::<Unfinished>().map(|u| u.0.clone()),
        }
        .into()
    }
}

/// Context of an error that stopped a stored run before it finished (`aion run`, `aion runs
/// retry`): the run's id.
#[derive(Debug)]
pub(crate) struct Unfinished(pub String);

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {} stopped before it finished", self.0)
    }
}

/// The data dir's disk (or the database) is full: what a store failure means when there is
/// no room left to write.
#[derive(Debug)]
pub(crate) struct DiskFull {
    dir: PathBuf,
    /// The innermost message of the store failure (SQLite's).
    cause: String,
    /// The run that was stored but stopped before it finished.
    unfinished: Option<String>,
}

impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(run_id) = &self.unfinished {
            write!(f, "run {run_id} stopped before it finished: ")?;
        }
        write!(
            f,
            "the disk holding the data directory {} is full ({})\nhint: ",
            self.dir.display(),
            self.cause
        )?;
        match &self.unfinished {
            Some(_) => f.write_str(
                "free some space, then `aion worker` resumes the run; everything already recorded \
                 is kept",
            ),
            None => {
                f.write_str("free some space and try again; everything already recorded is kept")
            }
        }
    }
}

impl std::error::Error for DiskFull {}

/// The store error in an error chain that could mean a full disk: a backend failure.
fn store_failure<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    let kind = match (
        error.downcast_ref::<aion_store::Error>(),
        error.downcast_ref::<aion_worker::Error>(),
    ) {
        (Some(store), _) => store.kind(),
        (None, Some(aion_worker::Error::Store(store))) => store.kind(),
        _ => return None,
    };
    (kind == aion_store::ErrorKind::Backend).then_some(error)
}

/// The innermost message of an error chain.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut error = error;
    while let Some(source) = error.source() {
        error = source;
    }
    error.to_string()
}

/// Whether a store failure was for lack of space: SQLite said so (`SQLITE_FULL`), or writing a
/// probe file of 64 KiB next to the database fails with "no space" (SQLite reports some
/// out-of-space failures, e.g. growing its shared-memory file, as a plain I/O error).
fn disk_full(dir: &std::path::Path, message: &str) -> bool {
    use std::io::Write as _;
    if message.contains("database or disk is full") {
        return true;
    }
    let probe = dir.join(format!(".aion-space-probe-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut file| {
            file.write_all(&[0; 64 * 1024])?;
            file.sync_all()
        });
    let _ = std::fs::remove_file(&probe);
    matches!(
        written.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
    )
}

/// The operator's switches of the commands that execute steps (`run`, `runs retry`, `worker`):
/// how steps reach the network and how big their results may be.
#[derive(Debug, Clone, Args)]
pub(crate) struct OperatorArgs {
    /// Let `http.request` reach loopback addresses (127.0.0.0/8, ::1), which are refused by
    /// default. For tests and single-user installs only: it lets flows call local services.
    #[arg(long)]
    allow_loopback: bool,
    /// The largest step output accepted, in bytes of JSON; a step whose output is bigger fails
    /// with `output_too_large` [default: 1048576 (1 MiB)].
    #[arg(long, value_name = "N", value_parser = parse_positive_bytes)]
    max_output_bytes: Option<usize>,
}

/// A `--max-output-bytes` value: a whole number of bytes, at least 1.
pub(crate) fn parse_positive_bytes(text: &str) -> Result<usize, String> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a positive whole number of bytes, such as 1048576".to_owned());
    }
    match digits.parse::<usize>() {
        Ok(0) => Err("must be at least 1 byte".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("must be at most {} bytes", usize::MAX)),
    }
}

impl OperatorArgs {
    /// The node catalog, with `http.request` under the operator's address policy.
    fn catalog(&self) -> anyhow::Result<aion_node_sdk::Catalog> {
        if !self.allow_loopback {
            return Ok(aion_nodes::catalog());
        }
        let http = aion_http::HttpClient::new(aion_http::Policy::allowing_loopback())
            .context("cannot build the HTTP client")?;
        Ok(aion_nodes::catalog_with(aion_nodes::NodeServices {
            http: Arc::new(http),
        }))
    }
}

/// Worker tunables given on the command line.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    /// The worker id.
    pub worker_id: String,
    /// Lease duration in milliseconds.
    pub lease_ms: i64,
    /// At most this many runs at once (`None`: the default).
    pub max_runs: Option<usize>,
}

/// Builds the runtime over an open store, under the operator's switches.
pub(crate) fn runtime(
    (store, accounts): (Arc<dyn Store>, Arc<dyn aion_store::Accounts>),
    operator: &OperatorArgs,
    tuning: Tuning,
) -> anyhow::Result<Arc<Runtime>> {
    let defaults = Config::default();
    Ok(Runtime::new(Parts {
        spans: None,
        store,
        vars: Some(accounts),
        catalog: operator.catalog()?,
        clock: Arc::new(SystemClock),
        observer: Arc::new(Stderr),
        config: Config {
            worker_id: tuning.worker_id,
            lease_ms: tuning.lease_ms,
            max_runs: tuning.max_runs.unwrap_or(defaults.max_runs).max(1),
            max_output_bytes: operator
                .max_output_bytes
                .unwrap_or(defaults.max_output_bytes),
            ..defaults
        },
    }))
}

/// A tokio runtime for the commands that touch the store.
pub(crate) fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints live progress on stderr, one line per step start and change. A closed stderr
/// (`aion run … 2>&1 | head`) is ignored: progress is a courtesy, and a failed print must not
/// stop the run (`eprintln!` would panic).
#[derive(Debug)]
struct Stderr;

/// Writes one line on stderr, ignoring errors.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

impl Observer for Stderr {
    fn report(&self, progress: Progress) {
        let short = |id: &str| {
            id.chars()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>()
        };
        match progress {
            Progress::StepStarted {
                run_id,
                step,
                attempt,
            } => {
                say(format_args!(
                    "[{}] {step}: started (attempt {attempt})",
                    short(&run_id)
                ));
            }
            Progress::StepChanged {
                run_id,
                step,
                status,
                attempt,
                duration_ms,
                cache_hit,
                error,
            } => {
                let mut line = format!("[{}] {step}: {status}", short(&run_id));
                // A skipped step never ran: it has no attempt, duration or cache hit to show.
                if status != "skipped" || attempt > 0 {
                    line.push_str(&format!(" (attempt {attempt}"));
                    if let Some(ms) = duration_ms {
                        line.push_str(&format!(", {ms} ms"));
                    }
                    if cache_hit {
                        line.push_str(", cache hit");
                    }
                    line.push(')');
                }
                if let Some(error) = error {
                    line.push_str(&format!(": {error}"));
                }
                say(format_args!("{line}"));
            }
            Progress::Warning { run_id, message } => {
                say(format_args!("warning: [{}] {message}", short(&run_id)));
            }
        }
    }
}
