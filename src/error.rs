//! Errors every layer shares: the cause chain as one line, and the usage
//! error that exits 2.

/// An error and its causes, `a: b: c`, skipping causes already in the text.
/// reqwest's own message is only "error sending request"; the cause says
/// what is wrong (a refused connection, an untrusted certificate).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// An argument that is wrong in a way only known at run time (a pattern that
/// matches no server, an unknown `--instance`): exit 2, like clap's own
/// usage errors, so scripts tell it from a failure (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
