//! A small reader of the Prometheus text format (0.0.4 and OpenMetrics
//! text), for comparing two `/metrics` outputs sample by sample. Shared by
//! the unit tests of `src/metrics` and the integration tests.

use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Default)]
pub struct Exposition {
    /// Family name (as in `# TYPE`) → type.
    pub types: BTreeMap<String, String>,
    pub helps: BTreeMap<String, String>,
    /// (sample name, labels) → value.
    pub samples: BTreeMap<(String, Labels), f64>,
}

impl Exposition {
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut out = Exposition::default();
        for (n, line) in text.lines().enumerate() {
            let err = |m: &str| format!("line {}: {m}: {line:?}", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').ok_or_else(|| err("bad TYPE"))?;
                out.types.insert(name.to_string(), ty.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                out.helps.insert(name.to_string(), help.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (name, labels, rest) = match line.find('{') {
                Some(i) if i < line.find(' ').unwrap_or(usize::MAX) => {
                    let (labels, used) = parse_labels(&line[i + 1..]).map_err(|e| err(&e))?;
                    (&line[..i], labels, &line[i + 1 + used..])
                }
                _ => {
                    let sp = line.find(' ').ok_or_else(|| err("no value"))?;
                    (&line[..sp], Labels::new(), &line[sp..])
                }
            };
            let value = rest.split_whitespace().next().ok_or_else(|| err("no value"))?;
            let v: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().map_err(|_| err("bad value"))?,
            };
            if out.samples.insert((name.to_string(), labels), v).is_some() {
                return Err(err("duplicate sample"));
            }
        }
        Ok(out)
    }

    /// The samples of one metric name.
    pub fn of(&self, name: &str) -> Vec<(&Labels, f64)> {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|((_, l), v)| (l, *v))
            .collect()
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let l: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.get(&(name.to_string(), l)).copied()
    }

    /// Sample names, deduplicated.
    pub fn names(&self) -> std::collections::BTreeSet<&str> {
        self.samples.keys().map(|(n, _)| n.as_str()).collect()
    }
}

/// Parses `a="x",b="y"}`; returns the labels and the bytes used (through `}`).
fn parse_labels(s: &str) -> Result<(Labels, usize), String> {
    let mut labels = Labels::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b',' || b[i] == b' ') {
            i += 1;
        }
        if i < b.len() && b[i] == b'}' {
            return Ok((labels, i + 1));
        }
        let eq = s[i..].find('=').ok_or("label without =")? + i;
        let key = s[i..eq].to_string();
        if b.get(eq + 1) != Some(&b'"') {
            return Err("label value not quoted".into());
        }
        let mut j = eq + 2;
        let mut val = String::new();
        while j < b.len() && b[j] != b'"' {
            if b[j] == b'\\' && j + 1 < b.len() {
                val.push(match b[j + 1] {
                    b'n' => '\n',
                    c => c as char,
                });
                j += 2;
            } else {
                let c = s[j..].chars().next().unwrap();
                val.push(c);
                j += c.len_utf8();
            }
        }
        if j >= b.len() {
            return Err("unterminated label value".into());
        }
        labels.insert(key, val);
        i = j + 1;
    }
}
