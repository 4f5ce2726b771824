//! The compiler: a flow document in, every diagnostic and (when there is no error) an execution
//! plan out.
//!
//! It never stops at the first problem: each pass records what it finds and the next pass works
//! with whatever could be understood. It reads documents only through `aion-dsl`, nodes only
//! through their manifests, and produces `aion-plan` values; it runs nothing.

mod build;
mod diagnostic;
mod expressions;
mod graph;
mod inputs;
mod nodes;
mod policies;
mod schema_nav;
mod structure;
mod suggest;

use std::collections::HashMap;
use std::sync::OnceLock;

use aion_dsl::source::{Document, Format, Limits};
use aion_node_sdk::Catalog;
use aion_plan::Plan;
use aion_types::codes;

pub use diagnostic::Diagnostic;

/// What a compilation produced.
#[derive(Debug)]
pub struct Output {
    /// The plan, present exactly when there is no error.
    pub plan: Option<Plan>,
    /// Every problem found, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Output {
    /// Whether the document compiled (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.plan.is_some()
    }
}

/// A compiler bound to a node catalog. Building one compiles the document schema; node config
/// schemas are compiled on first use. Reuse it across documents.
pub struct Compiler {
    catalog: Catalog,
    engine: aion_expr::Engine,
    structure: structure::DocumentSchema,
    configs: HashMap<String, OnceLock<Option<jsonschema::Validator>>>,
    limits: Limits,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("node_types", &self.catalog.len())
            .finish_non_exhaustive()
    }
}

impl Compiler {
    /// A compiler for documents using the nodes of `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        let configs = catalog
            .iter()
            .map(|manifest| (manifest.node_type.clone(), OnceLock::new()))
            .collect();
        Compiler {
            catalog,
            engine: aion_expr::Engine::new(aion_expr::Limits::default()),
            structure: structure::DocumentSchema::new(),
            configs,
            limits: Limits::default(),
        }
    }

    /// The node catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The expression engine the compiler checks expressions with.
    pub fn engine(&self) -> &aion_expr::Engine {
        &self.engine
    }

    /// Parses and compiles a document.
    pub fn compile(&self, source: &[u8], format: Format) -> Output {
        match aion_dsl::source::parse(source, format, &self.limits) {
            Ok(document) => {
                let mut output = self.compile_document(&document);
                if let Ok(text) = std::str::from_utf8(source) {
                    for diagnostic in &mut output.diagnostics {
                        refine_column(text, &document, diagnostic);
                    }
                }
                output
            }
            Err(error) => Output {
                plan: None,
                diagnostics: vec![structure::parse_error(&error, format)],
            },
        }
    }

    /// Compiles an already parsed document.
    pub fn compile_document(&self, document: &Document) -> Output {
        let mut diagnostics = Vec::new();
        let plan = self.run_passes(document, &mut diagnostics);
        for diagnostic in &mut diagnostics {
            locate(document, diagnostic);
        }
        diagnostics.sort_by(|a, b| {
            (a.line, a.column, a.code, &a.pointer).cmp(&(b.line, b.column, b.code, &b.pointer))
        });
        diagnostics.dedup();
        let has_error = diagnostics.iter().any(Diagnostic::is_error);
        Output {
            plan: if has_error { None } else { plan },
            diagnostics,
        }
    }

    fn run_passes(&self, document: &Document, out: &mut Vec<Diagnostic>) -> Option<Plan> {
        let Some(root) = document.value.as_object() else {
            out.push(
                Diagnostic::new(
                    codes::ROOT_NOT_OBJECT,
                    "",
                    format!(
                        "the document must be a mapping with `aion`, `id` and `nodes`, not {}",
                        structure::type_name(&document.value)
                    ),
                )
                .hint("start the document with `aion: 1`, then `id:` and `nodes:`"),
            );
            return None;
        };
        if !structure::check_version(root, out) {
            return None;
        }
        self.structure.check(&document.value, out);
        let flow_inputs = inputs::check(root, out);
        policies::check_flow(root, out);
        let mut graph = graph::collect(root, &self.catalog, out);
        nodes::check(self, &graph, out);
        graph.analyse(out);
        let expressions = expressions::check(self, &graph, flow_inputs, out);
        if out.iter().any(Diagnostic::is_error) {
            return None;
        }
        build::plan(document, &graph, expressions, out)
    }

    /// The compiled config validator of a node type, or `None` when its schema does not
    /// compile (a catalog bug, reported once per document as an invalid config).
    fn config_validator(&self, node_type: &str) -> Option<&jsonschema::Validator> {
        let slot = self.configs.get(node_type)?;
        slot.get_or_init(|| {
            let manifest = self.catalog.get(node_type)?;
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&manifest.config_schema)
                .ok()
        })
        .as_ref()
    }
}

/// Fills a diagnostic's line and column from the document's source map. Unknown-field errors
/// point at the key; everything else at the value (or its closest ancestor that exists).
fn locate(document: &Document, diagnostic: &mut Diagnostic) {
    if diagnostic.line.is_some() {
        return;
    }
    let prefers_key = diagnostic.code == codes::UNKNOWN_FIELD.id
        || diagnostic.code == codes::UNKNOWN_CONFIG_FIELD.id;
    let span = if prefers_key {
        document.spans.key(&diagnostic.pointer)
    } else {
        None
    }
    .or_else(|| document.spans.nearest(&diagnostic.pointer));
    if let Some(span) = span {
        diagnostic.line = Some(span.line);
        diagnostic.column = Some(span.column);
    }
}

/// Moves the column of a diagnostic about a position inside a string value onto that position,
/// when the string is written on one line without escapes before it (so source columns and
/// string offsets agree).
fn refine_column(source: &str, document: &Document, diagnostic: &mut Diagnostic) {
    let (Some(offset), Some(line), Some(column)) =
        (diagnostic.value_offset, diagnostic.line, diagnostic.column)
    else {
        return;
    };
    let Some(serde_json::Value::String(value)) = document.value.pointer(&diagnostic.pointer) else {
        return;
    };
    let Some(before) = value.get(..offset) else {
        return;
    };
    let Some(text) = source.lines().nth((line as usize).saturating_sub(1)) else {
        return;
    };
    let rest: String = text
        .chars()
        .skip((column as usize).saturating_sub(1))
        .collect();
    let (quote, content) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => (1, &rest[q.len_utf8()..]),
        _ => (0, rest.as_str()),
    };
    if content.starts_with(before) {
        let shift = quote + before.chars().count();
        diagnostic.column = Some(column + u32::try_from(shift).unwrap_or(0));
    }
}
