//! The one writer for command output (stdout); diagnostics go to stderr.

use std::io::Write;

/// Standard output, line by line.
pub(crate) struct Out;

impl Out {
    /// Writes one line; a closed stdout (e.g. `| head`) is not an error.
    pub(crate) fn line(text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }
}
