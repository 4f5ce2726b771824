//! `aion serve`: the REST API under `/api/v1` (axum, documented by a generated OpenAPI 3.1
//! document), authentication and workspaces, and the worker loop, in one process over the
//! embedded SQLite store.
//!
//! [`config`] reads the configuration (the one place that does), [`auth`] makes and checks
//! secrets, [`vault`] seals and opens credential values, [`problem`] shapes every error,
//! [`api`] holds the routes. [`Server::start`] opens
//! the store, starts the worker loop and the cron loop (`cron`) and binds the listener;
//! [`Server::stop`] shuts down gracefully.

pub mod admin;
pub mod api;
pub mod auth;
pub mod config;
mod cron;
mod events;
mod hooks;
mod metrics;
mod otlp;
pub mod problem;
mod studio;
pub mod vault;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aion_compiler::Compiler;
use aion_store::{Accounts, Store};
use aion_store_sqlite::SqliteStore;
use aion_worker::{Observer, Parts, Progress, Runtime, SystemClock};

pub use config::Config;

/// A server failure at start-up or shutdown.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store cannot be used.
    #[error("cannot use {dir}: {reason}")]
    Store {
        /// The data directory (`the data directory PATH`) or the PostgreSQL schema.
        dir: String,
        /// Why (newer schema, foreign file, ...).
        reason: String,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The credential vault's master key cannot be used (a malformed or unreadable key file).
    #[error("cannot open the credential vault: {0}")]
    Vault(#[from] vault::VaultError),
    /// Something else failed.
    #[error("{0}")]
    Other(String),
}

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn Store>,
    accounts: Arc<dyn Accounts>,
    runtime: Arc<Runtime>,
    compiler: Arc<Compiler>,
    /// Seals and opens credential values.
    vault: Arc<vault::Vault>,
    /// Turns true when the server stops: long-lived answers (event streams) end then.
    stopping: tokio::sync::watch::Receiver<bool>,
    config: Config,
    /// One permit per run started by a webhook and not finished yet.
    run_slots: Arc<tokio::sync::Semaphore>,
    /// Sign-in attempts per address.
    login_limiter: api::LoginLimiter,
}

impl AppState {
    /// The run store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The accounts store.
    pub fn accounts(&self) -> &Arc<dyn Accounts> {
        &self.shared.accounts
    }

    /// The worker runtime runs execute on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.shared.runtime
    }

    /// Turns true when the server stops.
    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.stopping.clone()
    }

    /// The credential vault.
    pub fn vault(&self) -> &Arc<vault::Vault> {
        &self.shared.vault
    }

    /// The flow compiler.
    pub fn compiler(&self) -> &Arc<Compiler> {
        &self.shared.compiler
    }

    /// Sign-in attempts per address.
    pub(crate) fn login_limiter(&self) -> &api::LoginLimiter {
        &self.shared.login_limiter
    }

    /// Permits for runs started by webhooks (the server's capacity).
    pub(crate) fn run_slots(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.shared.run_slots
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Now, from the runtime's clock.
    pub fn now_ms(&self) -> i64 {
        self.shared.runtime.now_ms()
    }
}

/// The store and the accounts, which one backend serves.
pub type Stores = (Arc<dyn Store>, Arc<dyn Accounts>);

/// Opens the configured store: PostgreSQL when a database URL is set, else the data
/// directory's SQLite file.
pub async fn open_stores(config: &Config) -> Result<Stores, ServeError> {
    let Some(url) = &config.database_url else {
        let store = Arc::new(open_store(config).await?);
        return Ok((
            Arc::clone(&store) as Arc<dyn Store>,
            store as Arc<dyn Accounts>,
        ));
    };
    let options = aion_store_postgres::PgOptions {
        schema: config.database_schema.clone(),
        ..aion_store_postgres::PgOptions::default()
    };
    let shown = format!("PostgreSQL schema `{}`", config.database_schema);
    let store = aion_store_postgres::PgStore::connect(url, options)
        .await
        .map_err(|error| {
            let reason = match error.kind() {
                aion_store::ErrorKind::SchemaTooNew => format!(
                    "it was written by a newer version of aion; upgrade aion to use it ({error})"
                ),
                aion_store::ErrorKind::NotAStore => {
                    format!("it holds tables that are not aion's ({error})")
                }
                _ => error.to_string(),
            };
            ServeError::Store { dir: shown, reason }
        })?;
    let store = Arc::new(store);
    Ok((
        Arc::clone(&store) as Arc<dyn Store>,
        store as Arc<dyn Accounts>,
    ))
}

/// Opens the data directory's SQLite store, explaining refusals.
pub async fn open_store(config: &Config) -> Result<SqliteStore, ServeError> {
    let dir = &config.data_dir;
    let shown = format!("the data directory {}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| ServeError::Store {
        dir: shown.clone(),
        reason: format!("it cannot be created: {e}"),
    })?;
    let options = aion_store_sqlite::Options {
        durability: match config.durability {
            config::Durability::Normal => aion_store_sqlite::Durability::Normal,
            config::Durability::Full => aion_store_sqlite::Durability::Full,
        },
        ..aion_store_sqlite::Options::default()
    };
    SqliteStore::open(dir, options).await.map_err(|error| {
        let reason = match error.kind() {
            aion_store::ErrorKind::SchemaTooNew => {
                format!(
                    "it was written by a newer version of aion; upgrade aion to use it ({error})"
                )
            }
            aion_store::ErrorKind::NotAStore => format!(
                "it is not an aion data directory (a foreign or damaged database file: {error})"
            ),
            _ => error.to_string(),
        };
        ServeError::Store { dir: shown, reason }
    })
}

/// Logs the worker's warnings (a lost lease, a missing `on_error` flow).
#[derive(Debug)]
struct Log;

impl Observer for Log {
    fn report(&self, progress: Progress) {
        if let Progress::Warning { run_id, message } = progress {
            tracing::warn!(run_id = %run_id, "{message}");
        }
    }

    fn wants_steps(&self) -> bool {
        false
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    stop: tokio::sync::watch::Sender<bool>,
    http: tokio::task::JoinHandle<Result<(), String>>,
    worker: tokio::task::JoinHandle<Result<(), aion_worker::Error>>,
    /// The cron loop (ends when `stop` is sent, after the runs it started).
    cron: tokio::task::JoinHandle<()>,
    /// The OTLP exporter, when configured (sends what is queued when `stop` is sent).
    exporter: Option<otlp::Exporter>,
}

impl Server {
    /// Opens the store, starts the worker loop (which resumes runs a crash left) and starts
    /// answering on the configured address. Returns once the listener is bound.
    pub async fn start(config: Config) -> Result<Server, ServeError> {
        // Before anything records: a handle taken earlier would not reach the recorder.
        metrics::handle();
        let (store, accounts) = open_stores(&config).await?;
        let vault = Arc::new(vault::Vault::open(&config)?);
        let catalog = if config.allow_loopback {
            let http = aion_http::HttpClient::new(aion_http::Policy::allowing_loopback())
                .map_err(|e| ServeError::Other(format!("cannot build the HTTP client: {e}")))?;
            aion_nodes::catalog_with(aion_nodes::NodeServices {
                http: Arc::new(http),
            })
        } else {
            aion_nodes::catalog()
        };
        let defaults = aion_worker::Config::default();
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let (spans, exporter) = match &config.otlp_endpoint {
            Some(endpoint) => {
                let (sink, task) = otlp::start(endpoint)
                    .map_err(|e| ServeError::Other(format!("cannot start OTLP export: {e}")))?;
                (
                    Some(sink as Arc<dyn aion_worker::trace::SpanSink>),
                    Some(task),
                )
            }
            None => (None, None),
        };
        let runtime = Runtime::new(Parts {
            spans,
            store: Arc::clone(&store),
            vars: Some(Arc::clone(&accounts)),
            catalog: catalog.clone(),
            clock: Arc::new(SystemClock),
            observer: Arc::new(Log),
            config: aion_worker::Config {
                worker_id: format!("serve-{}", std::process::id()),
                max_output_bytes: config.max_output_bytes,
                ..defaults
            },
        });
        let state = AppState {
            shared: Arc::new(Shared {
                store: Arc::clone(&store),
                accounts,
                runtime: Arc::clone(&runtime),
                compiler: Arc::new(Compiler::new(catalog)),
                vault,
                run_slots: Arc::new(tokio::sync::Semaphore::new(config.max_inflight_runs)),
                login_limiter: api::LoginLimiter::default(),
                config: config.clone(),
                stopping,
            }),
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| ServeError::Listen {
                addr: config.listen,
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| ServeError::Listen {
            addr: config.listen,
            reason: e.to_string(),
        })?;
        let worker = {
            let runtime = Arc::clone(&runtime);
            tokio::spawn(async move { runtime.run_worker().await })
        };
        let mut stopped = stop.subscribe();
        let app = api::router(state.clone());
        let http = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
            .map_err(|e| e.to_string())
        });
        let cron = cron::spawn(state.clone(), stop.subscribe());
        let mut upkeep_stop = stop.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => metrics::upkeep(),
                    _ = upkeep_stop.wait_for(|stop| *stop) => break,
                }
            }
        });
        Ok(Server {
            addr,
            state,
            stop,
            http,
            worker,
            cron,
            exporter,
        })
    }

    /// The address the server answers on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (for tests and admin tasks in the same process).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops gracefully: no new connections, in-flight requests finish (up to `grace`), the
    /// worker lets in-flight steps finish and gives its leases back; what is left resumes at
    /// the next start.
    pub async fn stop(self, grace: Duration) -> Result<(), ServeError> {
        let _ = self.stop.send(true);
        let http = tokio::time::timeout(grace, self.http).await;
        self.state.runtime().shutdown();
        let worker = self
            .worker
            .await
            .map_err(|e| ServeError::Other(format!("the worker loop failed: {e}")))?;
        worker.map_err(|e| ServeError::Other(format!("the worker loop failed: {e}")))?;
        self.cron
            .await
            .map_err(|e| ServeError::Other(format!("the cron loop failed: {e}")))?;
        self.state.runtime().wait_background().await;
        if let Some(exporter) = self.exporter {
            // The last spans (of runs that ended while stopping) get a few seconds.
            exporter.finish(Duration::from_secs(5)).await;
        }
        match http {
            Ok(Ok(Ok(()))) | Err(_) => Ok(()),
            Ok(Ok(Err(e))) => Err(ServeError::Other(format!("the HTTP server failed: {e}"))),
            Ok(Err(e)) => Err(ServeError::Other(format!("the HTTP server failed: {e}"))),
        }
    }
}
