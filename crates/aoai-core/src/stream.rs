//! TODO(owner): stream
