//! Response caching (skeleton; see issue #6).
