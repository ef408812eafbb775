//! Where a key is written in the config file, and which key is written at
//! a place, both from the TOML parser's own spans: comments and strings are
//! never searched, so a `[[sink]]` in a comment or in a multi-line string
//! is not a sink and `url` in a comment is not the key.

use std::ops::Range;

use toml_edit::{ImDocument, Item, TableLike, Value};

/// The parsed document, kept for its spans.
pub(super) struct Locator {
    doc: Option<ImDocument<String>>,
}

impl Locator {
    pub(super) fn new(text: &str) -> Locator {
        Locator {
            doc: ImDocument::parse(text.to_string()).ok(),
        }
    }

    /// The span of a dotted key as errors name it (`sink[1].url`,
    /// `agent.check[0].type`, `http.listen`): `(span, true)` when the key
    /// itself is written, `(span of the deepest table found, false)` when
    /// only its table is, `None` when not even that.
    pub(super) fn path(&self, path: &str) -> Option<(Range<usize>, bool)> {
        let doc = self.doc.as_ref()?;
        let segs: Vec<&str> = path.split('.').collect();
        let mut here: &dyn TableLike = doc.as_table();
        let mut found: Option<Range<usize>> = None;
        for (n, seg) in segs.iter().enumerate() {
            let (name, index) = match seg.strip_suffix(']').and_then(|s| s.split_once('[')) {
                Some((name, i)) => (name, i.parse::<usize>().ok()),
                None => (*seg, None),
            };
            let last = n + 1 == segs.len();
            if last && index.is_none() {
                if let Some(span) = key_span(here, name) {
                    return Some((span, true));
                }
                break;
            }
            let Some(item) = here.get(name) else { break };
            let (table, span): (&dyn TableLike, Option<Range<usize>>) = match (item, index) {
                (Item::ArrayOfTables(a), Some(i)) => match a.get(i) {
                    Some(t) => (t, t.span()),
                    None => break,
                },
                (Item::Value(v), Some(i)) => match v.as_array().and_then(|a| a.get(i)) {
                    Some(e) => match e.as_inline_table() {
                        Some(t) => (t, e.span()),
                        None => return e.span().map(|s| (s, last)),
                    },
                    None => break,
                },
                (Item::Table(t), None) => (t, t.span()),
                (Item::Value(v), None) => match v.as_inline_table() {
                    Some(t) => (t, v.span()),
                    None => break,
                },
                _ => break,
            };
            if span.is_some() {
                found = span;
            }
            if last {
                return found.map(|s| (s, false));
            }
            here = table;
        }
        found.map(|s| (s, false))
    }

    /// The dotted key written at byte `offset`, as errors name it: the key
    /// or value there (`sink[2].format`, `sink[0].match.instance`), else the
    /// table whose header or body holds the offset (`haproxy[1]`); `None`
    /// when the text did not parse or the offset is before every table.
    pub(super) fn name_at(&self, offset: usize) -> Option<String> {
        let doc = self.doc.as_ref()?;
        if let Some(k) = written_at(doc.as_table(), "", offset) {
            return Some(k);
        }
        let mut headers = Vec::new();
        headers_of(doc.as_table(), "", &mut headers);
        headers
            .into_iter()
            .filter(|(start, _)| *start <= offset)
            .max_by_key(|(start, _)| *start)
            .map(|(_, name)| name)
    }
}

fn key_span(t: &dyn TableLike, key: &str) -> Option<Range<usize>> {
    t.key(key)
        .and_then(|k| k.span())
        .or_else(|| t.get(key).and_then(Item::span))
}

fn holds(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The deepest key whose name or value holds `offset`.
fn written_at(t: &dyn TableLike, prefix: &str, offset: usize) -> Option<String> {
    for (k, item) in t.iter() {
        let path = join(prefix, k);
        let key = t.key(k).and_then(|k| k.span());
        let found = match item {
            Item::Value(v) => value_at(v, &path, offset).or_else(|| holds(key, offset).then(|| path.clone())),
            Item::Table(tb) => written_at(tb, &path, offset)
                .or_else(|| (holds(tb.span(), offset) || holds(key, offset)).then(|| path.clone())),
            Item::ArrayOfTables(a) => a.iter().enumerate().find_map(|(i, tb)| {
                let path = format!("{path}[{i}]");
                written_at(tb, &path, offset).or_else(|| holds(tb.span(), offset).then_some(path))
            }),
            Item::None => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Within a value: a key of an inline table, or an inline table in a list
/// (`[i]`); a plain value is named by its key.
fn value_at(v: &Value, path: &str, offset: usize) -> Option<String> {
    if !holds(v.span(), offset) {
        return None;
    }
    let inner = match v {
        Value::InlineTable(t) => written_at(t, path, offset),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, e)| {
            e.as_inline_table()
                .and_then(|_| value_at(e, &format!("{path}[{i}]"), offset))
        }),
        _ => None,
    };
    Some(inner.unwrap_or_else(|| path.to_string()))
}

/// Every table header (`[http]`, each `[[sink]]`) with its name.
fn headers_of(t: &dyn TableLike, prefix: &str, out: &mut Vec<(usize, String)>) {
    for (k, item) in t.iter() {
        let path = join(prefix, k);
        match item {
            Item::Table(tb) => {
                if let Some(s) = tb.span() {
                    out.push((s.start, path.clone()));
                }
                headers_of(tb, &path, out);
            }
            Item::ArrayOfTables(a) => {
                for (i, tb) in a.iter().enumerate() {
                    let path = format!("{path}[{i}]");
                    if let Some(s) = tb.span() {
                        out.push((s.start, path.clone()));
                    }
                    headers_of(tb, &path, out);
                }
            }
            _ => {}
        }
    }
}
