//! HW501–HW505: TLS versions and ciphers, and the certificates a `crt`
//! names (expiry, readability, the SNI names they must cover). Pure: the
//! certificate files are read by the caller's `Input::certs`.

use std::path::{Path, PathBuf};

use haproxy::cfg::{Cfg, Line, Section};

use super::file::{at, Input};
use super::{Finding, Level};

/// Cipher-list entries that allow broken ciphers.
fn weak_ciphers(list: &str) -> Vec<String> {
    const WEAK: &[&str] = &[
        "RC4", "DES", "MD5", "NULL", "EXP", "ADH", "AECDH", "ANON", "IDEA", "SEED", "LOW", "MEDIUM",
    ];
    let tokens: Vec<&str> = list.split([':', ',', ' ']).filter(|t| !t.is_empty()).collect();
    // `ALL` is weak unless the broken classes are taken out again (`!RC4`, `!aNULL`, ...).
    let excluded = |class: &str| {
        tokens
            .iter()
            .any(|t| t.starts_with(['!', '-']) && t[1..].to_ascii_uppercase().contains(class))
    };
    let all_cleaned = ["RC4", "DES", "MD5", "NULL", "EXP"].iter().all(|c| excluded(c));
    tokens
        .iter()
        .filter(|t| !t.starts_with(['!', '-']))
        .filter(|t| {
            let u = t.trim_start_matches('+').to_ascii_uppercase();
            ((u == "ALL" || u == "COMPLEMENTOFALL") && !all_cleaned)
                || WEAK.iter().any(|w| u.split('-').any(|part| part.contains(w)))
        })
        .map(|t| t.to_string())
        .collect()
}

/// HW501, HW502.
pub(super) fn tls(cfg: &Cfg, out: &mut Vec<Finding>) {
    for s in &cfg.sections {
        for l in &s.lines {
            let k = l.keyword();
            let tls_line = matches!(
                k,
                "ssl-default-bind-options" | "ssl-default-server-options" | "bind" | "server" | "default-server"
            );
            if tls_line {
                let mut old = Vec::new();
                if let Some(v) = l.value_of("ssl-min-ver") {
                    if matches!(v, "SSLv3" | "TLSv1.0" | "TLSv1.1") {
                        old.push(format!("ssl-min-ver {v}"));
                    }
                }
                for f in ["force-sslv3", "force-tlsv10", "force-tlsv11"] {
                    if l.has(f) {
                        old.push(f.to_string());
                    }
                }
                if !old.is_empty() {
                    let sslv3 = old.iter().any(|o| o.contains("SSLv3") || o.contains("sslv3"));
                    out.push(at(
                        cfg,
                        l,
                        Finding::new(
                            "HW501",
                            if sslv3 { Level::Crit } else { Level::Warn },
                            format!(
                                "{}: `{}` allows {}",
                                s.title(),
                                old.join(" "),
                                if sslv3 {
                                    "SSLv3 (broken: POODLE)"
                                } else {
                                    "TLS 1.0/1.1 (deprecated, RFC 8996)"
                                }
                            ),
                        )
                        .fix("remove it; `ssl-default-bind-options ssl-min-ver TLSv1.2` in global"),
                    ));
                }
            }
            let list = match k {
                "ssl-default-bind-ciphers" | "ssl-default-server-ciphers" => l.words.get(1).map(String::as_str),
                "bind" | "server" | "default-server" => l.value_of("ciphers"),
                _ => None,
            };
            let weak = list.map(weak_ciphers).unwrap_or_default();
            if !weak.is_empty() {
                out.push(at(
                    cfg,
                    l,
                    Finding::new(
                        "HW502",
                        Level::Warn,
                        format!("{}: the cipher list allows {}", s.title(), weak.join(", ")),
                    )
                    .fix("remove them (or add `!RC4:!3DES:!MD5:!aNULL:!eNULL:!EXPORT`); Mozilla's intermediate list is a safe choice"),
                ));
            }
        }
    }
}

/// `name` is covered by a certificate name (`*.example.com` covers one label).
pub fn covers(cert_name: &str, name: &str) -> bool {
    let (c, n) = (cert_name.to_ascii_lowercase(), name.to_ascii_lowercase());
    if c == n {
        return true;
    }
    match (c.strip_prefix("*."), n.split_once('.')) {
        (Some(suffix), Some((label, rest))) => !label.is_empty() && rest == suffix,
        _ => false,
    }
}

/// The host names a TLS frontend routes by: SNI (`ssl_fc_sni`, `req.ssl_sni`)
/// or the Host header (`hdr(host)`, which a browser also sends as SNI),
/// exact matches only, with their lines.
fn sni_names(p: &Section) -> Vec<(String, &Line)> {
    let mut out = Vec::new();
    for l in &p.lines {
        let mut i = 0;
        while i < l.words.len() {
            let w = l.words[i].trim_start_matches('{').trim();
            let host = w.eq_ignore_ascii_case("hdr(host)") || w.eq_ignore_ascii_case("req.hdr(host)");
            if host || matches!(w, "ssl_fc_sni" | "req.ssl_sni" | "req_ssl_sni") {
                let mut j = i + 1;
                while let Some(v) = l.words.get(j) {
                    if v == "-i" || v == "--" {
                        j += 1;
                        continue;
                    }
                    if v == "-m" {
                        // Only exact matches name a host.
                        if l.words.get(j + 1).is_some_and(|m| m != "str") {
                            break;
                        }
                        j += 2;
                        continue;
                    }
                    if v.starts_with('}') || v.starts_with('-') || !v.contains('.') || v.contains(['/', '(', '*']) {
                        break;
                    }
                    out.push((v.clone(), l));
                    j += 1;
                }
                i = j;
            } else {
                i += 1;
            }
        }
    }
    out
}

/// HW503, HW504, HW505.
pub(super) fn certificates(input: &Input, out: &mut Vec<Finding>) {
    let cfg = input.cfg;
    let base = cfg
        .global()
        .filter(|l| l.keyword() == "crt-base")
        .last()
        .and_then(|l| l.words.get(1))
        .map_or_else(|| input.base.to_path_buf(), PathBuf::from);
    // `crt-base ${DIR}`: relative paths are the environment's, unknown here.
    let base_unknown = base.to_string_lossy().contains('$');
    let mut seen: Vec<PathBuf> = Vec::new();
    for p in cfg.sections.iter().filter(|s| s.is_frontend()) {
        let mut names_here: Vec<String> = Vec::new();
        let mut any_crt = false;
        // A `crt-list` names certificates doctor does not read: the SNI check
        // would miss its names, so it is not made for that frontend.
        let listed = p.all("bind").any(|b| b.has("crt-list"));
        for b in p.all("bind") {
            // `${VAR}` paths are the environment's, unknown here.
            for w in b
                .words
                .windows(2)
                .filter(|w| w[0] == "crt" && !w[1].contains('$'))
                .filter(|w| Path::new(&w[1]).is_absolute() || !base_unknown)
            {
                any_crt = true;
                let path = if Path::new(&w[1]).is_absolute() {
                    PathBuf::from(&w[1])
                } else {
                    base.join(&w[1])
                };
                let load = (input.certs)(&path);
                match load {
                    Err(e) => {
                        if !seen.contains(&path) {
                            out.push(at(
                                cfg,
                                b,
                                Finding::new("HW505", Level::Crit, format!("{}: crt {}: {e}", p.title(), path.display()))
                                    .fix("fix the path (relative paths start at `crt-base`) or the file: HAProxy refuses to start"),
                            ));
                        }
                    }
                    Ok(files) => {
                        for (file, certs) in files {
                            names_here.extend(certs.iter().flat_map(|c| c.names.iter().cloned()));
                            if seen.contains(&PathBuf::from(&file)) {
                                continue;
                            }
                            seen.push(PathBuf::from(&file));
                            if certs.is_empty() {
                                out.push(at(
                                    cfg,
                                    b,
                                    Finding::new("HW505", Level::Crit, format!("{file}: no certificate in it"))
                                        .fix("put the certificate, its chain and its key in the PEM file"),
                                ));
                            }
                            for c in certs {
                                let days = (c.not_after - input.now).div_euclid(86_400);
                                let level = if days < 7 {
                                    Level::Crit
                                } else if days < 30 {
                                    Level::Warn
                                } else {
                                    Level::Ok
                                };
                                let when = if c.not_after < input.now {
                                    format!("expired {} days ago", (input.now - c.not_after) / 86_400)
                                } else {
                                    format!("expires in {days} days")
                                };
                                let f = Finding::new("HW504", level, format!("{file}: {} {when}", c.subject));
                                out.push(at(
                                    cfg,
                                    b,
                                    if level == Level::Ok {
                                        f
                                    } else {
                                        f.fix("renew it and reload HAProxy (or `set ssl cert` + `commit ssl cert`)")
                                    },
                                ));
                            }
                        }
                    }
                }
            }
        }
        if !any_crt || listed || names_here.is_empty() {
            continue;
        }
        for (name, l) in sni_names(p) {
            if !names_here.iter().any(|c| covers(c, &name)) {
                out.push(at(
                    cfg,
                    l,
                    Finding::new(
                        "HW503",
                        Level::Warn,
                        format!(
                            "{}: routes SNI `{name}`, but no certificate of its binds covers it (they cover {})",
                            p.title(),
                            names_here.join(", ")
                        ),
                    )
                    .fix(format!(
                        "add a certificate for {name} to the bind's `crt` (a file or directory), or fix the name"
                    )),
                ));
            }
        }
    }
}
