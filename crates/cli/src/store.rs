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

/// Commit durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DurabilityArg {
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
        if let Some(xdg) = self.xdg_data_home.as_ref().filter(|p| p.is_absolute()) {
            return Ok(xdg.join("aion"));
        }
        match &self.home {
            Some(home) => Ok(home.join(".local/share/aion")),
            None => anyhow::bail!("no data directory: pass --data-dir or set AION_DATA_DIR"),
        }
    }

    /// Opens the store, with a clear message for foreign, corrupt or newer data.
    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
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
                    _ => "it cannot be opened",
                };
                anyhow::bail!(
                    "cannot use the data directory {}: {what} ({error})",
                    dir.display()
                )
            }
        }
    }
}

/// How the commands that execute steps reach the network.
#[derive(Debug, Clone, Args)]
pub(crate) struct NetArgs {
    /// Let `http.request` reach loopback addresses (127.0.0.0/8, ::1), which are refused by
    /// default. For tests and single-user installs only: it lets flows call local services.
    #[arg(long)]
    allow_loopback: bool,
}

impl NetArgs {
    /// The node catalog, with `http.request` under the operator's address policy.
    pub(crate) fn catalog(&self) -> anyhow::Result<aion_node_sdk::Catalog> {
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

/// Builds the runtime over an open store.
pub(crate) fn runtime(
    store: Arc<dyn Store>,
    catalog: aion_node_sdk::Catalog,
    tuning: Tuning,
) -> Arc<Runtime> {
    let defaults = Config::default();
    Runtime::new(Parts {
        store,
        catalog,
        clock: Arc::new(SystemClock),
        observer: Arc::new(Stderr),
        config: Config {
            worker_id: tuning.worker_id,
            lease_ms: tuning.lease_ms,
            max_runs: tuning.max_runs.unwrap_or(defaults.max_runs).max(1),
            ..defaults
        },
    })
}

/// A tokio runtime for the commands that touch the store.
pub(crate) fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints live progress on stderr, one line per step start and change.
#[derive(Debug)]
struct Stderr;

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
                eprintln!("[{}] {step}: started (attempt {attempt})", short(&run_id));
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
                eprintln!("{line}");
            }
            Progress::Warning { run_id, message } => {
                eprintln!("warning: [{}] {message}", short(&run_id));
            }
        }
    }
}
