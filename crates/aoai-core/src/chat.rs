//! TODO(owner): chat
