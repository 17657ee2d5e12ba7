//! File modes: a node directory holds the node's secret key, its API token, password
//! hashes and every record of its subtree, so it is `0700` and everything in it `0600`,
//! whatever the umask.
//!
//! Three layers: the process's umask is `077` from the start of `main` (whatever any
//! code creates later is private), the files `topology generate` writes get their mode
//! explicitly, and a node directory found with looser modes at start is tightened with
//! a warning naming each path.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Mode of a node directory.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every file in it.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Makes every file and directory this process creates from now on private to its user
/// (`umask 077`).
pub(crate) fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file mode creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` (and its missing parents) and sets its mode to [`DIR_MODE`].
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    set_mode(dir, DIR_MODE)
}

/// Writes `bytes` to `path` with mode [`FILE_MODE`] (also when the file existed).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(path, FILE_MODE)?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    }
    Ok(())
}

/// Tightens a node directory found with looser modes: the directory to [`DIR_MODE`], each
/// file in it to [`FILE_MODE`], each directory in it to [`DIR_MODE`] (one level; a node
/// directory has no deeper tree). Warns naming each path it changed; returns how many.
pub(crate) fn tighten(dir: &Path) -> Result<usize> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut changed = 0;
        let mut fix = |path: &Path, is_dir: bool| -> Result<()> {
            let meta = std::fs::symlink_metadata(path)
                .with_context(|| format!("cannot read the mode of {}", path.display()))?;
            if meta.file_type().is_symlink() {
                return Ok(());
            }
            let mode = meta.permissions().mode() & 0o777;
            let want = if is_dir { DIR_MODE } else { FILE_MODE };
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    now = format!("{want:o}"),
                    "readable by other users: mode tightened"
                );
                set_mode(path, want)?;
                changed += 1;
            }
            Ok(())
        };
        fix(dir, true)?;
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let ty = entry.file_type()?;
            if ty.is_dir() || ty.is_file() {
                fix(&entry.path(), ty.is_dir())?;
            }
        }
        Ok(changed)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(0)
    }
}
