//! The `aion` binary: parses the command line and hands each subcommand to its module.
//!
//! Data goes to stdout, everything else (progress, errors) to stderr. Exit codes are part of the
//! contract: 0 success, 1 the input is invalid, 2 usage or I/O error.
#![expect(clippy::print_stdout, clippy::print_stderr, reason = "this is the CLI")]

mod check;
mod nodes;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Aion: self-hosted AI workflow automation.
#[derive(Debug, Parser)]
#[command(
    name = "aion",
    version,
    about = "Aion: self-hosted AI workflow automation. Check flow documents, print their plans, \
             the document schema and the node catalog.",
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
