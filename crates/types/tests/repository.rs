//! Repository-wide conventions checked as tests: every Rust file opens with a `//!` module doc,
//! and every diagnostic code has its page under `docs/errors/` (and every page a code).

use std::path::{Path, PathBuf};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let root = repository_root();
    let mut files = Vec::new();
    for dir in ["crates", "fuzz"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|file| {
            file.strip_prefix(&root)
                .unwrap_or(file)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not start with a `//!` module doc: {missing:#?}"
    );
}

#[test]
fn every_code_has_a_doc_page_and_every_page_a_code() {
    let dir = repository_root().join("docs/errors");
    for code in aion_types::codes::ALL {
        let page = dir.join(format!("{}.md", code.id));
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|_| panic!("{} has no page at {}", code.id, page.display()));
        assert!(
            text.starts_with(&format!("# {}: {}", code.id, code.title)),
            "{} must start with `# {}: {}`",
            page.display(),
            code.id,
            code.title
        );
        assert!(
            text.len() > 200,
            "{} is too short to help anyone",
            page.display()
        );
    }
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "README.md" {
            continue;
        }
        let id = name.trim_end_matches(".md");
        assert!(
            aion_types::codes::find(id).is_some(),
            "docs/errors/{name} documents no registered code"
        );
    }
}
