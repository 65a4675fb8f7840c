//! The embedded store's file: written whole, atomically, readable by its owner only.

use std::io::Write as _;
use std::path::Path;

use super::State;
use crate::store::StoreError;

pub(super) fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|dir| !dir.as_os_str().is_empty())
}

pub(super) fn io_error(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{}: {error}", path.display()))
}

/// Temp file in the same directory, flushed to disk, then renamed over the old file: a
/// crash leaves the old state or the new one, never a torn file. The temp file is
/// created readable by its owner only, as the state holds bot tokens.
pub(super) fn persist(path: &Path, state: &State) -> Result<(), StoreError> {
    let dir = parent_dir(path).unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|error| io_error(path, error))?;
    let json = serde_json::to_vec_pretty(state)
        .map_err(|error| StoreError::Unavailable(format!("state cannot be serialised: {error}")))?;
    file.write_all(&json)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|error| io_error(path, error))?;
    file.persist(path)
        .map_err(|error| io_error(path, error.error))?;
    Ok(())
}
