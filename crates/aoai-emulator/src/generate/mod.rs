//! Deterministic answer generation.
