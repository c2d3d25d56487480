//! Progress bars that show on a terminal and stay silent in CI logs.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A bar counting items, with a message.
pub fn bar(len: u64, message: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), target());
    pb.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(message.to_string());
    pb
}

/// A bar counting bytes (length optional).
pub fn bytes_bar(len: Option<u64>, message: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(len, target());
    let style = if len.is_some() {
        "{msg:>24} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})"
    } else {
        "{msg:>24} {bytes} ({bytes_per_sec})"
    };
    pb.set_style(
        ProgressStyle::with_template(style)
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(message.to_string());
    pb
}
