//! TODO(owner): api
