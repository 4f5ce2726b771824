//! The `aion` binary: parses the command line and hands each subcommand to its module.
//!
//! Data goes to stdout, everything else (progress, errors) to stderr. Exit codes are part of the
//! contract: 0 success, 1 the input is invalid (`check`) or the run failed (`run`), 2 usage,
//! I/O error, or (for `run`) an invalid document or input.
#![expect(clippy::print_stdout, clippy::print_stderr, reason = "this is the CLI")]

mod bench;
mod check;
mod client;
mod nodes;
mod render;
mod run;
mod runs;
mod serve;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc instead of the system allocator: a run allocates many small, short-lived values
/// (expression results, events, history rows), where glibc's malloc spent a seventh of the
/// driver's time (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::store::{OperatorArgs, StoreArgs};

/// Aion: self-hosted AI workflow automation.
#[derive(Debug, Parser)]
#[command(
    name = "aion",
    version,
    about = "Aion: self-hosted AI workflow automation. Check flow documents, print their plans, \
             the document schema and the node catalog; run flows durably and inspect their runs; \
             serve the API.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check flow documents and report every problem with its position.
    ///
    /// Exits 0 when every file is valid (warnings allowed), 1 when any has an error, 2 on usage
    /// or I/O errors. Directories are searched for *.yaml, *.yml and *.json files.
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Flow documents or directories to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Compile a flow and print its execution plan as JSON.
    Plan {
        /// The flow document.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the JSON Schema of flow documents.
    Schema,
    /// List the node types, or show one with its config schema.
    Nodes {
        /// A node type such as `core.foreach`.
        #[arg(value_name = "TYPE")]
        node_type: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run a flow in this process, durably, and print its output as JSON.
    ///
    /// Step progress goes to stderr. Exits 0 when the run succeeds, 1 when it fails, 2 when the
    /// document or the input is invalid.
    Run {
        /// The flow document.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The run input, a JSON object.
        #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
        input: Option<String>,
        /// A file holding the run input.
        #[arg(long, value_name = "FILE")]
        input_file: Option<PathBuf>,
        /// Only store and queue the run for `aion worker`, and print its id.
        #[arg(long)]
        detach: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// List, inspect, retry and signal runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Execute runs from the data directory until Ctrl-C or SIGTERM.
    ///
    /// Claims runnable runs (new ones, due timers, received signals, runs left by a crashed
    /// worker), resumes them from their journal and drives them to the end. Shutting down lets
    /// in-flight steps finish; anything else resumes at the next start.
    Worker {
        #[command(flatten)]
        store: StoreArgs,
        /// How long a run's lease lasts (milliseconds); a crashed worker's runs are taken over
        /// after it expires.
        #[arg(long, value_name = "MS", default_value_t = 30_000, hide = true)]
        lease_ms: i64,
        /// At most this many runs driven at once.
        #[arg(long, value_name = "N", hide = true)]
        max_runs: Option<usize>,
        #[command(flatten)]
        operator: OperatorArgs,
        /// Fault points to arm, `point=abort|error[@n];...` (crash tests only).
        #[cfg(feature = "failpoints")]
        #[arg(long, env = "AION_FAILPOINTS", value_name = "SPEC", hide = true)]
        failpoints: Option<String>,
    },
    /// Serve the REST API and execute runs until Ctrl-C or SIGTERM.
    ///
    /// Settings come from defaults, then `--config FILE` (TOML), then `AION_*` environment
    /// variables, then these flags. Runs left unfinished by a crash resume on start; shutting
    /// down finishes in-flight requests and steps.
    Serve {
        #[command(flatten)]
        args: Box<serve::ServeArgs>,
    },
    /// Create users and API keys (also while a server runs on the data directory).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Save a server and API key for the commands that talk to a server.
    ///
    /// Checks the key with the server, then writes both to $XDG_CONFIG_HOME/aion/cli.toml (else
    /// ~/.config/aion/cli.toml), readable only by you. Without --api-key the key is read from
    /// stdin.
    Login {
        #[command(flatten)]
        remote: client::RemoteArgs,
    },
    /// Forget the saved server and API key (the key stays valid on the server).
    Logout {
        #[command(flatten)]
        config: client::ConfigHome,
    },
    /// Save, list and run flows on a server.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Load generators for the end-to-end benchmarks (docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum FlowsCommand {
    /// Save a flow document on the server: a new flow, or a new version of the flow its `id`
    /// names (nothing is saved when the document is unchanged).
    ///
    /// Exits 0 when saved or unchanged, 1 when the server refuses the document (its
    /// diagnostics on stderr), 2 on usage errors or when the server cannot be reached.
    Push {
        /// The flow document.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        remote: client::RemoteArgs,
    },
    /// List the server's flows with their latest version.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        remote: client::RemoteArgs,
    },
    /// Run a flow's latest version on the server and print its output as JSON.
    ///
    /// Exits 0 when the run succeeds, 1 when it fails, 2 when the input is invalid.
    Run {
        /// The flow id.
        #[arg(value_name = "ID")]
        id: String,
        /// The run input, a JSON object.
        #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
        input: Option<String>,
        /// A file holding the run input.
        #[arg(long, value_name = "FILE")]
        input_file: Option<PathBuf>,
        /// Only start the run, and print its id.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        remote: client::RemoteArgs,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// POST the same JSON body from N keep-alive clients; report throughput, p50/p99 latency
    /// and (with --pid) the server's memory.
    Http {
        #[command(flatten)]
        args: bench::HttpBenchArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a user who owns a workspace (created if missing).
    CreateUser {
        /// The user's email (their sign-in name).
        #[arg(long)]
        email: String,
        /// The password (at least 8 characters).
        #[arg(long)]
        password: String,
        /// The workspace the user owns.
        #[arg(long, default_value = "default")]
        workspace: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Create an API key and print it (only it) on stdout; it is shown only once.
    CreateApiKey {
        /// The user the key acts for.
        #[arg(long)]
        email: String,
        /// The workspace the key acts in [default: default].
        #[arg(long)]
        workspace: Option<String>,
        /// owner, editor, runner or viewer (at most the user's own role).
        #[arg(long, default_value = "owner")]
        role: String,
        /// A label for the key.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only runs of this flow.
        #[arg(long, value_name = "ID")]
        flow: Option<String>,
        /// Only runs with this status (queued, running, waiting, succeeded, failed, cancelled).
        #[arg(long, value_name = "S")]
        status: Option<String>,
        /// At most this many runs.
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        remote: client::RemoteArgs,
    },
    /// Show a run and its step table.
    Show {
        /// The run id.
        run_id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        remote: client::RemoteArgs,
    },
    /// Follow a run on a server: its events on stderr as they happen, then its output on
    /// stdout.
    ///
    /// Exits 0 when the run succeeds, 1 when it fails.
    Tail {
        /// The run id.
        run_id: String,
        #[command(flatten)]
        remote: client::RemoteArgs,
    },
    /// Start a new run that reuses the results of a run's steps upstream of STEP.
    Retry {
        /// The run to retry.
        run_id: String,
        /// The first step to execute again (with everything downstream of it).
        #[arg(long, value_name = "STEP")]
        from: String,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Send a signal to a run (a `core.signal` step waits for it).
    Signal {
        /// The run id.
        run_id: String,
        /// The signal name.
        name: String,
        /// The signal's JSON payload.
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people.
    Human,
    /// For programs.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { format, files } => check::check(&files, format),
        Command::Plan { file } => check::plan(&file),
        Command::Schema => print_json(&aion_dsl::model::json_schema()),
        Command::Nodes { node_type, format } => nodes::show(node_type.as_deref(), format),
        Command::Run {
            file,
            input,
            input_file,
            detach,
            store,
            operator,
        } => run::run(
            &file,
            &run::InputArgs {
                input: input.as_deref(),
                input_file: input_file.as_deref(),
                detach,
            },
            &store,
            &operator,
        )
        .map_err(|error| store.explain(error)),
        Command::Worker {
            store,
            lease_ms,
            max_runs,
            operator,
            #[cfg(feature = "failpoints")]
            failpoints,
        } => {
            #[cfg(feature = "failpoints")]
            if let Some(spec) = failpoints
                && let Err(error) = aion_worker::failpoints::configure(&spec)
            {
                eprintln!("error: --failpoints: {error}");
                return ExitCode::from(2);
            }
            run::worker(&store, &operator, lease_ms, max_runs).map_err(|error| store.explain(error))
        }
        Command::Serve { args } => serve::serve(&args),
        Command::Bench {
            command: BenchCommand::Http { args },
        } => bench::http(&args),
        Command::Login { remote } => client::login(&remote),
        Command::Logout { config } => client::logout(&config),
        Command::Flows { command } => match command {
            FlowsCommand::Push { file, remote } => client::push(&remote, &file),
            FlowsCommand::List { format, remote } => {
                client::list_flows(&remote, format == Format::Json)
            }
            FlowsCommand::Run {
                id,
                input,
                input_file,
                no_wait,
                remote,
            } => client::run_flow(
                &remote,
                &id,
                input.as_deref(),
                input_file.as_deref(),
                no_wait,
            ),
        },
        Command::Admin { command } => match command {
            AdminCommand::CreateUser {
                email,
                password,
                workspace,
                store,
            } => serve::create_user(&store, &email, &password, &workspace)
                .map_err(|error| store.explain(error)),
            AdminCommand::CreateApiKey {
                email,
                workspace,
                role,
                name,
                store,
            } => {
                serve::create_api_key(&store, &email, workspace.as_deref(), &role, name.as_deref())
                    .map_err(|error| store.explain(error))
            }
        },
        Command::Runs { command } => match command {
            RunsCommand::List {
                flow,
                status,
                limit,
                format,
                remote,
                ..
            } if remote.is_remote() => client::list_runs(
                &remote,
                flow.as_deref(),
                status.as_deref(),
                limit,
                format == Format::Json,
            ),
            RunsCommand::List {
                flow,
                status,
                limit,
                format,
                store,
                remote: _,
            } => runs::list(
                &store,
                flow,
                status.as_deref(),
                limit,
                format == Format::Json,
            )
            .map_err(|error| store.explain(error)),
            RunsCommand::Show {
                run_id,
                format,
                remote,
                ..
            } if remote.is_remote() => client::show_run(&remote, &run_id, format == Format::Json),
            RunsCommand::Show {
                run_id,
                format,
                store,
                remote: _,
            } => runs::show(&store, &run_id, format == Format::Json)
                .map_err(|error| store.explain(error)),
            RunsCommand::Tail { run_id, remote } => client::tail(&remote, &run_id),
            RunsCommand::Retry {
                run_id,
                from,
                store,
                operator,
            } => {
                runs::retry(&store, &operator, &run_id, &from).map_err(|error| store.explain(error))
            }
            RunsCommand::Signal {
                run_id,
                name,
                payload,
                store,
            } => runs::signal(&store, &run_id, &name, payload.as_deref())
                .map_err(|error| store.explain(error)),
        },
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints pretty JSON on stdout.
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}
