//! TODO(owner): metrics
