//! `eduioc export postgres`: keeps a PostgreSQL schema in step with a node (the sector
//! database, a provincial IOC's warehouse). See `docs/export.md` for the schema.
//!
//! The node's feed (`eduioc_engine::export`) lists the documents whose figures changed, in
//! commit order, each once at its latest change. Each round reads a page of it (through the
//! running node's API, or its store when it is not running) and writes, in one PostgreSQL
//! transaction: every record of each document of the page (the document's rows replaced
//! whole, so a record deleted at the school is deleted here), the indicators of the units
//! those documents count toward, and the cursor after the page in `export_state`. A kill at
//! any moment leaves either the page and its cursor, or neither: the next run resumes from
//! the cursor, with nothing lost and nothing doubled.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eduioc_engine::export::{FeedDoc, FeedPage, FeedRecord, IndicatorRow, UnitsPage};
use eduioc_records::{export_columns, id_is_first_column, Collection, ColumnType, Value};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Transaction};

use crate::config::NodeDir;

/// The version of the schema this exporter writes (in `export_state.schema_version`).
pub(crate) const SCHEMA_VERSION: i32 = 1;

/// How `eduioc export postgres` runs.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// The PostgreSQL schema the tables are in.
    pub schema: String,
    /// Stop once the feed is read to its end (else follow it).
    pub once: bool,
    /// How long to wait between rounds when the feed is read to its end.
    pub interval: Duration,
    /// Most documents per round (one transaction).
    pub page_docs: usize,
    /// How often the units and every indicator are written again while following
    /// (indicators of reporting move with time, not only with data).
    pub refresh: Duration,
}

/// Where the feed is read from.
pub(crate) enum Source {
    /// The running node's JSON API.
    Api { base: String, token: String },
    /// The node's store, opened here (the node is not running).
    Store {
        lookups: eduioc_engine::Lookups,
        _engine: Box<eduioc_engine::Engine>,
    },
}

impl Source {
    /// The running node's API when it answers, else (with `once`) its store.
    pub(crate) fn open(nd: &NodeDir, once: bool) -> Result<Source> {
        let base = format!("http://{}", nd.toml.http);
        let probe = ureq::get(&format!("{base}/api/v1/status"))
            .set("Authorization", &format!("Bearer {}", nd.token))
            .timeout(Duration::from_secs(10))
            .call();
        match probe {
            Ok(_) | Err(ureq::Error::Status(..)) => Ok(Source::Api {
                base,
                token: nd.token.clone(),
            }),
            Err(ureq::Error::Transport(_)) if once => {
                let engine = nd.open_engine("export")?;
                Ok(Source::Store {
                    lookups: engine.lookups(),
                    _engine: Box::new(engine),
                })
            }
            Err(e) => bail!(
                "the node {} does not answer at {base} ({e}); following its feed needs it \
                 running (--once reads its store when it is stopped)",
                nd.toml.unit
            ),
        }
    }

    fn get<T: serde::de::DeserializeOwned>(base: &str, token: &str, path: &str) -> Result<T> {
        let r = ureq::get(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .timeout(Duration::from_secs(120))
            .call();
        match r {
            Ok(r) => r
                .into_json()
                .with_context(|| format!("reading the answer to {path}")),
            Err(ureq::Error::Status(code, r)) => {
                let v: serde_json::Value = r.into_json().unwrap_or_default();
                bail!(
                    "{path}: the node answered {code}: {}",
                    v["error"].as_str().unwrap_or("?")
                )
            }
            Err(e) => bail!("{path}: {e}"),
        }
    }

    pub(crate) fn feed(&self, cursor: u64, limit: usize) -> Result<FeedPage> {
        match self {
            Source::Api { base, token } => Self::get(
                base,
                token,
                &format!("/api/v1/export/feed?cursor={cursor}&limit={limit}"),
            ),
            Source::Store { lookups, .. } => Ok(lookups.feed(cursor, limit)?),
        }
    }

    pub(crate) fn units(&self) -> Result<UnitsPage> {
        match self {
            Source::Api { base, token } => Self::get(base, token, "/api/v1/export/units"),
            Source::Store { lookups, .. } => Ok(lookups.units_page()?),
        }
    }
}

/// A schema name PostgreSQL takes unquoted: `[a-z_][a-z0-9_]{0,62}`.
fn check_schema(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!("--schema {s:?}: expected lower-case letters, digits and _, starting with a letter");
    }
    Ok(())
}

fn sql_type(t: ColumnType) -> (&'static str, Type) {
    match t {
        ColumnType::Text => ("text", Type::TEXT),
        ColumnType::Date => ("date", Type::DATE),
        ColumnType::Number => ("double precision", Type::FLOAT8),
        ColumnType::Count => ("bigint", Type::INT8),
        ColumnType::YesNo => ("boolean", Type::BOOL),
    }
}

/// The statements that create the schema (each idempotent).
pub(crate) fn ddl(schema: &str) -> String {
    let s = schema;
    let mut sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.export_state (
    node text PRIMARY KEY,
    feed_cursor bigint NOT NULL,
    feed_epoch text NOT NULL,
    directory text NOT NULL,
    schema_version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {s}.units (
    unit text PRIMARY KEY,
    name text NOT NULL,
    level text NOT NULL,
    parent text,
    cert_version integer NOT NULL,
    effective_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.documents (
    doc_key text PRIMARY KEY,
    unit text NOT NULL,
    collection text NOT NULL,
    school_year text NOT NULL,
    feed_seq bigint NOT NULL,
    records integer NOT NULL,
    exported_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {s}.indicators (
    unit text NOT NULL,
    school_year text NOT NULL,
    term text NOT NULL,
    indicator text NOT NULL,
    value double precision,
    numerator double precision NOT NULL,
    denominator double precision NOT NULL,
    PRIMARY KEY (unit, school_year, term, indicator)
);
"
    );
    for c in Collection::ALL {
        let mut cols = vec![
            "    unit text NOT NULL".to_string(),
            "    school_year text NOT NULL".to_string(),
            "    record_id text NOT NULL".to_string(),
        ];
        for (code, t) in export_columns(c) {
            cols.push(format!("    {code} {}", sql_type(t).0));
        }
        cols.push("    PRIMARY KEY (unit, school_year, record_id)".to_string());
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {s}.{c} (\n{}\n);\n",
            cols.join(",\n")
        ));
    }
    sql
}

/// One cell of a record, typed (PostgreSQL, Parquet).
pub(crate) enum Cell {
    Text(Option<String>),
    Date(Option<chrono::NaiveDate>),
    Number(Option<f64>),
    Count(Option<i64>),
    YesNo(Option<bool>),
}

impl Cell {
    /// The cell of `value` in a column of type `t` (`None` — SQL NULL — for an empty or
    /// absent value, or one that is not of the column's type; the node checked every value
    /// at import, so that is a record older than a rule).
    pub(crate) fn of(t: ColumnType, value: Option<&Value>) -> Cell {
        let text = match value {
            Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Int(i)) => Some(i.to_string()),
            _ => None,
        };
        match t {
            ColumnType::Text => Cell::Text(text),
            ColumnType::Date => Cell::Date(
                text.and_then(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()),
            ),
            ColumnType::Number => Cell::Number(text.and_then(|s| s.parse().ok())),
            ColumnType::Count => Cell::Count(text.and_then(|s| s.parse().ok())),
            ColumnType::YesNo => Cell::YesNo(text.and_then(|s| match s.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            })),
        }
    }

    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Text(v) => v,
            Cell::Date(v) => v,
            Cell::Number(v) => v,
            Cell::Count(v) => v,
            Cell::YesNo(v) => v,
        }
    }
}

/// The cells of record `rec` of a document of collection `c`, one per column of `columns`
/// ([`export_columns`]): the first is the record id where the id is not a stored field.
pub(crate) fn cells(
    c: Collection,
    columns: &[(&'static str, ColumnType)],
    rec: &FeedRecord,
) -> Vec<Cell> {
    let id = Value::Str(rec.id.clone());
    let first_is_id = id_is_first_column(c);
    columns
        .iter()
        .enumerate()
        .map(|(i, (code, t))| {
            let v = if i == 0 && first_is_id {
                Some(&id)
            } else {
                rec.fields.get(*code)
            };
            Cell::of(*t, v)
        })
        .collect()
}

/// What one round wrote.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Round {
    /// Documents whose rows were replaced.
    pub docs: usize,
    /// Record rows written.
    pub rows: usize,
    /// Indicator rows written.
    pub indicators: usize,
    /// Whether the feed has more after this round.
    pub more: bool,
}

/// The exporter: a PostgreSQL connection and the node's feed.
pub(crate) struct Exporter {
    client: Client,
    source: Source,
    node: String,
    opts: Options,
    last_refresh: Option<Instant>,
}

impl Exporter {
    /// Connects to `url`, creates the schema if needed and checks that it holds this
    /// node's export (or none).
    pub(crate) fn connect(nd: &NodeDir, url: &str, opts: Options) -> Result<Exporter> {
        check_schema(&opts.schema)?;
        let source = Source::open(nd, opts.once)?;
        let mut client = Client::connect(url, NoTls)
            .with_context(|| format!("connecting to PostgreSQL at {}", redacted(url)))?;
        client
            .batch_execute(&ddl(&opts.schema))
            .with_context(|| format!("creating schema {}", opts.schema))?;
        let s = &opts.schema;
        let rows = client.query(
            &format!("SELECT node, schema_version FROM {s}.export_state"),
            &[],
        )?;
        for r in rows {
            let (node, version): (String, i32) = (r.get(0), r.get(1));
            if node != nd.toml.unit {
                bail!(
                    "schema {s} holds the export of node {node}, not {}: use another --schema",
                    nd.toml.unit
                );
            }
            if version != SCHEMA_VERSION {
                bail!("schema {s} was written by schema version {version}; this eduioc writes {SCHEMA_VERSION}");
            }
        }
        Ok(Exporter {
            client,
            source,
            node: nd.toml.unit.clone(),
            opts,
            last_refresh: None,
        })
    }

    /// The cursor, the feed's identity and the hierarchy stored with the last round (0,
    /// "" and "" before the first).
    fn state(&mut self) -> Result<(u64, String, String)> {
        let s = &self.opts.schema;
        let row = self.client.query_opt(
            &format!(
                "SELECT feed_cursor, feed_epoch, directory FROM {s}.export_state WHERE node = $1"
            ),
            &[&self.node],
        )?;
        Ok(match row {
            Some(r) => (
                u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
                r.get(1),
                r.get(2),
            ),
            None => (0, String::new(), String::new()),
        })
    }

    /// One round: a page of the feed, written in one transaction with its cursor.
    pub(crate) fn round(&mut self) -> Result<Round> {
        let (cursor, epoch, directory) = self.state()?;
        let mut page = self.source.feed(cursor, self.opts.page_docs)?;
        if page.node != self.node {
            bail!("the feed is of node {}, not {}", page.node, self.node);
        }
        // The node's store began again (restored from its parent, or from a copy older than
        // what was exported): its records are written again from the start, and rows of
        // documents it no longer has go.
        let restart = cursor > 0 && (page.epoch != epoch || cursor > page.last);
        if restart {
            tracing::warn!(
                node = %self.node,
                "the node's feed began again (its store was restored): exporting everything again"
            );
            page = self.source.feed(0, self.opts.page_docs)?;
        }
        let due = self
            .last_refresh
            .is_none_or(|t| t.elapsed() >= self.opts.refresh);
        let units = if page.directory != directory || due {
            Some(self.source.units()?)
        } else {
            None
        };
        let s = self.opts.schema.clone();
        let mut out = Round {
            more: page.more,
            ..Round::default()
        };
        let mut tx = self.client.transaction()?;
        if restart {
            let mut clear: Vec<String> = Collection::ALL
                .iter()
                .map(|c| format!("DELETE FROM {s}.{c};"))
                .collect();
            clear.push(format!("DELETE FROM {s}.documents;"));
            tx.batch_execute(&clear.concat())?;
        }
        let directory = match &units {
            Some(u) => {
                write_units(&mut tx, &s, u)?;
                out.indicators += u.indicators.len();
                u.directory.clone()
            }
            None => directory,
        };
        for doc in page.docs.iter().filter(|d| d.held) {
            out.rows += write_doc(&mut tx, &s, doc)?;
            out.docs += 1;
        }
        write_indicators(&mut tx, &s, &page.indicators)?;
        out.indicators += page.indicators.len();
        let next = i64::try_from(page.next).context("feed cursor out of range")?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.export_state (node, feed_cursor, feed_epoch, directory, schema_version)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (node) DO UPDATE
                 SET feed_cursor = $2, feed_epoch = $3, directory = $4, schema_version = $5,
                     updated_at = now()"
            ),
            &[&self.node, &next, &page.epoch, &directory, &SCHEMA_VERSION],
        )?;
        tx.commit()?;
        if units.is_some() {
            self.last_refresh = Some(Instant::now());
        }
        Ok(out)
    }
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:…{}", &url[..scheme + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// Replaces the units and every indicator.
fn write_units(tx: &mut Transaction<'_>, s: &str, u: &UnitsPage) -> Result<()> {
    tx.batch_execute(&format!(
        "DELETE FROM {s}.units; DELETE FROM {s}.indicators;"
    ))?;
    let sink = tx.copy_in(&format!(
        "COPY {s}.units (unit, name, level, parent, cert_version, effective_at) FROM STDIN (FORMAT binary)"
    ))?;
    let types = [
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT4,
        Type::TIMESTAMPTZ,
    ];
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for r in &u.units {
        let version = i32::try_from(r.cert_version).unwrap_or(i32::MAX);
        let at = chrono::DateTime::from_timestamp_millis(r.effective_ms).unwrap_or_default();
        w.write(&[&r.unit, &r.name, &r.level, &r.parent, &version, &at])?;
    }
    w.finish()?;
    write_indicators(tx, s, &u.indicators)
}

/// Writes indicator rows, replacing those of the same unit, year, term and indicator.
fn write_indicators(tx: &mut Transaction<'_>, s: &str, rows: &[IndicatorRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let upsert = tx.prepare(&format!(
        "INSERT INTO {s}.indicators (unit, school_year, term, indicator, value, numerator, denominator)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (unit, school_year, term, indicator) DO UPDATE
         SET value = $5, numerator = $6, denominator = $7"
    ))?;
    for r in rows {
        tx.execute(
            &upsert,
            &[
                &r.unit,
                &r.school_year,
                &r.term,
                &r.indicator,
                &r.value,
                &r.numerator,
                &r.denominator,
            ],
        )?;
    }
    Ok(())
}

/// Replaces the rows of document `doc`; returns how many were written.
fn write_doc(tx: &mut Transaction<'_>, s: &str, doc: &FeedDoc) -> Result<usize> {
    let Ok(c) = doc.collection.parse::<Collection>() else {
        tracing::warn!(doc = %doc.key, "a document of no known collection is not exported");
        return Ok(0);
    };
    let columns = export_columns(c);
    tx.execute(
        &format!("DELETE FROM {s}.{c} WHERE unit = $1 AND school_year = $2"),
        &[&doc.unit, &doc.school_year],
    )?;
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let sink = tx.copy_in(&format!(
        "COPY {s}.{c} (unit, school_year, record_id, {}) FROM STDIN (FORMAT binary)",
        names.join(", ")
    ))?;
    let mut types = vec![Type::TEXT, Type::TEXT, Type::TEXT];
    types.extend(columns.iter().map(|(_, t)| sql_type(*t).1));
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for rec in &doc.records {
        let cells = cells(c, &columns, rec);
        let mut row: Vec<&(dyn ToSql + Sync)> = vec![&doc.unit, &doc.school_year, &rec.id];
        row.extend(cells.iter().map(Cell::sql));
        w.write(&row)?;
    }
    w.finish()?;
    let seq = i64::try_from(doc.seq).unwrap_or(i64::MAX);
    let n = i32::try_from(doc.records.len()).unwrap_or(i32::MAX);
    tx.execute(
        &format!(
            "INSERT INTO {s}.documents (doc_key, unit, collection, school_year, feed_seq, records)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (doc_key) DO UPDATE
             SET feed_seq = $5, records = $6, exported_at = now()"
        ),
        &[
            &doc.key,
            &doc.unit,
            &doc.collection,
            &doc.school_year,
            &seq,
            &n,
        ],
    )?;
    Ok(doc.records.len())
}

/// `eduioc export postgres`: rounds until the feed is read to its end (`--once`), or for
/// ever, waiting `interval` whenever it is; prints what each run wrote.
pub(crate) fn run(nd: &NodeDir, url: &str, opts: Options) -> Result<()> {
    let once = opts.once;
    let interval = opts.interval;
    let mut ex = Exporter::connect(nd, url, opts)?;
    let started = Instant::now();
    let mut total = Round::default();
    loop {
        let r = match ex.round() {
            Ok(r) => r,
            Err(e) if !once => {
                // Following: the node restarting or the database going away is retried.
                tracing::warn!(error = %format!("{e:#}"), "export round failed; retrying");
                std::thread::sleep(interval.max(Duration::from_secs(1)));
                if let Ok(fresh) = Exporter::connect(nd, url, ex.opts.clone()) {
                    ex = fresh;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        total.docs += r.docs;
        total.rows += r.rows;
        total.indicators += r.indicators;
        if r.docs > 0 {
            println!(
                "{}: {} documents, {} rows, {} indicators",
                ex.node, r.docs, r.rows, r.indicators
            );
        }
        if r.more {
            continue;
        }
        if once {
            break;
        }
        std::thread::sleep(interval);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: exported {} documents, {} rows in {secs:.1} s ({:.0} rows/s); schema {} is up to date",
        ex.node,
        total.docs,
        total.rows,
        total.rows as f64 / secs.max(1e-9),
        ex.opts.schema
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        assert!(check_schema("eduioc").is_ok());
        assert!(check_schema("so_hanoi_2").is_ok());
        for bad in ["", "1x", "Edu", "a-b", "a;drop table x", "x y"] {
            assert!(check_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cells_take_the_column_type_and_null_what_is_not_of_it() {
        let v = |s: &str| Value::Str(s.into());
        assert!(
            matches!(Cell::of(ColumnType::Date, Some(&v("2014-02-28"))), Cell::Date(Some(d)) if d.to_string() == "2014-02-28")
        );
        assert!(matches!(
            Cell::of(ColumnType::Date, Some(&v("28/02/2014"))),
            Cell::Date(None)
        ));
        assert!(
            matches!(Cell::of(ColumnType::Number, Some(&v("152.5"))), Cell::Number(Some(x)) if x == 152.5)
        );
        assert!(matches!(
            Cell::of(ColumnType::Count, Some(&Value::Int(12))),
            Cell::Count(Some(12))
        ));
        assert!(matches!(
            Cell::of(ColumnType::YesNo, Some(&v("no"))),
            Cell::YesNo(Some(false))
        ));
        assert!(matches!(
            Cell::of(ColumnType::Text, Some(&v(""))),
            Cell::Text(None)
        ));
        assert!(
            matches!(Cell::of(ColumnType::Text, Some(&Value::Int(6))), Cell::Text(Some(s)) if s == "6")
        );
        assert!(matches!(Cell::of(ColumnType::Text, None), Cell::Text(None)));
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redacted("postgres://ioc:s3cret@db.so.local:5432/edu"),
            "postgres://ioc:…@db.so.local:5432/edu"
        );
        assert_eq!(
            redacted("postgres://localhost/edu"),
            "postgres://localhost/edu"
        );
        assert_eq!(redacted("postgres://ioc@db/edu"), "postgres://ioc@db/edu");
    }

    #[test]
    fn every_collection_has_a_table_keyed_by_unit_year_and_record() {
        let sql = ddl("eduioc");
        for c in Collection::ALL {
            assert!(
                sql.contains(&format!("CREATE TABLE IF NOT EXISTS eduioc.{c} (")),
                "{c}"
            );
        }
        assert!(sql.contains("birth_date date"));
        assert!(sql.contains("height_cm double precision"));
        assert!(sql.contains("clean_water boolean"));
        assert!(sql.contains("toilets bigint"));
    }
}
