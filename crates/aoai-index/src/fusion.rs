//! How a search fuses its ranked lists ([`Fusion`]).
//!
//! Reciprocal rank, as Azure AI Search fuses hybrid results: an item at rank
//! `r` (from 1) of a list with weight `w` gets `w / (60 + r)` from that list;
//! its fused score is the sum over the lists it appears in. Items in only
//! one list still count.
//!
//! Normalised: each list's scores are divided by the list's best (scores
//! below 0 count as 0), an item gets `w ×` that from each list it is in (0
//! from a list it is not in), and the fused score is the sum: a convex
//! combination of normalised scores when the weights sum to 1 — Bruch, Gai
//! & Ingber's "theoretical min-max" (*An Analysis of Fusion Functions for
//! Hybrid Retrieval*, ACM TOIS 2023) with 0 as the minimum of both BM25
//! and cosine. Unlike reciprocal rank it sees how far ahead the leaders of
//! each list are; unlike an observed min-max it does not give the last of
//! a short list 0 however close it is to the first.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// How a [`Query`](crate::Query)'s lists become one ranking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fusion {
    /// `Σ weight / (60 + rank)`: Azure AI Search's (the default).
    #[default]
    ReciprocalRank,
    /// `Σ weight × max(score, 0) / max` per list (`max`: the list's best).
    Normalized,
}

/// Rescales one list's scores for [`Fusion::Normalized`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    best: f32,
}

impl Scale {
    /// The best of `scores` (at least 0).
    pub(crate) fn of(scores: impl Iterator<Item = f32>) -> Self {
        Self { best: scores.fold(0.0, f32::max) }
    }

    /// `score` in 0..=1: its share of the best (0 when no score is above 0).
    pub(crate) fn rescale(self, score: f32) -> f64 {
        if self.best > 0.0 { f64::from(score.max(0.0) / self.best) } else { 0.0 }
    }
}

impl Fusion {
    /// What an item at `rank` (from 1) with `score` in a list of `weight`
    /// and range `scale` contributes.
    pub(crate) fn contribution(self, weight: f64, rank: usize, score: f32, scale: Scale) -> f64 {
        match self {
            Fusion::ReciprocalRank => contribution(weight, rank),
            Fusion::Normalized => weight * scale.rescale(score),
        }
    }
}

/// The `k` of reciprocal-rank fusion: each list contributes `weight / (RRF_K + rank)`.
pub const RRF_K: f64 = 60.0;

/// What an item at `rank` (from 1) of a list with `weight` contributes to its fused score.
#[must_use]
pub fn contribution(weight: f64, rank: usize) -> f64 {
    weight / (RRF_K + rank as f64)
}

/// Fuses ranked lists of ids (best first) by reciprocal rank: each id gets
/// `weight / (60 + rank)` from each list it is in, rank from 1. Ties keep
/// the order of first appearance (first list first).
#[must_use]
pub fn reciprocal_rank_fusion<'a>(lists: &[(&'a [String], f64)]) -> Vec<(&'a str, f64)> {
    let mut order: Vec<&'a str> = Vec::new();
    let mut scores: HashMap<&'a str, f64> = HashMap::new();
    for (list, weight) in lists {
        for (position, id) in list.iter().enumerate() {
            let entry = scores.entry(id.as_str()).or_insert_with(|| {
                order.push(id.as_str());
                0.0
            });
            *entry += contribution(*weight, position + 1);
        }
    }
    let mut fused: Vec<(&'a str, f64)> =
        order.into_iter().map(|id| (id, scores.get(id).copied().unwrap_or_default())).collect();
    // A stable sort keeps first appearance among equal scores.
    fused.sort_by(|left, right| right.1.total_cmp(&left.1));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalized_divides_each_list_by_its_best() {
        let scale = Scale::of([2.0_f32, 4.0, 3.0].into_iter());
        assert!((Fusion::Normalized.contribution(0.5, 1, 4.0, scale) - 0.5).abs() < 1e-12);
        assert!((Fusion::Normalized.contribution(0.5, 2, 3.0, scale) - 0.375).abs() < 1e-12);
        assert!((Fusion::Normalized.contribution(0.5, 3, 2.0, scale) - 0.25).abs() < 1e-12);
        // Negative scores (cosine) count 0; a list with nothing above 0 gives 0.
        assert!(Fusion::Normalized.contribution(1.0, 4, -0.2, scale).abs() < 1e-12);
        let flat = Scale::of([-0.3_f32, -0.1].into_iter());
        assert!(Fusion::Normalized.contribution(2.0, 1, -0.1, flat).abs() < 1e-12);
        assert!((Fusion::ReciprocalRank.contribution(2.0, 3, 0.3, flat) - 2.0 / 63.0).abs() < 1e-12);
    }

    #[test]
    fn sums_weighted_reciprocal_ranks() {
        let keyword: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let vector: Vec<String> = ["c", "a", "d"].map(String::from).to_vec();
        let fused = reciprocal_rank_fusion(&[(&keyword, 1.0), (&vector, 1.0)]);
        assert_eq!(fused.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec!["a", "c", "b", "d"]);
        assert!((fused[0].1 - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        assert!((fused[1].1 - (1.0 / 63.0 + 1.0 / 61.0)).abs() < 1e-12);
        assert!((fused[2].1 - 1.0 / 62.0).abs() < 1e-12);
        // A heavy vector list puts its first item first.
        let fused = reciprocal_rank_fusion(&[(&keyword, 1.0), (&vector, 3.0)]);
        assert_eq!(fused[0].0, "c");
        assert!((fused[0].1 - (1.0 / 63.0 + 3.0 / 61.0)).abs() < 1e-12);
    }

    proptest! {
        /// Every id of every list appears once, scores are the sums of
        /// contributions, and the output is sorted by score.
        #[test]
        fn fused_scores_are_sums_and_sorted(
            first in proptest::collection::vec(0_u8..20, 0..15),
            second in proptest::collection::vec(0_u8..20, 0..15),
            weight in 0.0_f64..4.0,
        ) {
            let dedup = |list: Vec<u8>| {
                let mut seen = Vec::new();
                for item in list {
                    let id = item.to_string();
                    if !seen.contains(&id) { seen.push(id); }
                }
                seen
            };
            let (first, second) = (dedup(first), dedup(second));
            let fused = reciprocal_rank_fusion(&[(&first, 1.0), (&second, weight)]);
            let mut all: Vec<&String> = first.iter().chain(&second).collect();
            all.sort();
            all.dedup();
            prop_assert_eq!(fused.len(), all.len());
            for (id, score) in &fused {
                let expected = first.iter().position(|x| x == id).map_or(0.0, |p| contribution(1.0, p + 1))
                    + second.iter().position(|x| x == id).map_or(0.0, |p| contribution(weight, p + 1));
                prop_assert!((score - expected).abs() < 1e-12);
            }
            prop_assert!(fused.windows(2).all(|pair| pair[0].1 >= pair[1].1));
        }
    }
}
