//! Whole-process benchmark of `aion check` on one 20-node file: start, read, compile, report.

use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

fn document() -> String {
    let mut text = String::from(
        "aion: 1\nid: twenty-nodes\ninputs:\n  type: object\n  properties:\n    limit: { type: number, default: 5 }\nnodes:\n",
    );
    for i in 0..20 {
        if i == 0 {
            text.push_str("  - id: n0\n    type: core.set\n    config: { value: { count: \"{{ inputs.limit }}\" } }\n");
        } else {
            text.push_str(&format!(
                "  - id: n{i}\n    type: core.set\n    config: {{ value: {{ count: \"{{{{ steps.n{}.output.count + 1 }}}}\" }} }}\n",
                i - 1
            ));
        }
    }
    text.push_str("edges:\n");
    for i in 1..20 {
        text.push_str(&format!("  - {{ from: n{}, to: n{i} }}\n", i - 1));
    }
    text.push_str("output: \"{{ steps.n19.output }}\"\n");
    text
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("aion-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("twenty.yaml");
    std::fs::write(&file, document()).unwrap();
    let binary = env!("CARGO_BIN_EXE_aion");
    let status = Command::new(binary)
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    let mut group = c.benchmark_group("aion_check_process");
    group.sample_size(30);
    group.bench_function("20_node_file", |b| {
        b.iter(|| {
            let output = Command::new(binary)
                .arg("check")
                .arg(&file)
                .output()
                .unwrap();
            assert!(output.status.success());
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
