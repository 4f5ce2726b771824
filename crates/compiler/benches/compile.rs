//! Compiler benchmarks: a 1,000-node flow with an expression in every node, compiled from a
//! parsed document, from JSON bytes and from YAML bytes.

use aion_compiler::Compiler;
use aion_dsl::source::{Format, Limits, parse};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

/// `size` nodes: a chain of `core.set` nodes, each reading the previous one's output, with a
/// `core.if` every tenth node so ports and branches are exercised too.
pub fn flow(size: usize) -> serde_json::Value {
    let mut nodes = Vec::with_capacity(size);
    let mut edges = Vec::with_capacity(size);
    for i in 0..size {
        let node = if i % 10 == 9 {
            json!({
                "id": format!("n{i}"),
                "type": "core.if",
                "config": { "condition": format!("{{{{ steps.n{}.output.total > inputs.threshold }}}}", i - 1) }
            })
        } else if i == 0 {
            json!({ "id": "n0", "type": "core.set", "config": { "value": { "total": "{{ inputs.threshold * 2 }}" } } })
        } else {
            let previous = if (i - 1) % 10 == 9 { i - 2 } else { i - 1 };
            json!({
                "id": format!("n{i}"),
                "type": "core.set",
                "config": { "value": { "total": format!("{{{{ steps.n{previous}.output.total + 1 }}}}"), "label": "step {{ run.id }}" } },
                "retry": { "max_attempts": 3, "initial": "100ms", "max": "2s" },
                "timeout": "5s"
            })
        };
        nodes.push(node);
        if i > 0 {
            let edge = if (i - 1) % 10 == 9 {
                json!({ "from": format!("n{}", i - 1), "port": "true", "to": format!("n{i}") })
            } else {
                json!({ "from": format!("n{}", i - 1), "to": format!("n{i}") })
            };
            edges.push(edge);
        }
    }
    json!({
        "aion": 1,
        "id": "bench-flow",
        "inputs": { "type": "object", "properties": { "threshold": { "type": "number", "default": 10 } } },
        "nodes": nodes,
        "edges": edges,
        "output": format!("{{{{ steps.n{}.output }}}}", size - 2),
    })
}

fn bench(c: &mut Criterion) {
    let compiler = Compiler::new(aion_nodes::catalog());
    let document = flow(1000);
    let json_text = serde_json::to_vec(&document).unwrap();
    let yaml_text = json_text.clone(); // JSON is YAML; block YAML is generated below.
    let yaml_block = to_block_yaml(&document);
    let parsed = parse(&json_text, Format::Json, &Limits::default()).unwrap();
    assert!(compiler.compile_document(&parsed).is_valid());
    assert!(
        compiler
            .compile(yaml_block.as_bytes(), Format::Yaml)
            .is_valid()
    );
    let _ = yaml_text;

    let mut group = c.benchmark_group("compile_1000_nodes");
    group.sample_size(30);
    group.bench_function("parsed_document", |b| {
        b.iter(|| compiler.compile_document(&parsed))
    });
    group.bench_function("from_json_bytes", |b| {
        b.iter(|| compiler.compile(&json_text, Format::Json))
    });
    group.bench_function("from_yaml_bytes", |b| {
        b.iter(|| compiler.compile(yaml_block.as_bytes(), Format::Yaml))
    });
    group.finish();
}

/// Block-style YAML, the way people write flows.
fn to_block_yaml(value: &serde_json::Value) -> String {
    fn write(value: &serde_json::Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match value {
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    out.push_str(&format!("{pad}{key}:"));
                    nested(item, indent, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    out.push_str(&format!("{pad}-"));
                    nested(item, indent, out);
                }
            }
            scalar => out.push_str(&format!("{pad}{scalar}\n")),
        }
    }
    fn nested(item: &serde_json::Value, indent: usize, out: &mut String) {
        match item {
            serde_json::Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write(item, indent + 2, out);
            }
            serde_json::Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write(item, indent + 2, out);
            }
            scalar => out.push_str(&format!(" {scalar}\n")),
        }
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
