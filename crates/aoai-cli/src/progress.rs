//! The progress line on stderr, shared by `aoai batch run` and `aoai rag index`.
//!
//! On a terminal the line is redrawn in place every 200 ms (`\r`, the line,
//! erase to the end); otherwise a plain line is written every 5 seconds,
//! and only when the count it reports has moved, so logs stay short.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use aoai_core::clock::Time;

/// A task that draws a progress line until stopped.
pub(crate) struct Ticker {
    task: tokio::task::JoinHandle<()>,
    terminal: bool,
}

impl Ticker {
    /// Starts drawing. `line` gives the current count (to skip unchanged
    /// plain lines) and the text, or `None` while there is nothing to show.
    pub(crate) fn start<F>(time: &Time, line: F) -> Ticker
    where
        F: Fn() -> Option<(u64, String)> + Send + 'static,
    {
        let terminal = std::io::stderr().is_terminal();
        let sleep = time.sleep.clone();
        let task = tokio::spawn(async move {
            let period = if terminal { Duration::from_millis(200) } else { Duration::from_secs(5) };
            let mut last_printed = None;
            loop {
                sleep.sleep(period).await;
                let Some((count, text)) = line() else { continue };
                if !terminal && last_printed == Some(count) {
                    continue;
                }
                last_printed = Some(count);
                let mut stderr = std::io::stderr().lock();
                let _ = if terminal { write!(stderr, "\r{text}\x1b[K") } else { writeln!(stderr, "{text}") };
                let _ = stderr.flush();
            }
        });
        Ticker { task, terminal }
    }

    /// Stops drawing and, on a terminal, erases the line.
    pub(crate) fn stop(self) {
        self.task.abort();
        if self.terminal {
            eprint!("\r\x1b[K");
        }
    }
}

/// A bar of `width` cells for `done` of `total`: `[=====>    ]`.
pub(crate) fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 { width } else { (done.min(total) as f64 / total as f64 * width as f64) as usize };
    let mut out = String::with_capacity(width + 2);
    out.push('[');
    for cell in 0..width {
        out.push(match cell.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal if filled < width => '>',
            _ => ' ',
        });
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(bar(0, 4, 8), "[>       ]");
        assert_eq!(bar(2, 4, 8), "[====>   ]");
        assert_eq!(bar(4, 4, 8), "[========]");
        assert_eq!(bar(9, 4, 8), "[========]");
        assert_eq!(bar(0, 0, 4), "[====]");
    }
}
