//! Where a key is written in the config file, from the TOML parser's own
//! spans: comments and strings are never searched, so a `[[sink]]` in a
//! comment is not a sink and `url` in a comment is not the key.

use std::ops::Range;

use toml_edit::{ImDocument, Item, TableLike};

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

    /// The span of `key` in the table at the dotted path `table` (its
    /// `index`-th entry for a `[[table]]`), else of that table's header,
    /// else the start of the file.
    pub(super) fn at(&self, table: &str, index: Option<usize>, key: Option<&str>) -> Range<usize> {
        self.find(table, index, key).unwrap_or(0..0)
    }

    /// `key` in `[table]`.
    pub(super) fn key(&self, table: &str, key: &str) -> Range<usize> {
        self.at(table, None, Some(key))
    }

    fn find(&self, table: &str, index: Option<usize>, key: Option<&str>) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut item: Option<&Item> = None;
        let mut here: &dyn TableLike = doc.as_table();
        for seg in table.split('.').filter(|s| !s.is_empty()) {
            let next = here.get(seg)?;
            item = Some(next);
            here = next.as_table_like().unwrap_or(here);
        }
        let (entry, header) = match (item, index) {
            (None, _) => return key.and_then(|k| key_span(doc.as_table(), k)),
            (Some(it), Some(i)) => match it {
                Item::ArrayOfTables(a) => {
                    let t = a.get(i)?;
                    (t as &dyn TableLike, t.span())
                }
                Item::Value(v) => {
                    let t = v.as_array()?.get(i)?;
                    (t.as_inline_table()? as &dyn TableLike, t.span())
                }
                _ => return it.span(),
            },
            (Some(it), None) => match it {
                Item::Table(t) => (t as &dyn TableLike, t.span()),
                Item::Value(v) => (v.as_inline_table()? as &dyn TableLike, v.span()),
                _ => return it.span(),
            },
        };
        key.and_then(|k| key_span(entry, k)).or(header)
    }
}

impl Locator {
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
}

fn key_span(t: &dyn TableLike, key: &str) -> Option<Range<usize>> {
    t.key(key)
        .and_then(|k| k.span())
        .or_else(|| t.get(key).and_then(Item::span))
}
