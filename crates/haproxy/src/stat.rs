//! `show stat` CSV, mapped by header name.
//!
//! Column positions are only stable up to the `-` separator and grow with every
//! HAProxy release, so columns are looked up by the names in the `# pxname,...`
//! header line; unknown columns are ignored and missing optional ones read as
//! empty. Only `pxname`, `svname` and `status` are required, so 1.8 through 3.x
//! all parse. A reply that is not CSV, or whose last line is cut, is an error,
//! never a panic.

use thiserror::Error;

/// Why a `show stat` reply could not be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("reply is not `show stat` CSV (it starts with {0:?})")]
    NotCsv(String),
    #[error("`show stat` header lacks the `{0}` column")]
    MissingColumn(&'static str),
    #[error("reply is truncated: {0}")]
    Truncated(String),
    #[error("bad CSV at line {line}: {msg}")]
    Csv { line: u64, msg: String },
}

/// What a row describes (`type` column: 0 frontend, 1 backend, 2 server, 3 listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowType {
    Frontend,
    Backend,
    Server,
    Listener,
}

/// The columns hawatch reads from one `show stat` row. Empty cells are empty
/// strings / `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatRow {
    pub pxname: String,
    pub svname: String,
    pub row_type: Option<RowType>,
    pub status: String,
    pub weight: Option<u64>,
    pub uweight: Option<u64>,
    pub act: Option<u64>,
    pub bck: Option<u64>,
    pub lastchg: Option<u64>,
    pub tracked: String,
    pub check_status: String,
    pub check_code: String,
    pub check_duration: Option<u64>,
    pub check_desc: String,
    pub last_chk: String,
    pub check_health: Option<u64>,
    pub check_rise: Option<u64>,
    pub check_fall: Option<u64>,
    pub agent_status: String,
    pub agent_desc: String,
    pub last_agt: String,
    pub addr: String,
}

impl StatRow {
    pub fn kind(&self) -> RowType {
        self.row_type.unwrap_or(match self.svname.as_str() {
            "FRONTEND" => RowType::Frontend,
            "BACKEND" => RowType::Backend,
            _ => RowType::Server,
        })
    }
}

/// Column indexes resolved once from the header line.
#[derive(Debug, Clone)]
pub struct Columns {
    names: Vec<String>,
}

impl Columns {
    /// Parses the header line (`# pxname,svname,...,`).
    pub fn from_header(line: &str) -> Result<Columns, ParseError> {
        let Some(rest) = line.strip_prefix('#') else {
            return Err(ParseError::NotCsv(first_chars(line)));
        };
        let names: Vec<String> = rest.trim_start().split(',').map(|s| s.trim().to_string()).collect();
        let cols = Columns { names };
        for required in ["pxname", "svname", "status"] {
            if cols.index(required).is_none() {
                return Err(ParseError::MissingColumn(required));
            }
        }
        Ok(cols)
    }

    /// Position of a column, by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Number of cells per row, counting the empty one after the trailing comma.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Splits a reply into the header and the body, validating the framing.
fn split_header(text: &str) -> Result<(Columns, &str, usize), ParseError> {
    let text = text.trim_start_matches(['\n', '\r']);
    let (header, body) = match text.find('\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None if text.starts_with('#') => return Err(ParseError::Truncated("no line after the header".into())),
        None => return Err(ParseError::NotCsv(first_chars(text))),
    };
    let cols = Columns::from_header(header.trim_end_matches('\r'))?;
    // The last data line must be complete: every row, the last one included,
    // ends with '\n' in both the socket and the HTTP form.
    let body = body.trim_end_matches('\n');
    let complete = text.ends_with('\n');
    if !complete {
        return Err(ParseError::Truncated("last line has no newline".into()));
    }
    Ok((cols, body, header.len() + 1))
}

/// Walks every record of a `show stat` reply, handing the resolved columns and
/// the raw record to `f`. The low-level entry point for readers that need other
/// columns than [`StatRow`] carries.
pub fn for_each_record(text: &str, mut f: impl FnMut(&Columns, &csv::ByteRecord)) -> Result<Columns, ParseError> {
    let (cols, body, _) = split_header(text)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .quoting(true)
        .from_reader(body.as_bytes());
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line() + 1).unwrap_or(0);
                return Err(ParseError::Csv {
                    line,
                    msg: e.to_string(),
                });
            }
        }
        if rec.len() == 1 && rec.get(0).is_some_and(|c| c.is_empty()) {
            continue; // blank line (the socket's terminator)
        }
        if rec.len() != cols.len() {
            let line = rec.position().map(|p| p.line() + 1).unwrap_or(0);
            return Err(ParseError::Truncated(format!(
                "line {line} has {} cells, the header names {}",
                rec.len(),
                cols.len()
            )));
        }
        f(&cols, &rec);
    }
    Ok(cols)
}

/// Indexes of the columns [`StatRow`] reads.
struct RowIdx {
    pxname: usize,
    svname: usize,
    status: usize,
    row_type: Option<usize>,
    weight: Option<usize>,
    uweight: Option<usize>,
    act: Option<usize>,
    bck: Option<usize>,
    lastchg: Option<usize>,
    tracked: Option<usize>,
    check_status: Option<usize>,
    check_code: Option<usize>,
    check_duration: Option<usize>,
    check_desc: Option<usize>,
    last_chk: Option<usize>,
    check_health: Option<usize>,
    check_rise: Option<usize>,
    check_fall: Option<usize>,
    agent_status: Option<usize>,
    agent_desc: Option<usize>,
    last_agt: Option<usize>,
    addr: Option<usize>,
}

impl RowIdx {
    fn new(c: &Columns) -> RowIdx {
        RowIdx {
            pxname: c.index("pxname").unwrap_or(0),
            svname: c.index("svname").unwrap_or(1),
            status: c.index("status").unwrap_or(17),
            row_type: c.index("type"),
            weight: c.index("weight"),
            uweight: c.index("uweight"),
            act: c.index("act"),
            bck: c.index("bck"),
            lastchg: c.index("lastchg"),
            tracked: c.index("tracked"),
            check_status: c.index("check_status"),
            check_code: c.index("check_code"),
            check_duration: c.index("check_duration"),
            check_desc: c.index("check_desc"),
            last_chk: c.index("last_chk"),
            check_health: c.index("check_health"),
            check_rise: c.index("check_rise"),
            check_fall: c.index("check_fall"),
            agent_status: c.index("agent_status"),
            agent_desc: c.index("agent_desc"),
            last_agt: c.index("last_agt"),
            addr: c.index("addr"),
        }
    }
}

fn cell(rec: &csv::ByteRecord, i: Option<usize>) -> &[u8] {
    i.and_then(|i| rec.get(i)).unwrap_or(b"")
}

fn text(rec: &csv::ByteRecord, i: Option<usize>) -> String {
    String::from_utf8_lossy(cell(rec, i)).into_owned()
}

fn num(rec: &csv::ByteRecord, i: Option<usize>) -> Option<u64> {
    let c = cell(rec, i);
    if c.is_empty() {
        return None;
    }
    std::str::from_utf8(c).ok()?.parse().ok()
}

/// Parses a whole `show stat` reply (socket or HTTP `;csv`) into rows.
pub fn parse(text_in: &str) -> Result<Vec<StatRow>, ParseError> {
    let mut rows = Vec::new();
    let mut idx: Option<RowIdx> = None;
    for_each_record(text_in, |cols, rec| {
        let ix = idx.get_or_insert_with(|| RowIdx::new(cols));
        rows.push(StatRow {
            pxname: text(rec, Some(ix.pxname)),
            svname: text(rec, Some(ix.svname)),
            row_type: match cell(rec, ix.row_type) {
                b"0" => Some(RowType::Frontend),
                b"1" => Some(RowType::Backend),
                b"2" => Some(RowType::Server),
                b"3" => Some(RowType::Listener),
                _ => None,
            },
            status: text(rec, Some(ix.status)),
            weight: num(rec, ix.weight),
            uweight: num(rec, ix.uweight),
            act: num(rec, ix.act),
            bck: num(rec, ix.bck),
            lastchg: num(rec, ix.lastchg),
            tracked: text(rec, ix.tracked),
            check_status: text(rec, ix.check_status),
            check_code: text(rec, ix.check_code),
            check_duration: num(rec, ix.check_duration),
            check_desc: text(rec, ix.check_desc),
            last_chk: text(rec, ix.last_chk),
            check_health: num(rec, ix.check_health),
            check_rise: num(rec, ix.check_rise),
            check_fall: num(rec, ix.check_fall),
            agent_status: text(rec, ix.agent_status),
            agent_desc: text(rec, ix.agent_desc),
            last_agt: text(rec, ix.last_agt),
            addr: text(rec, ix.addr),
        });
    })?;
    Ok(rows)
}

fn first_chars(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    line.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOCKET: &str = include_str!("../../../tests/fixtures/haproxy-2.6/show-stat.csv");
    const HTTP: &str = include_str!("../../../tests/fixtures/haproxy-2.6/http-stats.csv");
    const USER: &str = include_str!("../../../tests/fixtures/haproxy-2.6/show-stat-level-user.csv");

    fn find<'a>(rows: &'a [StatRow], px: &str, sv: &str) -> &'a StatRow {
        rows.iter().find(|r| r.pxname == px && r.svname == sv).unwrap()
    }

    #[test]
    fn socket_capture_parses_by_name() {
        let rows = parse(SOCKET).unwrap();
        let app2 = find(&rows, "be_app", "app2");
        assert_eq!(app2.status, "DOWN");
        assert_eq!(app2.check_status, "L4CON");
        assert_eq!(app2.last_chk, "Connection refused");
        assert_eq!(app2.check_desc, "Layer4 connection problem");
        assert_eq!(app2.kind(), RowType::Server);
        assert_eq!(app2.addr, "127.0.0.1:18082");
        let app3 = find(&rows, "be_app", "app3");
        assert_eq!(app3.last_agt, "via agent : up");
        assert_eq!(app3.agent_status, "L7OK");
        assert_eq!(find(&rows, "be_app", "trk").tracked, "be_app/app1");
        assert_eq!(find(&rows, "be_dead", "BACKEND").status, "DOWN");
        assert_eq!(find(&rows, "fe_main", "main-http").kind(), RowType::Listener);
        assert_eq!(find(&rows, "be_tcp", "t2").status, "MAINT");
    }

    #[test]
    fn http_and_socket_forms_agree() {
        let a = parse(SOCKET).unwrap();
        let b = parse(HTTP).unwrap();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.pxname, &x.svname), (&y.pxname, &y.svname));
        }
    }

    #[test]
    fn user_level_has_no_addr() {
        let rows = parse(USER).unwrap();
        assert_eq!(find(&rows, "be_app", "app1").addr, "");
    }

    #[test]
    fn new_columns_and_reordering_are_ignored() {
        let csv = "# svname,extra,pxname,status,future_col,\nsrv1,x,be,UP,9,\nBACKEND,y,be,UP,9,\n\n";
        let rows = parse(csv).unwrap();
        assert_eq!(rows[0].pxname, "be");
        assert_eq!(rows[0].svname, "srv1");
        assert_eq!(rows[1].kind(), RowType::Backend);
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(matches!(parse("Permission denied\n\n"), Err(ParseError::NotCsv(_))));
        assert!(matches!(parse(""), Err(ParseError::NotCsv(_))));
        assert!(matches!(
            parse("# a,b,\n1,2,\n"),
            Err(ParseError::MissingColumn("pxname"))
        ));
        let cut = &SOCKET[..SOCKET.len() / 2];
        assert!(matches!(parse(cut), Err(ParseError::Truncated(_))));
        let cut_at_newline = {
            let end = SOCKET[..SOCKET.len() / 2].rfind('\n').unwrap();
            let mut s = SOCKET[..end].to_string();
            s.push_str("\nbe_x,srv,0,0\n");
            s
        };
        assert!(matches!(parse(&cut_at_newline), Err(ParseError::Truncated(_))));
        // Arbitrary bytes never panic.
        for junk in [
            "#",
            "# pxname",
            "\u{0}\u{1}",
            "# pxname,svname,status,\n\"unterminated,\n",
        ] {
            let _ = parse(junk);
        }
    }

    #[test]
    fn quoted_cells_with_commas() {
        let csv = "# pxname,svname,status,last_chk,\nbe,s1,DOWN,\"a, \"\"b\"\"\",\n";
        let rows = parse(csv).unwrap();
        assert_eq!(rows[0].last_chk, "a, \"b\"");
    }
}
