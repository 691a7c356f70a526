//! The migration guide from the retired Assistants API, `docs/assistants-migration.md`,
//! kept here so its program is a doc test that runs against the emulator.
#![doc = include_str!("../../../docs/assistants-migration.md")]
