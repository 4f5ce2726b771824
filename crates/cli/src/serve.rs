//! `aion serve` (the server, until Ctrl-C or SIGTERM) and `aion admin` (users and API keys,
//! also while a server runs on the same data directory).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aion_server::config::{self, Durability, Flags};
use aion_store::{DEFAULT_WORKSPACE, Role};
use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::store::{self, DurabilityArg, StoreArgs};

/// The options of `aion serve`. The environment (`AION_*`) and the config file are read by
/// the server's config module; these flags win over both.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// A TOML config file (also `AION_CONFIG`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The data directory [default: $XDG_DATA_HOME/aion, else $HOME/.local/share/aion].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `normal` survives a process crash; `full` also survives power loss [default: normal].
    #[arg(long, value_enum)]
    durability: Option<DurabilityArg>,
    /// Let `http.request` reach loopback addresses (tests and single-user installs only).
    #[arg(long)]
    allow_loopback: bool,
    /// The largest step output accepted, in bytes of JSON [default: 1048576].
    #[arg(long, value_name = "N", value_parser = store::parse_positive_bytes)]
    max_output_bytes: Option<usize>,
    /// Keep the store in PostgreSQL (`postgres://user@host:5432/db`, also
    /// `AION_DATABASE_URL`) instead of the data directory's SQLite file.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Log lines as JSON objects instead of text.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[arg(long, env = "XDG_DATA_HOME", hide = true)]
    xdg_data_home: Option<PathBuf>,
    #[arg(long, env = "HOME", hide = true)]
    home: Option<PathBuf>,
}

/// How the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `aion serve`.
pub(crate) fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let began = Instant::now();
    let flags = Flags {
        config_file: args.config.clone(),
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        durability: args.durability.map(|d| match d {
            DurabilityArg::Normal => Durability::Normal,
            DurabilityArg::Full => Durability::Full,
        }),
        allow_loopback: args.allow_loopback,
        max_output_bytes: args.max_output_bytes,
        database: args.database.clone(),
    };
    let default_dir = store::default_data_dir(args.xdg_data_home.as_deref(), args.home.as_deref());
    let loaded = match config::load(&flags, default_dir) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    init_logs(args.log_format);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let config = loaded.config;
    store::tokio()?.block_on(async {
        let server = match aion_server::Server::start(config.clone()).await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("error: {error}");
                return Ok(ExitCode::from(2));
            }
        };
        tracing::info!(
            addr = %server.addr(),
            data_dir = %config.data_dir.display(),
            ready_ms = began.elapsed().as_millis() as u64,
            "aion is serving on http://{}",
            server.addr()
        );
        crate::run::shutdown_signal().await;
        tracing::info!("shutting down: finishing requests and in-flight steps");
        server
            .stop(Duration::from_secs(30))
            .await
            .context("the server did not stop cleanly")?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(tracing_subscriber::filter::LevelFilter::INFO.into())
        .with_env_var("AION_LOG")
        .from_env_lossy();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `aion admin create-user`.
pub(crate) fn create_user(
    store: &StoreArgs,
    email: &str,
    password: &str,
    workspace: &str,
) -> anyhow::Result<ExitCode> {
    store::tokio()?.block_on(async {
        let (runs, accounts) = store.open_with_accounts().await?;
        let now = now_ms();
        match aion_server::admin::create_user(&*runs, &*accounts, email, password, workspace, now)
            .await
        {
            Ok(user) => {
                eprintln!(
                    "created user {} ({}), owner of workspace `{workspace}`",
                    user.email, user.id
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("error: {error}");
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// `aion admin create-api-key`: prints only the key on stdout.
pub(crate) fn create_api_key(
    store: &StoreArgs,
    email: &str,
    workspace: Option<&str>,
    role: &str,
    name: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let role: Role = match role.parse() {
        Ok(role) => role,
        Err(error) => {
            eprintln!("error: --role: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    let workspace = workspace.unwrap_or(DEFAULT_WORKSPACE);
    store::tokio()?.block_on(async {
        let (_, accounts) = store.open_with_accounts().await?;
        let name = name.map_or_else(|| format!("{email} ({role})"), str::to_owned);
        match aion_server::admin::create_api_key(
            &*accounts,
            email,
            workspace,
            role,
            &name,
            now_ms(),
        )
        .await
        {
            Ok((key, token)) => {
                crate::runs::emit(&format!("{token}\n"));
                eprintln!(
                    "created API key {} for {email} in `{workspace}` with role {role}; it is \
                     shown only once",
                    key.id
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("error: {error}");
                Ok(ExitCode::from(1))
            }
        }
    })
}

fn now_ms() -> i64 {
    use aion_worker::Clock as _;
    aion_worker::SystemClock.now_ms()
}
