//! `hawatch config show`: the validated config printed back as TOML, with
//! the defaults filled in. Every section derives `Serialize`; a [`Secret`]
//! serializes as `***` and a secret URL as its scheme and host
//! (`https://open.feishu.cn/***`), so no secret can be printed.
//!
//! [`Secret`]: super::Secret

use super::Config;

impl Config {
    pub fn to_redacted_toml(&self) -> String {
        let mut out = match &self.path {
            Some(p) => format!("# effective configuration from {}\n", p.display()),
            None => "# effective configuration from environment variables (no config file)\n".to_string(),
        };
        out.push_str(&toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot print it: {e}\n")));
        out
    }
}
