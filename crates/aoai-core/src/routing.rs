//! TODO(owner): routing
