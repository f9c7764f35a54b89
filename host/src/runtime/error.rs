//! Errors from loading components.

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{what}: not a valid WebAssembly component: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{what}: {message}")]
    ForbiddenImports { what: String, message: String },
    #[error("{what}: does not implement the {world} world: {reason}")]
    WrongWorld {
        what: String,
        world: &'static str,
        reason: String,
    },
    #[error("{name} '{item}' is exported by both {first} and {second}")]
    DuplicateName {
        name: &'static str,
        item: String,
        first: String,
        second: String,
    },
    #[error("setting up the wasmtime engine: {0}")]
    Engine(String),
}
