//! TODO(owner): tokens
