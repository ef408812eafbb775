//! Values that must never reach a log line or `config show`: webhook URLs with
//! tokens, signing secrets, stats passwords. [`Secret`] redacts itself in
//! `Debug` and `Display`; the value is only reachable through [`Secret::expose`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The real value, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        let raw = String::deserialize(d)?;
        expand_env(&raw).map(Secret).map_err(serde::de::Error::custom)
    }
}

/// `config show` prints a secret as `***`: deriving `Serialize` on a
/// section can never print one.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// `config show`: a secret URL as its scheme and host ([`redact_url`]).
pub(super) fn shown_url<S: Serializer>(url: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url.expose()))
}

/// Expands `${NAME}` from the environment; `$$` is a literal `$`. A variable
/// that is not set is an error (a silently empty token fails at 3 a.m.).
pub(crate) fn expand_env(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in {:?}", redact_hint(raw)))?;
            let name = &r[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{name}}}` is not a valid environment variable name"));
            }
            let val = std::env::var(name)
                .map_err(|_| format!("environment variable {name} is not set (referenced as `${{{name}}}`)"))?;
            out.push_str(&val);
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn redact_hint(raw: &str) -> String {
    raw.chars().take(8).collect::<String>() + "…"
}

/// `https://open.feishu.cn/***`: scheme, host and port of a secret URL, for
/// logs and `config show`. Tokens hide in paths, queries and user info.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}/***", u.scheme())
        }
        Err(_) => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let s = Secret::new("tok");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "tok");
    }

    #[test]
    fn expands_env() {
        std::env::set_var("HAWATCH_TEST_TOKEN", "abc");
        assert_eq!(expand_env("x${HAWATCH_TEST_TOKEN}y$$z$").unwrap(), "xabcy$z$");
        assert!(expand_env("${HAWATCH_TEST_UNSET_VAR}")
            .unwrap_err()
            .contains("HAWATCH_TEST_UNSET_VAR is not set"));
        assert!(expand_env("${oops").is_err());
    }

    #[test]
    fn redacts_urls() {
        assert_eq!(
            redact_url("https://open.feishu.cn/open-apis/bot/v2/hook/abc"),
            "https://open.feishu.cn/***"
        );
        assert_eq!(
            redact_url("http://u:p@127.0.0.1:8404/stats;csv"),
            "http://127.0.0.1:8404/***"
        );
        assert_eq!(redact_url("not a url"), "***");
    }
}
