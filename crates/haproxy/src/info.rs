//! `show info` (`Key: value` lines) and the equivalent header of the HTML stats
//! page, which is all the HTTP source has to tell a restart from a reload.

/// The `show info` keys a watcher needs, typed; every other key is kept in `fields`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pub version: Option<String>,
    pub release_date: Option<String>,
    pub pid: Option<u64>,
    pub uptime_sec: Option<u64>,
    pub start_time_sec: Option<u64>,
    pub node: Option<String>,
    pub description: Option<String>,
    /// Every `Key: value` pair, in order.
    pub fields: Vec<(String, String)>,
}

impl Info {
    /// Parses a `show info` reply. Lines without `": "` are skipped (HAProxy never
    /// prints any); an empty reply gives an empty [`Info`].
    pub fn parse(text: &str) -> Info {
        let mut info = Info::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            let v = v.trim();
            match k {
                "Version" => info.version = Some(v.to_string()),
                "Release_date" => info.release_date = Some(v.to_string()),
                "Pid" => info.pid = v.parse().ok(),
                "Uptime_sec" => info.uptime_sec = v.parse().ok(),
                "Start_time_sec" => info.start_time_sec = v.parse().ok(),
                "node" => info.node = Some(v.to_string()),
                "description" => info.description = Some(v.to_string()),
                _ => {}
            }
            info.fields.push((k.to_string(), v.to_string()));
        }
        info
    }

    /// `Stopping: 1`: the process is soft-stopping (after a reload, the old
    /// one). HAProxy 2.2's old worker still answers on the stats socket it
    /// shares with the new one, and its `show stat` then lists none of its
    /// stopped proxies: not the instance's state.
    pub fn is_stopping(&self) -> bool {
        self.fields.iter().any(|(k, v)| k == "Stopping" && v == "1")
    }

    /// Reads pid, uptime and version from the HTML stats page header:
    /// `HAProxy version 2.6.12-1, released 2026/10/17`, `pid = 2204 (process #1, ...`,
    /// `uptime = 0d 0h00m03s`. Ask for the page with a `;scope=` that matches
    /// no proxy (`~` is not allowed in names): it is then a few kilobytes
    /// whatever the config.
    pub fn parse_html(html: &str) -> Info {
        let mut info = Info::default();
        let plain = strip_tags(html);
        let plain = plain.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(rest) = plain.split("HAProxy version ").nth(1) {
            let v: String = rest.chars().take_while(|c| *c != ',' && *c != ' ').collect();
            if !v.is_empty() {
                info.version = Some(v);
            }
            if let Some(d) = rest.split("released ").nth(1) {
                info.release_date = d.split_whitespace().next().map(str::to_string);
            }
        }
        if let Some(rest) = plain.split("pid = ").nth(1) {
            info.pid = rest.split_whitespace().next().and_then(|p| p.parse().ok());
        }
        if let Some(rest) = plain.split("uptime = ").nth(1) {
            let mut it = rest.split_whitespace();
            // 3.0+ go on with `; warnings = N` right after the time.
            if let (Some(d), Some(hms)) = (it.next(), it.next()) {
                info.uptime_sec = parse_uptime(d, hms.trim_end_matches(';'));
            }
        }
        info
    }
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// `0d` + `0h00m03s` → 3.
fn parse_uptime(days: &str, hms: &str) -> Option<u64> {
    let d: u64 = days.strip_suffix('d')?.parse().ok()?;
    let (h, rest) = hms.split_once('h')?;
    let (m, rest) = rest.split_once('m')?;
    let s = rest.strip_suffix('s')?;
    // The page is outside text: an absurd day count is no uptime, not an overflow.
    d.checked_mul(86400)?
        .checked_add(h.parse::<u64>().ok()?.checked_mul(3600)?)?
        .checked_add(m.parse::<u64>().ok()?.checked_mul(60)?)?
        .checked_add(s.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_capture() {
        let info = Info::parse(include_str!("../tests/fixtures/haproxy-2.6/show-info.txt"));
        assert_eq!(info.pid, Some(28345));
        assert_eq!(info.uptime_sec, Some(5));
        assert_eq!(info.version.as_deref(), Some("2.6.12-1+deb12u4"));
        assert_eq!(info.node.as_deref(), Some("lb-test-1"));
        assert_eq!(info.start_time_sec, Some(1795212675));
        assert!(info.fields.iter().any(|(k, _)| k == "Unstoppable Jobs"));
    }

    #[test]
    fn parses_html_header() {
        let html = "<body><h1><a href=\"http://www.haproxy.org/\">HAProxy version 2.6.12-1+deb12u4, released 2026/10/17</a></h1>\
            <h2>Statistics Report for pid 2204</h2><hr><h3>&gt; General process information</h3>\
            <table><tr><td align=\"left\" nowrap width=\"1%\"><p><b>pid = </b> 2204 (process #1, nbproc = 1, nbthread = 2)<br>\
            <b>uptime = </b> 1d 2h03m04s<br>";
        let info = Info::parse_html(html);
        assert_eq!(info.pid, Some(2204));
        assert_eq!(info.version.as_deref(), Some("2.6.12-1+deb12u4"));
        assert_eq!(info.release_date.as_deref(), Some("2026/10/17"));
        assert_eq!(info.uptime_sec, Some(86400 + 2 * 3600 + 3 * 60 + 4));
        assert_eq!(Info::parse_html("garbage"), Info::default());
    }

    /// Issue 12: a day count near u64::MAX overflowed `d * 86400`.
    #[test]
    fn an_absurd_html_uptime_is_none() {
        let html = |up: &str| format!("<b>pid = </b> 1 (process #1)<br><b>uptime = </b> {up}<br>");
        assert_eq!(Info::parse_html(&html("213503982334602d 0h00m00s")).uptime_sec, None);
        assert_eq!(Info::parse_html(&html("0d 5124095576030432h00m00s")).uptime_sec, None);
        assert_eq!(
            Info::parse_html(&html("18446744073709551615d 0h00m00s")).uptime_sec,
            None
        );
        assert_eq!(Info::parse_html(&html("2d 0h00m01s")).uptime_sec, Some(2 * 86400 + 1));
    }
}
