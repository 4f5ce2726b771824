//! `aion check` and `aion plan`: read documents, compile them, report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aion_compiler::{Compiler, Diagnostic};
use aion_dsl::source::Format as SourceFormat;
use anyhow::Context as _;
use serde::Serialize;

use crate::{Format, render};

/// One file's result in `--format json`.
#[derive(Debug, Serialize)]
struct FileReport<'a> {
    file: String,
    valid: bool,
    diagnostics: &'a [Diagnostic],
}

/// Expands directories into the flow documents they contain, sorted, recursively.
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)
                .with_context(|| format!("cannot read directory {}", path.display()))?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            found.push(path);
        }
    }
    Ok(())
}

pub(crate) fn check(paths: &[PathBuf], format: Format) -> anyhow::Result<ExitCode> {
    let files = expand(paths)?;
    let compiler = Compiler::new(aion_nodes::catalog());
    let mut io_failed = false;
    let mut any_invalid = false;
    let mut reports = Vec::new();
    let (mut errors, mut warnings) = (0usize, 0usize);
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(error) => {
                eprintln!("error: cannot read {}: {error}", file.display());
                io_failed = true;
                continue;
            }
        };
        let output = compiler.compile(&bytes, SourceFormat::from_path(file));
        any_invalid |= !output.is_valid();
        errors += output.diagnostics.iter().filter(|d| d.is_error()).count();
        warnings += output.diagnostics.iter().filter(|d| !d.is_error()).count();
        match format {
            Format::Human => {
                let text = String::from_utf8_lossy(&bytes);
                for diagnostic in &output.diagnostics {
                    print!(
                        "{}",
                        render::diagnostic(&file.display().to_string(), &text, diagnostic)
                    );
                }
            }
            Format::Json => reports.push((file.display().to_string(), output)),
        }
    }
    match format {
        Format::Json => {
            let json: Vec<FileReport<'_>> = reports
                .iter()
                .map(|(file, output)| FileReport {
                    file: file.clone(),
                    valid: output.is_valid(),
                    diagnostics: &output.diagnostics,
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        Format::Human => {
            let checked = files.len();
            let noun = if checked == 1 { "file" } else { "files" };
            if errors == 0 && warnings == 0 && !io_failed {
                eprintln!("checked {checked} {noun}: all valid");
            } else {
                eprintln!("checked {checked} {noun}: {errors} error(s), {warnings} warning(s)");
            }
        }
    }
    Ok(if io_failed {
        ExitCode::from(2)
    } else if any_invalid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn plan(file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let compiler = Compiler::new(aion_nodes::catalog());
    let output = compiler.compile(&bytes, SourceFormat::from_path(file));
    let text = String::from_utf8_lossy(&bytes);
    for diagnostic in &output.diagnostics {
        eprint!(
            "{}",
            render::diagnostic(&file.display().to_string(), &text, diagnostic)
        );
    }
    match output.plan {
        Some(plan) => crate::print_json(&plan),
        None => Ok(ExitCode::from(1)),
    }
}
