//! Text snapshots of a plugin interface's layout: every type reachable from
//! a root module, as abi_stable records it.
//!
//! abi_stable refuses a plugin whose types differ from the host's, so a
//! change to any type reachable from a root module breaks every plugin built
//! before it. The tests of this crate walk that graph for each generation
//! and compare it with the generation's baseline file
//! (`plugin-api-v1/abi-baseline.txt`, frozen; `plugin-api/abi-baseline.txt`
//! and `plugin-api/abi-2.0.txt` for generation 2). The rules are in
//! docs/plugin-api-versioning.md.

use std::{collections::HashMap, fmt::Write as _, path::Path};

use abi_stable::{
    std_types::UTypeId,
    type_layout::{TLData, TLFields, TypeLayout},
};

/// Walks the type graph depth-first in declaration order, numbering each
/// distinct type (by its type id) the first time it is met, so the output is
/// the same on every run and generic instances stay apart.
struct Walker {
    ids: HashMap<UTypeId, usize>,
    entries: Vec<String>,
}

impl Walker {
    fn visit(&mut self, layout: &'static TypeLayout) -> usize {
        let key = layout.get_utypeid();
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let id = self.entries.len();
        self.ids.insert(key, id);
        self.entries.push(String::new());
        let text = self.describe(id, layout);
        self.entries[id] = text;
        id
    }

    fn fields(&mut self, out: &mut String, what: &str, fields: TLFields) {
        for field in fields.iter() {
            let id = self.visit(field.layout());
            let _ = writeln!(
                out,
                "  {what} {}: {} #{id}",
                field.name(),
                field.full_type()
            );
            for function in field.function_range().iter() {
                let mut params = Vec::new();
                for param in function.param_type_layouts.iter() {
                    params.push(format!("#{}", self.visit(param())));
                }
                let ret = function
                    .return_type_layout()
                    .map(|ret| format!("#{}", self.visit(ret())))
                    .unwrap_or_else(|| "()".to_owned());
                let _ = writeln!(
                    out,
                    "    fn {} ({}) -> {ret}",
                    function.to_string().replace('\n', " "),
                    params.join(", ")
                );
            }
        }
    }

    fn describe(&mut self, id: usize, layout: &'static TypeLayout) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "#{id} {} [{}] size {} align {} repr {:?}",
            layout.full_type(),
            layout.package(),
            layout.size(),
            layout.alignment(),
            layout.repr_attr()
        );
        match layout.data() {
            TLData::Primitive(p) => {
                let _ = writeln!(out, "  primitive {p:?}");
            }
            TLData::Opaque => out.push_str("  opaque\n"),
            TLData::Struct { fields } => self.fields(&mut out, "field", fields),
            TLData::Union { fields } => self.fields(&mut out, "union field", fields),
            TLData::Enum(e) => {
                let _ = writeln!(
                    out,
                    "  enum variants [{}] field counts {:?} exhaustive {}",
                    e.variant_names,
                    e.field_count.as_slice(),
                    e.exhaustiveness.is_exhaustive()
                );
                self.fields(&mut out, "variant field", e.fields);
            }
            TLData::PrefixType(p) => {
                let _ = writeln!(
                    out,
                    "  prefix type, first suffix field {}",
                    p.first_suffix_field
                );
                self.fields(&mut out, "prefix field", p.fields);
            }
        }
        self.fields(&mut out, "phantom", layout.phantom_fields());
        let mut shared = Vec::new();
        for layout in layout.shared_vars().type_layouts() {
            shared.push(format!("#{}", self.visit(layout())));
        }
        let _ = writeln!(out, "  uses {}", shared.join(" "));
        out
    }
}

/// The snapshot of everything reachable from `root`, after `header` (comment
/// lines, each starting with `#` and a space).
pub fn snapshot(root: &'static TypeLayout, header: &str) -> String {
    let mut walker = Walker {
        ids: HashMap::new(),
        entries: Vec::new(),
    };
    walker.visit(root);
    let mut out = header.to_owned();
    for entry in walker.entries {
        out.push('\n');
        out.push_str(&entry);
    }
    out
}

/// The first line where two snapshots differ (1-based), with both lines.
pub fn first_difference(expected: &str, actual: &str) -> Option<(usize, String, String)> {
    if expected == actual {
        return None;
    }
    let index = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    Some((
        index + 1,
        expected.lines().nth(index).unwrap_or("<end>").to_owned(),
        actual.lines().nth(index).unwrap_or("<end>").to_owned(),
    ))
}

/// The lines of a snapshot that a 2.x minor must keep, in order: every
/// line except the `uses` lists (a type that gains a field uses more) and
/// the size of prefix types (they grow by design).
fn kept_lines(snapshot: &str) -> Vec<String> {
    let mut kept = Vec::new();
    for block in snapshot.split("\n\n") {
        let mut lines = block.lines();
        let Some(head) = lines.next() else { continue };
        if head.starts_with("# ") {
            continue;
        }
        let rest: Vec<&str> = lines.collect();
        let prefix = rest.first().is_some_and(|l| l.starts_with("  prefix type"));
        kept.push(if prefix {
            head.split(" size ").next().unwrap_or(head).to_owned()
        } else {
            head.to_owned()
        });
        kept.extend(
            rest.iter()
                .filter(|l| !l.starts_with("  uses"))
                .map(|l| (*l).to_owned()),
        );
    }
    kept
}

/// Whether `newer` only appends to `older`: every line `older` must keep
/// appears in `newer` in the same order. Appending fields, methods and
/// types passes; editing, removing or reordering anything fails, with the
/// first line that is gone.
pub fn only_appends(older: &str, newer: &str) -> Result<(), String> {
    let newer_lines = kept_lines(newer);
    let mut rest = newer_lines.iter();
    for line in kept_lines(older) {
        if !rest.any(|l| *l == line) {
            return Err(format!("this line is gone or moved: {line:?}"));
        }
    }
    Ok(())
}

/// Reads a baseline file; a missing one reads as empty.
pub fn read_baseline(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
