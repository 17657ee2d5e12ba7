//! `eduioc export parquet`: the node's records, units and indicators as Parquet files, one
//! per table and school year (`students_2026-2027.parquet`, …, `units.parquet`,
//! `indicators_2026-2027.parquet`), for national analysts' tools (DuckDB, Spark, pandas).
//!
//! The records come from the same feed as `export postgres` (read from its start), typed
//! by the same columns (`eduioc_records::export_columns`). Files are written beside the
//! output under a temporary name and renamed into place once whole, so a reader never sees
//! half a file and a killed export leaves the previous files as they were.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use eduioc_engine::export::{IndicatorRow, UnitRow};
use eduioc_records::{export_columns, Collection, ColumnType};
use parquet::basic::Compression;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::config::NodeDir;
use crate::export::{cells, Cell, Source};

/// Rows buffered per file before they are written as one row group.
const ROW_GROUP: usize = 64 * 1024;

/// One column's values, buffered.
enum Column {
    Text(Vec<Option<String>>),
    Date(Vec<Option<i32>>),
    Number(Vec<Option<f64>>),
    Count(Vec<Option<i64>>),
    YesNo(Vec<Option<bool>>),
}

impl Column {
    fn new(t: ColumnType) -> Column {
        match t {
            ColumnType::Text => Column::Text(Vec::new()),
            ColumnType::Date => Column::Date(Vec::new()),
            ColumnType::Number => Column::Number(Vec::new()),
            ColumnType::Count => Column::Count(Vec::new()),
            ColumnType::YesNo => Column::YesNo(Vec::new()),
        }
    }

    /// The column's Parquet declaration (every column optional).
    fn declare(t: ColumnType, name: &str) -> String {
        match t {
            ColumnType::Text => format!("OPTIONAL BYTE_ARRAY {name} (STRING);"),
            ColumnType::Date => format!("OPTIONAL INT32 {name} (DATE);"),
            ColumnType::Number => format!("OPTIONAL DOUBLE {name};"),
            ColumnType::Count => format!("OPTIONAL INT64 {name};"),
            ColumnType::YesNo => format!("OPTIONAL BOOLEAN {name};"),
        }
    }

    fn push(&mut self, cell: Cell) {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        match (self, cell) {
            (Column::Text(v), Cell::Text(x)) => v.push(x),
            (Column::Date(v), Cell::Date(x)) => v.push(
                x.and_then(|d| i32::try_from(d.signed_duration_since(epoch).num_days()).ok()),
            ),
            (Column::Number(v), Cell::Number(x)) => v.push(x),
            (Column::Count(v), Cell::Count(x)) => v.push(x),
            (Column::YesNo(v), Cell::YesNo(x)) => v.push(x),
            // A cell of another type than its column: a null (cannot happen: both come
            // from the same column list).
            (c, _) => c.push_null(),
        }
    }

    fn push_null(&mut self) {
        match self {
            Column::Text(v) => v.push(None),
            Column::Date(v) => v.push(None),
            Column::Number(v) => v.push(None),
            Column::Count(v) => v.push(None),
            Column::YesNo(v) => v.push(None),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::Date(v) => v.len(),
            Column::Number(v) => v.len(),
            Column::Count(v) => v.len(),
            Column::YesNo(v) => v.len(),
        }
    }

    /// Writes the buffered values into `w` and empties the buffer.
    fn write(&mut self, w: &mut ColumnWriter<'_>) -> Result<()> {
        fn levels<T>(v: &[Option<T>]) -> Vec<i16> {
            v.iter().map(|x| i16::from(x.is_some())).collect()
        }
        match (self, w) {
            (Column::Text(v), ColumnWriter::ByteArrayColumnWriter(w)) => {
                let values: Vec<ByteArray> = v
                    .iter()
                    .flatten()
                    .map(|s| ByteArray::from(s.as_bytes().to_vec()))
                    .collect();
                w.write_batch(&values, Some(&levels(v)), None)?;
                v.clear();
            }
            (Column::Date(v), ColumnWriter::Int32ColumnWriter(w)) => {
                let values: Vec<i32> = v.iter().flatten().copied().collect();
                w.write_batch(&values, Some(&levels(v)), None)?;
                v.clear();
            }
            (Column::Number(v), ColumnWriter::DoubleColumnWriter(w)) => {
                let values: Vec<f64> = v.iter().flatten().copied().collect();
                w.write_batch(&values, Some(&levels(v)), None)?;
                v.clear();
            }
            (Column::Count(v), ColumnWriter::Int64ColumnWriter(w)) => {
                let values: Vec<i64> = v.iter().flatten().copied().collect();
                w.write_batch(&values, Some(&levels(v)), None)?;
                v.clear();
            }
            (Column::YesNo(v), ColumnWriter::BoolColumnWriter(w)) => {
                let values: Vec<bool> = v.iter().flatten().copied().collect();
                w.write_batch(&values, Some(&levels(v)), None)?;
                v.clear();
            }
            _ => anyhow::bail!("a column does not match its Parquet type"),
        }
        Ok(())
    }
}

/// One Parquet file being written: its columns buffered up to a row group.
struct Table {
    path: PathBuf,
    partial: PathBuf,
    writer: SerializedFileWriter<File>,
    columns: Vec<Column>,
    rows: usize,
}

impl Table {
    fn create(dir: &Path, name: &str, columns: &[(&str, ColumnType)]) -> Result<Table> {
        let path = dir.join(format!("{name}.parquet"));
        let partial = dir.join(format!(".{name}.parquet.partial"));
        let decl: Vec<String> = columns
            .iter()
            .map(|(n, t)| Column::declare(*t, n))
            .collect();
        let message = format!(
            "message {} {{ {} }}",
            name.replace('-', "_"),
            decl.join(" ")
        );
        let schema = Arc::new(
            parquet::schema::parser::parse_message_type(&message)
                .with_context(|| format!("the Parquet schema of {name}"))?,
        );
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_created_by(format!("eduioc {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let file = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        Ok(Table {
            path,
            partial,
            writer: SerializedFileWriter::new(file, schema, props)?,
            columns: columns.iter().map(|(_, t)| Column::new(*t)).collect(),
            rows: 0,
        })
    }

    fn push(&mut self, row: Vec<Cell>) -> Result<()> {
        for (col, cell) in self.columns.iter_mut().zip(row) {
            col.push(cell);
        }
        self.rows += 1;
        if self.columns.first().map_or(0, Column::len) >= ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.columns.first().map_or(0, Column::len) == 0 {
            return Ok(());
        }
        let mut rg = self.writer.next_row_group()?;
        for col in &mut self.columns {
            let mut cw = rg
                .next_column()?
                .context("the Parquet schema has fewer columns than the table")?;
            col.write(cw.untyped())?;
            cw.close()?;
        }
        rg.close()?;
        Ok(())
    }

    /// Writes what is buffered, closes the file, syncs it and renames it into place;
    /// prints the file with its rows and size.
    fn finish(mut self) -> Result<usize> {
        self.flush()?;
        let file = self.writer.into_inner()?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        std::fs::rename(&self.partial, &self.path)
            .with_context(|| format!("cannot rename into {}", self.path.display()))?;
        println!(
            "{}: {} rows, {:.1} KiB",
            self.path.display(),
            self.rows,
            bytes as f64 / 1024.0
        );
        Ok(self.rows)
    }
}

fn text(s: &str) -> Cell {
    Cell::Text(Some(s.to_string()))
}

/// The columns every record table starts with.
const KEY_COLUMNS: [(&str, ColumnType); 3] = [
    ("unit", ColumnType::Text),
    ("school_year", ColumnType::Text),
    ("record_id", ColumnType::Text),
];

/// `eduioc export parquet`: writes every file, prints each with its rows.
pub(crate) fn run(nd: &NodeDir, out: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let source = Source::open(nd, true)?;
    let units = source.units()?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut cursor = 0;
    loop {
        let page = source.feed(cursor, 50)?;
        for doc in page.docs.iter().filter(|d| d.held) {
            let Ok(c) = doc.collection.parse::<Collection>() else {
                continue;
            };
            let columns = export_columns(c);
            let name = format!("{c}_{}", doc.school_year);
            if !tables.contains_key(&name) {
                let mut all = KEY_COLUMNS.to_vec();
                all.extend(columns.iter().copied());
                tables.insert(name.clone(), Table::create(out, &name, &all)?);
            }
            let table = tables
                .get_mut(&name)
                .context("the table was just created")?;
            for rec in &doc.records {
                let mut row = vec![text(&doc.unit), text(&doc.school_year), text(&rec.id)];
                row.extend(cells(c, &columns, rec));
                table.push(row)?;
            }
        }
        cursor = page.next;
        if !page.more {
            break;
        }
    }
    write_units(out, &units.units)?;
    let mut by_year: BTreeMap<&str, Vec<&IndicatorRow>> = BTreeMap::new();
    for r in &units.indicators {
        by_year.entry(r.school_year.as_str()).or_default().push(r);
    }
    for (year, rows) in by_year {
        write_indicators(out, year, &rows)?;
    }
    let mut total = 0;
    for (_, t) in tables {
        total += t.finish()?;
    }
    println!(
        "{}: {total} records in {:.1} s",
        nd.toml.unit,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn write_units(out: &Path, units: &[UnitRow]) -> Result<()> {
    let columns = [
        ("unit", ColumnType::Text),
        ("name", ColumnType::Text),
        ("level", ColumnType::Text),
        ("parent", ColumnType::Text),
        ("cert_version", ColumnType::Count),
        ("effective_ms", ColumnType::Count),
    ];
    let mut t = Table::create(out, "units", &columns)?;
    for u in units {
        t.push(vec![
            text(&u.unit),
            text(&u.name),
            text(&u.level),
            Cell::Text(u.parent.clone()),
            Cell::Count(Some(i64::from(u.cert_version))),
            Cell::Count(Some(u.effective_ms)),
        ])?;
    }
    t.finish()?;
    Ok(())
}

fn write_indicators(out: &Path, year: &str, rows: &[&IndicatorRow]) -> Result<()> {
    let columns = [
        ("unit", ColumnType::Text),
        ("school_year", ColumnType::Text),
        ("term", ColumnType::Text),
        ("indicator", ColumnType::Text),
        ("value", ColumnType::Number),
        ("numerator", ColumnType::Number),
        ("denominator", ColumnType::Number),
    ];
    let mut t = Table::create(out, &format!("indicators_{year}"), &columns)?;
    for r in rows {
        t.push(vec![
            text(&r.unit),
            text(&r.school_year),
            text(&r.term),
            text(&r.indicator),
            Cell::Number(r.value),
            Cell::Number(Some(r.numerator)),
            Cell::Number(Some(r.denominator)),
        ])?;
    }
    t.finish()?;
    Ok(())
}
