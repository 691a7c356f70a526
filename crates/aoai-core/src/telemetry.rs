//! TODO(owner): telemetry
