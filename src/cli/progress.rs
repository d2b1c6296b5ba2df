//! How apply's progress is shown on the command line: [`line_printer`] (plain lines, as
//! Terraform prints them) and [`TtyProgress`] (a live block of operations in flight on a terminal). The
//! engine only reports through [`Progress`]; it never prints.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{print_out, println_out};
use crate::addr::ResourceInstanceAddr;
use crate::apply::{Lines, OpKind, Progress};

/// Plain lines, as Terraform prints them: failures to stderr, the rest to stdout.
pub fn line_printer() -> Arc<dyn Progress> {
    Arc::new(Lines(|failed: bool, line: &str| {
        if failed {
            eprintln!("{line}");
        } else {
            println_out(line);
        }
    }))
}

/// A live display for terminals: finished events scroll above a block that shows every
/// operation in flight with its elapsed time, redrawn each second.
pub struct TtyProgress {
    inner: std::sync::Mutex<TtyState>,
}

struct TtyState {
    running: BTreeMap<String, (OpKind, Instant)>,
    /// Lines of the status block currently on screen.
    drawn: usize,
}

impl Default for TtyProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl TtyProgress {
    pub fn new() -> TtyProgress {
        TtyProgress {
            inner: std::sync::Mutex::new(TtyState { running: BTreeMap::new(), drawn: 0 }),
        }
    }

    fn with(&self, f: impl FnOnce(&mut TtyState, &mut String)) {
        let Ok(mut st) = self.inner.lock() else {
            return;
        };
        let mut out = String::new();
        // Erase the status block, let `f` print scrolling lines, then draw the block again.
        for _ in 0..st.drawn {
            out.push_str("\x1b[1A\x1b[2K");
        }
        f(&mut st, &mut out);
        let now = Instant::now();
        for (addr, (op, started)) in &st.running {
            out.push_str(&format!(
                "  \x1b[2m…\x1b[0m {addr}: {} [{}s]\n",
                op.progressive().0,
                now.duration_since(*started).as_secs()
            ));
        }
        st.drawn = st.running.len();
        print_out(&out);
    }
}

impl Progress for TtyProgress {
    fn started(&self, addr: &ResourceInstanceAddr, op: OpKind) {
        self.with(|st, _| {
            st.running.insert(addr.to_string(), (op, Instant::now()));
        });
    }
    fn still_running(&self, _addr: &ResourceInstanceAddr, _op: OpKind, _elapsed: Duration) {
        // The block is redrawn with fresh times.
        self.with(|_, _| {});
    }
    fn finished(
        &self,
        addr: &ResourceInstanceAddr,
        op: OpKind,
        elapsed: Duration,
        id: Option<&str>,
    ) {
        self.with(|st, out| {
            st.running.remove(&addr.to_string());
            let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
            out.push_str(&format!(
                "\x1b[32m✓\x1b[0m {addr}: {} after {}s{id}\n",
                op.progressive().1,
                elapsed.as_secs()
            ));
        });
    }
    fn failed(&self, addr: &ResourceInstanceAddr, _op: OpKind, message: &str) {
        self.with(|st, out| {
            st.running.remove(&addr.to_string());
            out.push_str(&format!("\x1b[31m✗\x1b[0m {addr}: {message}\n"));
        });
    }
    fn notice(&self, message: &str) {
        self.with(|_, out| {
            out.push_str(message);
            out.push('\n');
        });
    }
}
