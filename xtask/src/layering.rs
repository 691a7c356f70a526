//! The layering rule: a crate depends only on crates of a lower layer.
//!
//! Read from `cargo metadata`, so the rule is checked against what Cargo
//! actually builds, not against what the docs claim.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Each workspace crate's layer. A crate may depend only on crates of a
/// strictly lower layer. A new crate must be added here (the check fails
/// until it is), which is also the moment to add it to docs/ARCHITECTURE.md.
pub(crate) const LAYERS: &[(&str, u8)] = &[
    ("aoai-core", 0),
    ("aoai-index", 0),
    ("aoai-tools", 1),
    ("aoai-cache", 1),
    ("aoai-safety", 1),
    ("aoai-batch", 1),
    ("aoai-emulator", 1),
    ("aoai-structured", 2),
    ("aoai-rag", 2),
    ("aoai-assistants", 3),
    ("aoai-cli", 9),
    ("aoai-example-tools", 8),
    ("aoai-examples", 9),
    ("xtask", 10),
];

/// The test-support crate: any crate above layer 0 may take it as a
/// dev-dependency (its tests then run against a real server); consumers
/// never pull dev-dependencies, so the layers they see are unchanged.
const TEST_SUPPORT: &str = "aoai-emulator";

/// Runs `cargo metadata` and checks every normal, build and dev dependency
/// between workspace crates.
pub(crate) fn check_workspace() -> Result<(), Vec<String>> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|error| vec![format!("cannot run cargo metadata: {error}")])?;
    if !output.status.success() {
        return Err(vec![format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr))]);
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|error| vec![format!("cannot parse cargo metadata: {error}")])?;
    check(&metadata)
}

pub(crate) fn check(metadata: &Value) -> Result<(), Vec<String>> {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let members: Vec<&str> = packages.iter().filter_map(|package| package["name"].as_str()).collect();
    let mut problems = Vec::new();
    for package in &packages {
        let Some(name) = package["name"].as_str() else { continue };
        let Some(&layer) = layers.get(name) else {
            problems.push(format!("{name}: not in xtask/src/layering.rs LAYERS; give it a layer"));
            continue;
        };
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let Some(target) = dependency["name"].as_str() else { continue };
            if !members.contains(&target) {
                continue;
            }
            let target_layer = layers.get(target).copied().unwrap_or(u8::MAX);
            let is_test_support = target == TEST_SUPPORT && dependency["kind"] == "dev" && layer > 0;
            if target_layer >= layer && !is_test_support {
                problems.push(format!(
                    "{name} (layer {layer}) depends on {target} (layer {target_layer}): a crate may depend only on lower layers"
                ));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn workspace_respects_layers() {
        if let Err(problems) = check_workspace() {
            panic!("layering violated:\n{}", problems.join("\n"));
        }
    }

    #[test]
    fn detects_upward_and_sideways_dependencies() {
        let metadata = json!({"packages": [
            {"name": "aoai-core", "dependencies": [{"name": "aoai-batch"}]},
            {"name": "aoai-batch", "dependencies": [{"name": "aoai-core"}, {"name": "aoai-cache"}, {"name": "serde"}]},
            {"name": "aoai-cache", "dependencies": [{"name": "aoai-core"}]},
            {"name": "aoai-mystery", "dependencies": []},
            // The emulator as a dev-dependency of a crate of its own layer is test support, not a layer breach.
            {"name": "aoai-tools", "dependencies": [{"name": "aoai-core"}, {"name": "aoai-emulator", "kind": "dev"}]},
            {"name": "aoai-emulator", "dependencies": [{"name": "aoai-core"}]},
        ]});
        let problems = check(&metadata).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("aoai-core (layer 0) depends on aoai-batch"));
        assert!(problems[1].starts_with("aoai-batch (layer 1) depends on aoai-cache"));
        assert!(problems[2].starts_with("aoai-mystery: not in"));
    }

    #[test]
    fn the_emulator_is_test_support_only_as_a_dev_dependency_above_layer_0() {
        let metadata = json!({"packages": [
            {"name": "aoai-core", "dependencies": [{"name": "aoai-emulator", "kind": "dev"}]},
            {"name": "aoai-emulator", "dependencies": [{"name": "aoai-core"}]},
            {"name": "aoai-tools", "dependencies": [{"name": "aoai-emulator", "kind": null}]},
        ]});
        let problems = check(&metadata).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("aoai-core (layer 0) depends on aoai-emulator"));
        assert!(problems[1].starts_with("aoai-tools (layer 1) depends on aoai-emulator"));
    }
}
