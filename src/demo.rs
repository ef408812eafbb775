//! `hawatch demo` (filled in below).
pub async fn run(_haproxy: std::path::PathBuf) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
