//! [`EmulatorError`]: what can stop the emulator from starting.

use std::path::PathBuf;

/// Why the emulator could not be configured or started.
///
/// `Display` prints only this level; the underlying I/O or parse error comes
/// through `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// A configuration or fixtures file could not be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is not valid TOML or JSON of the expected shape.
    #[error("invalid configuration file {}: {message}", path.display())]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the parser's position.
        message: String,
    },
    /// A `--deployment` specification or a deployment setting is invalid.
    #[error("invalid deployment {spec:?}: {message}")]
    InvalidDeployment {
        /// The specification or deployment name.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// Some other setting is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The fixtures file could not be loaded.
    #[error("cannot load fixtures from {}: {message}", path.display())]
    Fixtures {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        /// The requested port.
        port: u16,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
