//! Maps a key path (`transports.twilio.auth_token`, `blocklist[3]`) to the
//! line where it stands in the config file.

use toml_edit::{ImDocument, Item, Value};

/// The parsed file, kept for span lookups.
pub struct SourceMap {
    doc: Option<ImDocument<String>>,
    text: String,
}

/// One step of a key path.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            if let Ok(i) = stripped[..end].parse() {
                out.push(Step::Index(i));
            }
            rest = &stripped[end + 1..];
        }
    }
    out
}

impl SourceMap {
    /// Parses `text` for spans; a file that does not parse gives no lines.
    pub fn new(text: &str) -> Self {
        Self {
            doc: ImDocument::parse(text.to_owned()).ok(),
            text: text.to_owned(),
        }
    }

    /// 1-based line of the deepest part of `path` present in the file.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut best = None;
        for step in steps(path) {
            let next = match (step, node) {
                (Step::Key(k), Node::Table(t)) => t
                    .get_key_value(k)
                    .map(|(key, item)| (key.span(), Node::from_item(item))),
                (Step::Key(k), Node::Value(Value::InlineTable(t))) => t
                    .get_key_value(k)
                    .map(|(key, item)| (key.span(), Node::from_item(item))),
                (Step::Index(i), Node::Value(Value::Array(a))) => {
                    a.get(i).map(|v| (v.span(), Node::Value(v)))
                }
                (Step::Index(i), Node::Tables(a)) => a.get(i).map(|t| (t.span(), Node::Table(t))),
                _ => None,
            };
            let Some((span, next)) = next else { break };
            if let Some(span) = span {
                best = Some(span.start);
            }
            node = next;
        }
        best.map(|offset| self.line_at(offset))
    }

    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a toml_edit::Table),
    Tables(&'a toml_edit::ArrayOfTables),
    Value(&'a Value),
    Other,
}

impl<'a> Node<'a> {
    fn from_item(item: &'a Item) -> Self {
        match item {
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
            Item::Value(v) => Node::Value(v),
            Item::None => Node::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = "[server]\nlisten = \"x\"\n\n[transports.twilio]\nplugin = \"twilio\"\nauth_token = \"t\"\nblocklist = [\"+1\", \"+2\"]\nrate = { calls = 3 }\n";

    #[test]
    fn finds_lines_of_keys() {
        let map = SourceMap::new(TOML);
        assert_eq!(map.line_of("server.listen"), Some(2));
        assert_eq!(map.line_of("transports.twilio.auth_token"), Some(6));
        assert_eq!(map.line_of("transports.twilio.blocklist[1]"), Some(7));
        assert_eq!(map.line_of("transports.twilio.rate.calls"), Some(8));
        // Missing keys fall back to the deepest known parent.
        assert_eq!(map.line_of("transports.twilio.nope"), Some(4));
        assert_eq!(map.line_of("nope"), None);
    }
}
