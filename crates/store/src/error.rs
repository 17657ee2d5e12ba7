//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong in the store. Each variant names the table
/// or operation that failed so a log line says where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database file could not be created or opened.
    #[error("opening store database {}: {source}", path.display())]
    Open {
        /// Path of the database file.
        path: PathBuf,
        /// What redb reported.
        source: redb::DatabaseError,
    },
    /// A read or write transaction could not be started.
    #[error("beginning {kind} transaction: {source}")]
    Begin {
        /// `"read"` or `"write"`.
        kind: &'static str,
        /// What redb reported.
        source: redb::TransactionError,
    },
    /// The write transaction's durability could not be set.
    #[error("setting durability of write transaction: {source}")]
    Durability {
        /// What redb reported.
        source: redb::SetDurabilityError,
    },
    /// A table could not be opened (or created).
    #[error("opening table {table}: {source}")]
    Table {
        /// Name of the table.
        table: &'static str,
        /// What redb reported.
        source: redb::TableError,
    },
    /// Reading, writing or iterating a table failed.
    #[error("{op} in table {table}: {source}")]
    Storage {
        /// Name of the table.
        table: &'static str,
        /// The operation, e.g. `"insert"`.
        op: &'static str,
        /// What redb reported.
        source: redb::StorageError,
    },
    /// Committing a write transaction failed; nothing of it is on disk.
    #[error("committing write transaction: {source}")]
    Commit {
        /// What redb reported.
        source: redb::CommitError,
    },
    /// A stored value could not be encoded with postcard.
    #[error("encoding {what} for table {table}: {source}")]
    Encode {
        /// Name of the table.
        table: &'static str,
        /// What was being encoded.
        what: &'static str,
        /// What postcard reported.
        source: postcard::Error,
    },
    /// A stored value could not be decoded with postcard (corrupt or foreign data).
    #[error("decoding {what} from table {table}: {source}")]
    Decode {
        /// Name of the table.
        table: &'static str,
        /// What was being decoded.
        what: &'static str,
        /// What postcard reported.
        source: postcard::Error,
    },
    /// A value of a typed table could not be written or read: empty, of an encoding
    /// version this build does not read, or not decodable.
    #[error("value of {key:?} in table {table}: {detail}")]
    Value {
        /// Name of the table.
        table: &'static str,
        /// The key.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A document already holds as many incremental chunks as a `u32` index allows.
    #[error("document {key:?} already holds the maximum number of chunks; write a snapshot")]
    TooManyChunks {
        /// The document key.
        key: String,
    },
    /// Quarantine already holds the maximum number of records for one `(author, seq)`.
    #[error("quarantine is full for seq {seq} of one author")]
    QuarantineFull {
        /// The sequence number.
        seq: u64,
    },
    /// The database is closed: reopening it after an I/O error failed.
    #[error("the database is closed after an I/O error and could not be opened again")]
    Closed,
}

/// What kind of storage failure an [`Error`] is, when it is one the database recovers
/// from only by being closed and opened again ([`Store::reopen`](crate::Store::reopen)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The disk (or the user's quota) is full: `ENOSPC` or `EDQUOT`.
    DiskFull,
    /// Any other I/O error, or an operation refused because an earlier one failed.
    Io,
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The storage failure this error is, if it is one: after it redb accepts no
    /// operation until the database is reopened. `None` for every other error (a corrupt
    /// value, a bad table definition, too many chunks).
    pub fn fault(&self) -> Option<Fault> {
        let storage = match self {
            Error::Closed => return Some(Fault::Io),
            Error::Open {
                source: redb::DatabaseError::Storage(s),
                ..
            }
            | Error::Begin {
                source: redb::TransactionError::Storage(s),
                ..
            }
            | Error::Table {
                source: redb::TableError::Storage(s),
                ..
            }
            | Error::Commit {
                source: redb::CommitError::Storage(s),
            }
            | Error::Storage { source: s, .. } => s,
            _ => return None,
        };
        match storage {
            redb::StorageError::Io(e) => Some(io_fault(e)),
            redb::StorageError::PreviousIo | redb::StorageError::DatabaseClosed => Some(Fault::Io),
            _ => None,
        }
    }

    pub(crate) fn storage(
        table: &'static str,
        op: &'static str,
        source: redb::StorageError,
    ) -> Self {
        Error::Storage { table, op, source }
    }
}

/// `ENOSPC` and `EDQUOT` on Linux.
const DISK_FULL_ERRNO: [i32; 2] = [28, 122];

fn io_fault(e: &std::io::Error) -> Fault {
    let full = matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || e
        .raw_os_error()
        .is_some_and(|c| DISK_FULL_ERRNO.contains(&c));
    if full {
        Fault::DiskFull
    } else {
        Fault::Io
    }
}
