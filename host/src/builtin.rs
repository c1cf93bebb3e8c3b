//! The connectors shipped inside the binary (`rest`, `files`), so that a
//! pipeline can name them on a fresh install without `connector install`.
//!
//! `build.rs` builds them from `connectors/` and embeds their bytes. They are
//! pinned by construction: the bytes are part of the binary, and their compiled
//! code is cached and trusted like that of a component named by path (only the
//! code this host wrote, see `engine`). A user's own install of the same name
//! takes their place (`registry`).

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// The component bytes of the built-in connector `name`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}

/// The built-in connectors' names, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    let mut names: Vec<&'static str> = BUILTIN.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    names.into_iter()
}

/// What a built-in connector is called where a path would be shown.
pub fn label(name: &str) -> std::path::PathBuf {
    format!("(built-in connector `{name}`)").into()
}
