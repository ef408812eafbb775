//! Output formats. prometheus-client writes OpenMetrics text; Prometheus
//! asks for it, and gets it verbatim. Everything else (curl, promtool,
//! older scrapers, and what the Go exporter always served) gets the
//! Prometheus text format 0.0.4, which differs from OpenMetrics only in its
//! comment lines for our metric types: a counter's HELP/TYPE name carries
//! `_total`, and there are no `# UNIT` or `# EOF` lines. [`Text004`] rewrites
//! those lines as they are written; sample lines pass through untouched.
//!
//! Written by hand because no well-kept crate writes 0.0.4 without first
//! building every sample as an owned protobuf-like struct (the `prometheus`
//! crate), which costs more than the whole scrape at 340k series.

use std::fmt::{self, Write};

/// The format a scraper gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    /// OpenMetrics when the `Accept` header asks for it, else 0.0.4.
    pub(crate) fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text004,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// A `fmt::Write` that turns OpenMetrics text into 0.0.4 text on the way to `out`.
pub(crate) struct Text004<W: Write> {
    out: W,
    /// The comment line being collected (comment lines are a few per family).
    line: String,
    /// A `# HELP` line waiting for its `# TYPE` (which decides the name).
    help: String,
    in_comment: bool,
    at_line_start: bool,
}

impl<W: Write> Text004<W> {
    pub(crate) fn new(out: W) -> Text004<W> {
        Text004 {
            out,
            line: String::new(),
            help: String::new(),
            in_comment: false,
            at_line_start: true,
        }
    }

    pub(crate) fn into_inner(self) -> W {
        self.out
    }

    fn comment(&mut self) -> fmt::Result {
        let line = std::mem::take(&mut self.line);
        if line.starts_with("# HELP ") {
            self.help = line;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.trim_end().split_once(' ').unwrap_or((rest.trim_end(), "untyped"));
            let (name, ty) = match ty {
                "counter" => (format!("{name}_total"), "counter"),
                "unknown" => (name.to_string(), "untyped"),
                t => (name.to_string(), t),
            };
            if let Some(text) = self.help.strip_prefix("# HELP ").and_then(|h| h.split_once(' ')) {
                write!(self.out, "# HELP {name} {}", text.1)?;
            }
            self.help.clear();
            writeln!(self.out, "# TYPE {name} {ty}")?;
        }
        // `# UNIT` and `# EOF` have no 0.0.4 equivalent.
        Ok(())
    }
}

impl<W: Write> Write for Text004<W> {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while !s.is_empty() {
            if self.at_line_start {
                self.in_comment = s.starts_with('#');
                self.at_line_start = false;
            }
            let (part, rest, eol) = match s.find('\n') {
                Some(i) => (&s[..=i], &s[i + 1..], true),
                None => (s, "", false),
            };
            if self.in_comment {
                self.line.push_str(part);
                if eol {
                    self.comment()?;
                }
            } else {
                self.out.write_str(part)?;
            }
            self.at_line_start = eol;
            s = rest;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::{Registry, Unit};

    #[test]
    fn counters_get_total_in_comments_and_eof_goes() {
        let mut r = Registry::default();
        let c: Counter = Counter::default();
        c.inc_by(3);
        r.register("x_bytes", "Bytes", c);
        let g: Gauge = Gauge::default();
        g.set(-2);
        r.register_with_unit("y", "Seconds", Unit::Seconds, g);
        let mut om = String::new();
        prometheus_client::encoding::text::encode(&mut om, &r).unwrap();
        assert!(om.contains("# TYPE x_bytes counter\nx_bytes_total 3\n"), "{om}");
        assert!(om.ends_with("# EOF\n"));
        let mut t = Text004::new(String::new());
        // Feed it in odd pieces: the adapter must not care how writes are cut.
        for chunk in om.as_bytes().chunks(5) {
            t.write_str(std::str::from_utf8(chunk).unwrap()).unwrap();
        }
        assert_eq!(
            t.into_inner(),
            "# HELP x_bytes_total Bytes.\n# TYPE x_bytes_total counter\nx_bytes_total 3\n\
             # HELP y_seconds Seconds.\n# TYPE y_seconds gauge\ny_seconds -2\n"
        );
    }

    #[test]
    fn negotiation() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text004);
        assert_eq!(Format::negotiate(None), Format::Text004);
    }
}
