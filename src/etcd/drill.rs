//! Restore drills (filled in below).
