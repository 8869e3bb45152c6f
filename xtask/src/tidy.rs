//! Repository checks that keep the tree consistent: every Rust file opens with a `//!`
//! role line, no `dbg!`, no ignored tests, no `mod.rs`, and no key-like strings in
//! fixtures.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Runs every check and reports all problems at once.
pub fn run(root: &Path) -> Result<()> {
    let problems = problems(root);
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "{} tidy problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    )
}

fn problems(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();

    let mut sources = Vec::new();
    for dir in ["crates", "xtask"] {
        collect_files(&root.join(dir), &mut sources);
    }
    for path in sources.iter().filter(|p| has_extension(p, "rs")) {
        check_rust_file(root, path, &mut problems);
    }

    let mut fixtures = Vec::new();
    collect_files(&root.join("fixtures"), &mut fixtures);
    for path in &fixtures {
        check_fixture(root, path, &mut problems);
    }
    problems
}

fn check_rust_file(root: &Path, path: &Path, problems: &mut Vec<String>) {
    let display_path = relative(root, path);
    let Ok(text) = fs::read_to_string(path) else {
        problems.push(format!("{display_path}: not readable as UTF-8"));
        return;
    };

    if path.file_name().is_some_and(|n| n == "mod.rs") {
        problems.push(format!(
            "{display_path}: use `name.rs` beside `name/` instead of mod.rs"
        ));
    }
    if !text.trim_start().starts_with("//!") {
        problems.push(format!(
            "{display_path}: must open with a `//!` line that says its role"
        ));
    }
    // The patterns are split so that this file does not report itself.
    let forbidden = [
        (concat!("dbg", "!("), "remove the dbg! call"),
        (
            concat!("#[", "ignore"),
            "tests are never ignored; assert the current result with a NOTE instead",
        ),
    ];
    for (number, line) in text.lines().enumerate() {
        for (pattern, advice) in forbidden {
            if line.contains(pattern) {
                problems.push(format!("{display_path}:{}: {advice}", number + 1));
            }
        }
    }
}

/// Flags tokens that look like real credentials: 24 or more letters and digits mixing
/// upper case, lower case and digits. Generated ids in fixtures are lower-case hex or
/// UUIDs with dashes, so they pass.
fn check_fixture(root: &Path, path: &Path, problems: &mut Vec<String>) {
    let Ok(bytes) = fs::read(path) else {
        problems.push(format!("{}: not readable", relative(root, path)));
        return;
    };
    let text = String::from_utf8_lossy(&bytes);

    let tokens = text.split(|c: char| !c.is_ascii_alphanumeric());
    for token in tokens.filter(|t| t.len() >= 24) {
        let upper = token.chars().any(|c| c.is_ascii_uppercase());
        let lower = token.chars().any(|c| c.is_ascii_lowercase());
        let digit = token.chars().any(|c| c.is_ascii_digit());
        if upper && lower && digit {
            problems.push(format!(
                "{}: key-like string {}…; fixtures never hold real keys",
                relative(root, path),
                &token[..8]
            ));
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let skip = path
            .file_name()
            .is_some_and(|n| n == "target" || n.to_string_lossy().starts_with('.'));
        if skip {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension().is_some_and(|e| e == extension)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_is_tidy() {
        let root = crate::project_root();
        let problems = problems(&root);
        assert!(
            problems.is_empty(),
            "tidy problems:\n  {}",
            problems.join("\n  ")
        );
    }

    #[test]
    fn key_like_token_is_flagged() {
        let dir = std::env::temp_dir().join(format!("tidy-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("event.json");
        fs::write(&file, r#"{"key":"sdAbc123Def456Ghi789Jkl012"}"#).expect("write");

        let mut problems = Vec::new();
        check_fixture(&dir, &file, &mut problems);
        fs::remove_dir_all(&dir).expect("cleanup");

        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn uuid_and_hex_ids_are_not_flagged() {
        let dir = std::env::temp_dir().join(format!("tidy-ids-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("event.json");
        let ids = r#"{"a":"800411b1-5554-4ae2-952f-cad0cff642c3","b":"derived-ef9e86fce97aef5b0e7cd3b8d4a639aa"}"#;
        fs::write(&file, ids).expect("write");

        let mut problems = Vec::new();
        check_fixture(&dir, &file, &mut problems);
        fs::remove_dir_all(&dir).expect("cleanup");

        assert!(problems.is_empty(), "{problems:?}");
    }
}
