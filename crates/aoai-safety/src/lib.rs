//! Content-safety guards (skeleton; see issue #6).
