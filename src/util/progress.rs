//! The one factory for progress bars: drawn on stderr when it is a terminal, hidden otherwise
//! (pipes, CI, tests). Library stages report progress through callbacks; only the CLI draws.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg:>10} [{bar:32}] {pos}/{len} {elapsed_precise} eta {eta}")
        .expect("valid template")
        .progress_chars("=> ");
    ProgressBar::new(len).with_style(style).with_message(what.to_string())
}
