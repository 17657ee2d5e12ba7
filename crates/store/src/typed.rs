//! Named tables of typed, versioned values under string keys: what the engine keeps
//! besides entries, heads, documents, certificates and quarantine (summaries, look-up
//! indexes, notifications, freshness, snapshot bookkeeping, and whatever comes next).
//!
//! A [`Table`] is declared once, as a constant, by the crate that owns the value type:
//! its redb table name, the value type and the version of the value's encoding. Every
//! stored value is that version byte followed by the value in postcard. Encoding is
//! fallible and an error names the table and key; so is decoding: a value that is empty,
//! of another version or not decodable is [`Error::Value`] naming the table and the key,
//! never a default. A table that was never written reads as empty.

use std::marker::PhantomData;

use redb::{ReadTransaction, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Error, Result};

/// A named table whose values are `V`, encoded as version `version`.
pub struct Table<V> {
    name: &'static str,
    version: u8,
    _value: PhantomData<fn() -> V>,
}

impl<V> Table<V> {
    /// Declares the table `name` holding values of `V` at encoding version `version`.
    /// Change the version when `V`'s encoding changes, and migrate the stored values.
    pub const fn new(name: &'static str, version: u8) -> Table<V> {
        Table {
            name,
            version,
            _value: PhantomData,
        }
    }

    /// The table's name in the database.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The version its values are written at.
    pub fn version(&self) -> u8 {
        self.version
    }

    pub(crate) fn def(&self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.name)
    }

    /// The postcard bytes of a stored value, after checking its version.
    pub(crate) fn payload<'b>(&self, key: &str, stored: &'b [u8]) -> Result<&'b [u8]> {
        match stored.split_first() {
            None => Err(self.value_error(key, "the value is empty".into())),
            Some((&v, rest)) if v == self.version => Ok(rest),
            Some((&v, _)) => Err(self.value_error(
                key,
                if v > self.version {
                    format!(
                        "the value is version {v}, written by a newer EduIOC; this one reads \
                         version {}",
                        self.version
                    )
                } else {
                    format!(
                        "the value is version {v}, which this EduIOC no longer reads (it \
                         reads version {})",
                        self.version
                    )
                },
            )),
        }
    }

    /// The error saying that the value under `key` is wrong, and how.
    pub fn value_error(&self, key: &str, detail: String) -> Error {
        Error::Value {
            table: self.name,
            key: key.to_string(),
            detail,
        }
    }
}

impl<V: Serialize> Table<V> {
    /// The stored form of `value`: its version byte, then postcard.
    pub fn encode(&self, key: &str, value: &V) -> Result<Vec<u8>> {
        postcard::to_extend(value, vec![self.version])
            .map_err(|e| self.value_error(key, format!("cannot be encoded: {e}")))
    }
}

impl<V: DeserializeOwned> Table<V> {
    /// The value stored as `stored` under `key`.
    pub fn decode(&self, key: &str, stored: &[u8]) -> Result<V> {
        self.decode_payload(key, self.payload(key, stored)?)
    }

    /// The value whose postcard bytes (after the version byte) are `payload`.
    pub(crate) fn decode_payload(&self, key: &str, payload: &[u8]) -> Result<V> {
        postcard::from_bytes(payload)
            .map_err(|e| self.value_error(key, format!("cannot be decoded: {e}")))
    }
}

impl<V> std::fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({} v{})", self.name, self.version)
    }
}

/// Opens `table` for reading; `None` if it was never created.
pub(crate) fn open<V>(
    txn: &ReadTransaction,
    table: &Table<V>,
) -> Result<Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>> {
    match txn.open_table(table.def()) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(source) => Err(Error::Table {
            table: table.name,
            source,
        }),
    }
}

/// The stored bytes under `key` (version byte included).
pub(crate) fn get_stored<T, V>(t: &T, table: &Table<V>, key: &str) -> Result<Option<Vec<u8>>>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    let got = t
        .get(key)
        .map_err(|e| Error::storage(table.name, "get", e))?;
    Ok(got.map(|v| v.value().to_vec()))
}

/// Every `(key, stored bytes)` whose key starts with `prefix`, ordered by key.
pub(crate) fn scan_stored<T, V>(
    t: &T,
    table: &Table<V>,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    crate::tables::str_prefix(t, table.name, prefix)
}
