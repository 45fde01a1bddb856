//! `cargo xtask tidy`: the code's shape, checked. Every crate's modules must form no import circle, and
//! no Rust source file outside tests may be longer than [`MAX_LINES`] lines (a file's inline
//! `#[cfg(test)]` module does not count).
//!
//! A module *depends on* another when its own code names it: a `use` of it, or a path through it
//! (`crate::a::b`, `super::x`, `self::child`, or a child module's bare name). Re-exports (`pub use`,
//! `pub(crate) use`) are a module's facade, not its code, and do not count. Each file is one module;
//! a path is resolved to the longest module it names.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};

/// The most lines a source file may have outside its tests.
pub(crate) const MAX_LINES: usize = 600;

/// Checks every crate of the workspace under `root`; fails listing every problem.
pub(crate) fn check(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let mut crates = 0;
    for src in crate_sources(root)? {
        crates += 1;
        let modules = modules_of(&src)?;
        for (module, file) in &modules {
            let lines = code_of(&file.text).lines().count();
            if lines > MAX_LINES {
                problems.push(format!(
                    "{} has {lines} lines outside its tests (at most {MAX_LINES}): split it",
                    file.path.display()
                ));
            }
            let _ = module;
        }
        for cycle in cycles(&dependencies(&modules)) {
            problems.push(format!(
                "import circle in {}: {}",
                src.display(),
                cycle.join(" -> ")
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    eprintln!("tidy: {crates} crates, no import circles, no file over {MAX_LINES} lines");
    Ok(())
}

/// The `src` directories of the workspace's crates (every `Cargo.toml` with a `src/` beside it,
/// outside build output, node_modules and the vendored upstream crates in `patches/`).
fn crate_sources(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !matches!(
                    name,
                    "target" | "node_modules" | "pkg" | "dist" | ".git" | ".rivulet" | "patches"
                ) && !name.starts_with('.')
                {
                    stack.push(path);
                }
            } else if name == "Cargo.toml" && dir.join("src").is_dir() {
                found.push(dir.join("src"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A source file of a module.
struct SourceFile {
    path: PathBuf,
    text: String,
}

/// Every module of a crate (`"crate"` for the root, `"a::b"` for `src/a/b.rs` or `src/a/b/mod.rs`),
/// leaving out test-only files (`tests.rs`, `tests/`) and binaries' own roots beside the main one.
fn modules_of(src: &Path) -> Result<BTreeMap<String, SourceFile>> {
    let mut modules = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests" && n != "bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
                continue;
            }
            let relative = path.strip_prefix(src)?.with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let module = match parts.as_slice() {
                [only] if only == "lib" || only == "main" => "crate".to_owned(),
                _ => parts.join("::"),
            };
            let text = std::fs::read_to_string(&path)?;
            modules.insert(module, SourceFile { path, text });
        }
    }
    Ok(modules)
}

/// A file's code without its inline test module: everything from `#[cfg(test)]` (or
/// `#[cfg(all(test, …))]`) followed by a module (`mod`, `pub(crate) mod`, `pub mod`).
fn code_of(text: &str) -> &str {
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let line_trimmed = line.trim();
        let is_test_cfg =
            line_trimmed == "#[cfg(test)]" || line_trimmed.starts_with("#[cfg(all(test,");
        if is_test_cfg
            && lines.peek().is_some_and(|next| {
                let next = next.trim_start();
                let next = next
                    .strip_prefix("pub(crate) ")
                    .or_else(|| next.strip_prefix("pub "))
                    .unwrap_or(next);
                next.starts_with("mod ")
            })
        {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// Each module's dependencies on the crate's other modules.
fn dependencies(modules: &BTreeMap<String, SourceFile>) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeSet<&str> = modules.keys().map(String::as_str).collect();
    let mut graph = BTreeMap::new();
    for (module, file) in modules {
        let mut deps = BTreeSet::new();
        for path in paths_in(code_of(&file.text)) {
            if let Some(target) = resolve(module, &path, &names)
                && target != *module
            {
                deps.insert(target);
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

/// The paths a module's code names: in `use` statements (braces expanded) that are not re-exports, and
/// inline paths with `::`.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let code = strip_comments_and_strings(code);
    let mut rest = code.as_str();
    // `use` statements (up to their `;`), which may span lines and hold groups.
    while let Some(at) = find_word(rest, "use") {
        let before = rest[..at].trim_end();
        let is_reexport = before.ends_with("pub") || before.ends_with(')');
        let Some(end) = rest[at..].find(';') else {
            break;
        };
        let statement = &rest[at + 3..at + end];
        if !is_reexport {
            expand_use(statement.trim(), &mut Vec::new(), &mut paths);
        }
        rest = &rest[at + end..];
    }
    // Inline paths: identifiers joined by `::`.
    let without_uses = remove_use_statements(&code);
    let tokens: Vec<&str> = without_uses
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.contains("::"))
        .collect();
    for token in tokens {
        let segments: Vec<String> = token
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !token.starts_with("::") && segments.len() > 1 {
            paths.push(segments);
        }
    }
    paths
}

/// Expands one `use` tree into its paths.
fn expand_use(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let close = tree.rfind('}').unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let depth = prefix.len();
        prefix.extend(head);
        for item in split_top_level(inner) {
            expand_use(item, prefix, out);
        }
        prefix.truncate(depth);
    } else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        let mut full = prefix.clone();
        full.extend(
            path.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "*")
                .map(str::to_owned),
        );
        if !full.is_empty() {
            out.push(full);
        }
    }
}

/// Splits a `use` group's items at its top-level commas.
fn split_top_level(inner: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// The module a path from `module` names, if it is one of the crate's: the longest prefix that is a
/// module.
fn resolve(module: &str, path: &[String], names: &BTreeSet<&str>) -> Option<String> {
    let here: Vec<&str> = if module == "crate" {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut absolute: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("self") => here.iter().map(|s| s.to_string()).collect(),
        Some("super") => {
            let mut base: Vec<String> = here.iter().map(|s| s.to_string()).collect();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return longest_module(&base, names);
        }
        // A child module named without `self::`.
        Some(first) => {
            let mut child: Vec<String> = here.iter().map(|s| s.to_string()).collect();
            child.push(first.to_owned());
            if !names.contains(child.join("::").as_str()) {
                return None;
            }
            here.iter().map(|s| s.to_string()).collect()
        }
        None => return None,
    };
    let skip = usize::from(matches!(
        path.first().map(String::as_str),
        Some("crate" | "self")
    ));
    absolute.extend(path[skip..].iter().cloned());
    longest_module(&absolute, names)
}

fn longest_module(path: &[String], names: &BTreeSet<&str>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|candidate| names.contains(candidate.as_str()))
        // An item of the crate root.
        .or_else(|| names.contains("crate").then(|| "crate".to_owned()))
}

/// The strongly connected groups of more than one module (Tarjan), each as a circle of names.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.graph.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.reverse();
                    group.push(group[0].clone());
                    self.found.push(group);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !tarjan.index.contains_key(v.as_str()) {
            tarjan.visit(v);
        }
    }
    tarjan.found
}

/// The position of `word` standing alone (not part of a longer identifier) in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(word).map(|i| i + from) {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + word.len()).copied();
        let ident = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
        if !ident(before) && !ident(after) && after.is_some_and(|c| c.is_ascii_whitespace()) {
            return Some(i);
        }
        from = i + word.len();
    }
    None
}

/// The code without its `use` statements.
fn remove_use_statements(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        out.push_str(&rest[..at]);
        match rest[at..].find(';') {
            Some(end) => rest = &rest[at + end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The code with comments, string and char literals blanked (so their words are not read as paths).
fn strip_comments_and_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            'r' if chars.peek() == Some(&'#') || chars.peek() == Some(&'"') => {
                // A raw string r"…" or r#"…"#.
                let mut hashes = 0;
                while chars.peek() == Some(&'#') {
                    chars.next();
                    hashes += 1;
                }
                if chars.peek() != Some(&'"') {
                    out.push('r');
                    continue;
                }
                chars.next();
                let closing: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let mut buffer = String::new();
                for c in chars.by_ref() {
                    buffer.push(c);
                    if buffer.ends_with(&closing) {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('a', '\n', '\'') or a lifetime ('a): blank only literals.
                let look: String = chars.clone().take(3).collect();
                if look.starts_with('\\') || look.chars().nth(1) == Some('\'') {
                    let mut escaped = false;
                    for c in chars.by_ref() {
                        if escaped {
                            escaped = false;
                        } else if c == '\\' {
                            escaped = true;
                        } else if c == '\'' {
                            break;
                        }
                    }
                    out.push_str("' '");
                } else {
                    out.push('\'');
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn graph(files: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
        let modules: BTreeMap<String, SourceFile> = files
            .iter()
            .map(|(m, text)| {
                (
                    m.to_string(),
                    SourceFile {
                        path: PathBuf::from(m),
                        text: text.to_string(),
                    },
                )
            })
            .collect();
        dependencies(&modules)
    }

    fn deps(g: &BTreeMap<String, BTreeSet<String>>, m: &str) -> Vec<String> {
        g[m].iter().cloned().collect()
    }

    #[test]
    fn paths_resolve_to_the_modules_they_name() {
        let g = graph(&[
            (
                "crate",
                "mod a; mod b;\npub use a::Thing;\nfn main() { b::run(); }",
            ),
            ("a", "use crate::b::{self, x::Y};\nuse super::c as other;\n"),
            (
                "b",
                "// crate::a is only a comment\nconst S: &str = \"crate::a\";\n",
            ),
            (
                "b::x",
                "use super::super::c::Z;\nfn f() { crate::d::g() }\n",
            ),
            ("d", ""),
            (
                "c",
                "pub(crate) use crate::a::Thing;\n#[cfg(test)]\nmod tests { use crate::b::x; }\n",
            ),
        ]);
        assert_eq!(deps(&g, "crate"), ["b"], "re-exports do not count");
        assert_eq!(deps(&g, "a"), ["b", "b::x", "c"]);
        assert!(
            deps(&g, "b").is_empty(),
            "comments and strings do not count"
        );
        assert_eq!(deps(&g, "b::x"), ["c", "d"]);
        assert!(deps(&g, "c").is_empty(), "tests do not count");
        assert!(cycles(&g).is_empty());
    }

    #[test]
    fn circles_are_found() {
        let g = graph(&[
            ("crate", "mod a; mod b; mod c;"),
            ("a", "use crate::b::f;"),
            ("b", "fn g() { crate::c::h() }"),
            ("c", "use super::a;"),
            ("d", "use crate::a;"),
        ]);
        let found = cycles(&g);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), 4, "{found:?}");
        for m in ["a", "b", "c"] {
            assert!(found[0].contains(&m.to_owned()));
        }
    }

    #[test]
    fn a_files_tests_do_not_count_towards_its_length() {
        let text = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() {}\n}\n";
        assert_eq!(code_of(text).lines().count(), 1);
        assert_eq!(code_of("fn a() {}\n").lines().count(), 1);
        // Tests for one platform, and a test module other modules' tests borrow from.
        let text = "fn a() {}\n#[cfg(all(test, target_os = \"linux\"))]\nmod tests {}\n";
        assert_eq!(code_of(text).lines().count(), 1);
        let text = "fn a() {}\n#[cfg(test)]\npub(crate) mod tests {}\n";
        assert_eq!(code_of(text).lines().count(), 1);
        // Code only built outside tests still counts.
        let text = "fn a() {}\n#[cfg(not(test))]\nmod real {}\n";
        assert_eq!(code_of(text).lines().count(), 3);
    }
}
