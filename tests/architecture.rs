//! The module map of `docs/architecture.md` holds: every `crate::` and
//! `super::` path in the library's sources names only a module its module may
//! use (the table below mirrors the map), the table itself points downward
//! only (no cycles), and no library file outside the binary (`src/cli/`,
//! `src/main.rs`) mentions `clap`: the binary owns argv.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each module of the map and the modules it may use (`docs/architecture.md`,
/// "Module map"). A module's own children count as itself; `hw` is
/// `src/hw/mod.rs`, which declares the `hw::*` modules and re-exports
/// `hw::model`.
const MAP: &[(&str, &[&str])] = &[
    ("quant", &[]),
    ("output", &[]),
    ("data", &["quant", "output"]),
    ("hw::counters", &["hw::model"]),
    ("net", &[]),
    ("hw::model", &["quant"]),
    ("hw::kernels", &["quant"]),
    ("hw::trace_sink", &["hw::counters"]),
    ("hw::rom", &["hw::model", "quant"]),
    (
        "hw::datapath",
        &["hw::kernels", "net", "hw::model", "quant"],
    ),
    ("hw::energy", &["hw::counters", "hw::model"]),
    ("hw::timing", &["hw::counters", "hw::model"]),
    (
        "hw::core",
        &[
            "hw::datapath",
            "hw::rom",
            "net",
            "hw::model",
            "hw::counters",
            "hw::timing",
            "hw::trace_sink",
            "quant",
        ],
    ),
    ("hw", &["hw::model"]),
    (
        "rules",
        &["hw::core", "hw::datapath", "hw::counters", "hw::trace_sink"],
    ),
    (
        "sim",
        &[
            "rules",
            "data",
            "quant",
            "hw::core",
            "hw::datapath",
            "net",
            "hw::model",
            "hw::counters",
            "hw::trace_sink",
        ],
    ),
    (
        "report",
        &[
            "sim",
            "rules",
            "output",
            "hw::energy",
            "hw::timing",
            "hw::counters",
            "hw::datapath",
            "hw::model",
        ],
    ),
    (
        "trace",
        &[
            "sim",
            "rules",
            "data",
            "output",
            "quant",
            "hw::core",
            "hw::datapath",
            "net",
            "hw::model",
            "hw::counters",
            "hw::trace_sink",
        ],
    ),
    (
        "limits",
        &[
            "sim",
            "rules",
            "data",
            "quant",
            "hw::core",
            "hw::datapath",
            "net",
            "hw::model",
            "hw::counters",
        ],
    ),
    (
        "sweep",
        &[
            "report",
            "sim",
            "rules",
            "data",
            "output",
            "hw::core",
            "hw::datapath",
            "net",
            "hw::model",
        ],
    ),
];

/// The library's sources: every `.rs` file under `src/` but the binary's.
fn library_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.retain(|p| {
        let rel = p.strip_prefix(&src).expect("under src/");
        !rel.starts_with("cli") && rel != Path::new("main.rs")
    });
    files.sort();
    files
}

/// A source file's path from the crate root, for messages.
fn shown(file: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}

/// The module path of a source file: `src/hw/core/conv.rs` → `hw::core::conv`.
fn module_of(file: &Path) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rel = file.strip_prefix(&src).expect("under src/");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The map's module a path falls in: `hw::core::conv::X` → `hw::core`,
/// `sim::watch` → `sim`; an item of `hw` itself (`hw::HwModel`, `hw::load`)
/// is `hw::model`'s, which `src/hw/mod.rs` re-exports; `None` at the crate
/// root.
fn unit(path: &[String]) -> Option<String> {
    match path {
        [] => None,
        [hw] if hw == "hw" => Some("hw".into()),
        [hw, sub, ..] if hw == "hw" => {
            let sub = format!("hw::{sub}");
            Some(if MAP.iter().any(|(m, _)| *m == sub) {
                sub
            } else {
                "hw::model".into()
            })
        }
        [first, ..] => Some(first.clone()),
    }
}

/// The source without comments (line, doc and block) and string literals, so
/// only code is scanned.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal such as '"' (lifetimes have no closing quote).
            i += 3;
        } else {
            let c = text[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Expands a path starting at `s` (after `crate::` or `super::`), with
/// `{…}` groups, into its paths of names.
fn expand(s: &str) -> Vec<Vec<String>> {
    fn tree(s: &str, pos: &mut usize) -> Vec<Vec<String>> {
        let b = s.as_bytes();
        let skip_ws = |pos: &mut usize| {
            while *pos < b.len() && b[*pos].is_ascii_whitespace() {
                *pos += 1;
            }
        };
        let mut prefix = Vec::new();
        loop {
            skip_ws(pos);
            if *pos < b.len() && b[*pos] == b'{' {
                *pos += 1;
                let mut all = Vec::new();
                loop {
                    skip_ws(pos);
                    if *pos >= b.len() || b[*pos] == b'}' {
                        *pos += 1;
                        break;
                    }
                    for sub in tree(s, pos) {
                        let mut p = prefix.clone();
                        p.extend(sub);
                        all.push(p);
                    }
                    skip_ws(pos);
                    if *pos < b.len() && b[*pos] == b',' {
                        *pos += 1;
                    }
                }
                return all;
            }
            let start = *pos;
            while *pos < b.len()
                && (b[*pos].is_ascii_alphanumeric() || b[*pos] == b'_' || b[*pos] == b'*')
            {
                *pos += 1;
            }
            prefix.push(s[start..*pos].to_string());
            skip_ws(pos);
            if s[*pos..].starts_with("::") {
                *pos += 2;
            } else {
                // `as name`, `;`, `,`, `}` or the end of an expression path.
                while *pos < b.len() && !matches!(b[*pos], b',' | b'}' | b';') {
                    if !(b[*pos].is_ascii_alphanumeric() || b[*pos] == b'_' || b[*pos] == b' ') {
                        break;
                    }
                    *pos += 1;
                }
                return vec![prefix];
            }
        }
    }
    let mut pos = 0;
    tree(s, &mut pos)
}

/// Every module of the map a file's code names through `crate::` or
/// `super::`, with the path as written.
fn uses(file: &Path) -> Vec<(String, String)> {
    let code = code_only(&fs::read_to_string(file).expect("readable source"));
    let module = module_of(file);
    let mut found = Vec::new();
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // `super::super::…` is resolved from its first `super`.
        }
        let is_crate = code[at..].starts_with("crate::");
        let rest = &code[at + "crate::".len()..];
        for tail in expand(rest) {
            if !is_crate && tail.len() == 1 && tail[0] == "*" {
                continue; // A test module's `use super::*`: the file's own items.
            }
            // `super` is the parent of the file's module (in an inline
            // `mod tests` it is the file's module: the same map module).
            let mut base = if is_crate {
                Vec::new()
            } else {
                let mut m = module.clone();
                m.pop();
                m
            };
            let mut tail = tail.into_iter().peekable();
            while tail.peek().is_some_and(|s| s == "super") {
                tail.next();
                base.pop();
            }
            base.extend(tail);
            if let Some(u) = unit(&base) {
                let written = format!(
                    "{}{}",
                    if is_crate { "crate::" } else { "super::" },
                    rest.chars()
                        .take_while(|c| !matches!(c, ';' | '\n'))
                        .collect::<String>()
                );
                found.push((u, written));
            }
        }
    }
    found
}

#[test]
fn every_crate_path_follows_the_module_map() {
    let map: BTreeMap<&str, BTreeSet<&str>> = MAP
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut wrong = Vec::new();
    for file in library_files() {
        let Some(from) = unit(&module_of(&file)) else {
            continue; // lib.rs only declares the modules.
        };
        let Some(allowed) = map.get(from.as_str()) else {
            wrong.push(format!("{}: module {from} is not in the map", shown(&file)));
            continue;
        };
        for (to, written) in uses(&file) {
            if to == from || allowed.contains(to.as_str()) {
                continue;
            }
            let why = if map.contains_key(to.as_str()) {
                "not an arrow of the map"
            } else {
                "a module not in the map"
            };
            wrong.push(format!(
                "{}: {from} uses {to} ({why}): {written}",
                shown(&file)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_module_map_points_downward_only() {
    let map: BTreeMap<&str, &[&str]> = MAP.iter().copied().collect();
    for (m, deps) in MAP {
        for d in *deps {
            assert!(map.contains_key(d), "{m} uses {d}, which is not in the map");
        }
    }
    // Depth-first search for a cycle.
    fn visit<'a>(
        m: &'a str,
        map: &BTreeMap<&'a str, &'a [&'a str]>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(m) {
            return;
        }
        assert!(!path.contains(&m), "cycle: {} -> {m}", path.join(" -> "));
        path.push(m);
        for d in map[m] {
            visit(d, map, path, done);
        }
        path.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for (m, _) in MAP {
        visit(m, &map, &mut Vec::new(), &mut done);
    }
}

#[test]
fn only_the_binary_uses_clap() {
    let mut wrong = Vec::new();
    for file in library_files() {
        let code = code_only(&fs::read_to_string(&file).expect("readable source"));
        for (n, line) in code.lines().enumerate() {
            let mentions = line.match_indices("clap").any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + 4..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if mentions {
                wrong.push(format!("{}:{}: {}", shown(&file), n + 1, line.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the library must not use clap (only src/cli/ and src/main.rs may):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scanner_sees_grouped_and_nested_paths() {
    let paths = expand("hw::{core::{Chip, NetSpec}, datapath::Datapath as D}, data::X;");
    let units: Vec<_> = paths.iter().filter_map(|p| unit(p)).collect();
    assert_eq!(units, ["hw::core", "hw::core", "hw::datapath"]);
    let paths = expand("{data::PixelScale, quant::QFormat};");
    let units: Vec<_> = paths.iter().filter_map(|p| unit(p)).collect();
    assert_eq!(units, ["data", "quant"]);
    let code = code_only("/// crate::sim\nlet s = \"crate::sim\"; // crate::sim\nlet c = '\"';");
    assert!(!code.contains("crate::sim"), "{code}");
}
