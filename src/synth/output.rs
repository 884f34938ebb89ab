//! Writer (filled in below).
