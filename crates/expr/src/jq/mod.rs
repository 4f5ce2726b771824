//! Compiling jq programs for `core.transform`.
//!
//! A program is lexed and parsed with jaq's public parser (so errors carry byte offsets),
//! rewritten so that allocation-heavy operations are checked (`rewrite.rs`), and compiled
//! together with jaq's standard definitions, which are rewritten the same way. The user's
//! program becomes the last definition of the prelude (`def __aion_main: <program>;`), which is
//! how a pre-parsed program can be handed to jaq's loader. Module directives (`import`,
//! `include`) are refused: programs cannot read files. Parsing and compiling recurse on the
//! program's nesting, so they run on a thread with a large stack. This module deliberately does
//! not run programs: see `run.rs`.

mod guard;
mod natives;
mod pool;
mod rewrite;
mod run;
mod value;

use std::fmt;
use std::sync::{Arc, OnceLock};

use jaq_core::load::parse::{Def, Parser};
use jaq_core::load::{Arena, File, Lexer, Loader};
use jaq_core::{Compiler, Filter};

use crate::error::CompileError;
use crate::stack::{COMPILE_STACK, run_with_stack};
use guard::Jq;

pub(crate) use run::{overdue_runs, run};

/// The longest jq program that is accepted.
pub const MAX_PROGRAM_BYTES: usize = 64 * 1024;

/// How many timed-out jq workers may still be running before new runs are refused with
/// [`ErrorKind::JqBusy`](crate::ErrorKind::JqBusy).
pub const MAX_OVERDUE_JQ_RUNS: usize = 4;

const MAIN: &str = "__aion_main";

/// A compiled jq program; cheap to clone and to share between threads.
#[derive(Clone)]
pub struct JqProgram {
    source: Arc<str>,
    filter: Arc<Filter<Jq>>,
}

impl JqProgram {
    /// The program text as it was compiled.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for JqProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JqProgram")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The standard definitions (jaq core, std and JSON), parsed and rewritten once.
fn std_defs() -> &'static [Def<&'static str>] {
    static DEFS: OnceLock<Vec<Def<&'static str>>> = OnceLock::new();
    DEFS.get_or_init(|| {
        jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .map(rewrite::def)
            .collect()
    })
}

/// Compiles a jq program.
pub(crate) fn compile(program: &str) -> Result<JqProgram, CompileError> {
    if program.len() > MAX_PROGRAM_BYTES {
        return Err(CompileError::JqSyntax {
            offset: MAX_PROGRAM_BYTES,
            message: format!("program is longer than {MAX_PROGRAM_BYTES} bytes"),
        });
    }
    let trimmed = program.trim_start();
    if trimmed.starts_with("import") || trimmed.starts_with("include") {
        return Err(CompileError::JqSyntax {
            offset: program.len() - trimmed.len(),
            message: "modules (import, include) are not supported".into(),
        });
    }
    let source: Arc<str> = Arc::from(program);
    let text = source.clone();
    let filter = run_with_stack("aion-jq-compile", COMPILE_STACK, move || {
        compile_on_stack(&text)
    })
    .map_err(|message| CompileError::JqSyntax { offset: 0, message })??;
    Ok(JqProgram {
        source,
        filter: Arc::new(filter),
    })
}

/// Byte offset of `part` in `whole`, when `part` is a slice of it.
fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let start = part.as_ptr().addr().checked_sub(whole.as_ptr().addr())?;
    (start <= whole.len()).then_some(start)
}

fn syntax(code: &str, at: &str, message: String) -> CompileError {
    CompileError::JqSyntax {
        offset: offset_in(code, at).unwrap_or(0),
        message,
    }
}

fn compile_on_stack(code: &str) -> Result<Filter<Jq>, CompileError> {
    let tokens = Lexer::new(code).lex().map_err(|errs| match errs.first() {
        Some((expect, at)) => syntax(code, at, format!("expected {}", expect.as_str())),
        None => syntax(code, code, "cannot read program".into()),
    })?;
    let term = Parser::new(&tokens)
        .parse(|p| p.term())
        .map_err(|errs| match errs.first() {
            Some((expect, found)) => {
                let at = found.map_or(&code[code.len()..], |t| t.as_str());
                let found = if at.is_empty() {
                    "end of program".to_owned()
                } else {
                    format!("`{}`", at.chars().take(40).collect::<String>())
                };
                syntax(
                    code,
                    at,
                    format!("expected {}, found {found}", expect.as_str()),
                )
            }
            None => syntax(code, code, "cannot parse program".into()),
        })?;
    let main = Def {
        name: MAIN,
        args: Vec::new(),
        body: rewrite::term(term),
    };
    let prelude = std_defs().iter().cloned().chain([main]);
    let arena = Arena::default();
    let modules = Loader::new(prelude)
        .load(
            &arena,
            File {
                code: MAIN,
                path: (),
            },
        )
        .map_err(|_| syntax(code, code, "cannot load program".into()))?;
    Compiler::default()
        .with_funs(natives::all())
        .compile(modules)
        .map_err(|errs| {
            let first = errs.iter().flat_map(|(_, e)| e.iter()).next();
            match first {
                Some((name, undefined)) => {
                    let what = undefined.as_str();
                    let name = match undefined {
                        jaq_core::compile::Undefined::Filter(arity) => format!("{name}/{arity}"),
                        _ => (*name).to_owned(),
                    };
                    syntax(
                        code,
                        name_slice(code, first),
                        format!("undefined {what} `{name}`"),
                    )
                }
                None => syntax(code, code, "cannot compile program".into()),
            }
        })
}

/// The source slice an undefined-symbol error points at.
fn name_slice<'c>(code: &'c str, first: Option<&(&str, jaq_core::compile::Undefined)>) -> &'c str {
    first
        .and_then(|(name, _)| {
            let start = offset_in(code, name)?;
            code.get(start..start + name.len())
        })
        .unwrap_or(code)
}
