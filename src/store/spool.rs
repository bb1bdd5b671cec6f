//! Built rows waiting for their writer. An ingest batch is read and checked completely
//! before a database connection is taken (a slow sender must not hold SQLite's write
//! lock or a pooled PostgreSQL connection), so its rows wait here: in memory up to
//! [`MEMORY_BYTES`], then in an unnamed temporary file that disappears with the spool.
//!
//! Rows are kept in a small binary form (a tag byte per value), so writing them
//! needs no second JSON parse and no second validation. The spool lives in `store`
//! beside the [`RowBuilder`](super::RowBuilder) because what it gives back are
//! [`Row`]s, which only `store` makes.

use std::io::{BufReader, Cursor, Read, Seek, Write};

use chrono::{DateTime, Utc};

use super::Value;
use super::row::{Built, Row};

/// Spooled bytes kept in memory before the spool moves to a file.
const MEMORY_BYTES: usize = 8 * 1024 * 1024;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const DOUBLE: u8 = 4;
const TEXT: u8 = 5;
const INSTANT: u8 = 6;
const NO_ROW: u8 = 0;
const ROW: u8 = 1;

#[derive(Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<std::fs::File>,
    rows: u64,
}

/// The kinds of value a built row holds; anything else is a bug in the builder.
fn encode_row(out: &mut Vec<u8>, row: &[Value]) -> std::io::Result<()> {
    out.extend_from_slice(&(row.len() as u32).to_le_bytes());
    for value in row {
        match value {
            Value::Null => out.push(NULL),
            Value::Bool(false) => out.push(FALSE),
            Value::Bool(true) => out.push(TRUE),
            Value::Int(i) => {
                out.push(INT);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Value::Double(d) => {
                out.push(DOUBLE);
                out.extend_from_slice(&d.to_le_bytes());
            }
            Value::Text(s) => {
                out.push(TEXT);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Instant(t) => {
                out.push(INSTANT);
                out.extend_from_slice(&t.timestamp().to_le_bytes());
                out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
            }
            other => {
                return Err(std::io::Error::other(format!(
                    "a converted record holds a value the spool does not keep: {other:?}"
                )));
            }
        }
    }
    Ok(())
}

impl Spool {
    /// Adds one built row and, if it has one, its derived Conversations row.
    pub fn push(&mut self, built: &Built) -> std::io::Result<()> {
        let row = built.row.values();
        let mut buf = Vec::with_capacity(64 + row.len() * 12);
        encode_row(&mut buf, row)?;
        match &built.conversation {
            Some(c) => {
                buf.push(ROW);
                encode_row(&mut buf, c.values())?;
            }
            None => buf.push(NO_ROW),
        }
        self.rows += 1;
        if let Some(file) = &mut self.file {
            return file.write_all(&buf);
        }
        self.memory.extend_from_slice(&buf);
        if self.memory.len() > MEMORY_BYTES {
            let mut file = tempfile::tempfile()?;
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The rows in the order they were pushed.
    pub fn reader(self) -> std::io::Result<SpoolReader> {
        let source: Box<dyn Read> = match self.file {
            Some(mut file) => {
                file.rewind()?;
                Box::new(file)
            }
            None => Box::new(Cursor::new(self.memory)),
        };
        Ok(SpoolReader {
            source: BufReader::with_capacity(256 * 1024, source),
            left: self.rows,
        })
    }
}

pub struct SpoolReader {
    source: BufReader<Box<dyn Read>>,
    left: u64,
}

impl SpoolReader {
    fn bytes<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.source.read_exact(&mut b)?;
        Ok(b)
    }

    fn row(&mut self) -> std::io::Result<Vec<Value>> {
        let n = u32::from_le_bytes(self.bytes()?) as usize;
        let mut row = Vec::with_capacity(n);
        for _ in 0..n {
            let [tag] = self.bytes()?;
            row.push(match tag {
                NULL => Value::Null,
                FALSE => Value::Bool(false),
                TRUE => Value::Bool(true),
                INT => Value::Int(i64::from_le_bytes(self.bytes()?)),
                DOUBLE => Value::Double(f64::from_le_bytes(self.bytes()?)),
                TEXT => {
                    let len = u32::from_le_bytes(self.bytes()?) as usize;
                    let mut text = vec![0u8; len];
                    self.source.read_exact(&mut text)?;
                    Value::Text(String::from_utf8(text).map_err(std::io::Error::other)?)
                }
                INSTANT => {
                    let seconds = i64::from_le_bytes(self.bytes()?);
                    let nanos = u32::from_le_bytes(self.bytes()?);
                    Value::Instant(DateTime::<Utc>::from_timestamp(seconds, nanos).ok_or_else(
                        || std::io::Error::other("a spooled timestamp is out of range"),
                    )?)
                }
                other => {
                    return Err(std::io::Error::other(format!(
                        "unknown spooled value tag {other}"
                    )));
                }
            });
        }
        Ok(row)
    }

    /// The next built row, as it was pushed; `None` after the last.
    pub fn next_built(&mut self) -> std::io::Result<Option<Built>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let row = Row(self.row()?);
        let [flag] = self.bytes()?;
        let conversation = match flag {
            ROW => Some(Row(self.row()?)),
            _ => None,
        };
        Ok(Some(Built { row, conversation }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_they_went_in_from_memory_and_from_a_file() {
        let instant = DateTime::<Utc>::from_timestamp(1_767_225_600, 123_000_000).unwrap();
        let row = vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(-42),
            Value::Double(1.5),
            Value::Text("Ünõ \u{0}".into()),
            Value::Instant(instant),
        ];
        for count in [3usize, MEMORY_BYTES / 40] {
            let mut spool = Spool::default();
            for i in 0..count {
                let built = Built {
                    row: Row(row.clone()),
                    conversation: (i % 2 == 0).then(|| Row(row[..2].to_vec())),
                };
                spool.push(&built).unwrap();
            }
            assert_eq!(spool.file.is_some(), count > 3);
            let mut reader = spool.reader().unwrap();
            let mut n = 0;
            while let Some(Built {
                row: r,
                conversation: c,
            }) = reader.next_built().unwrap()
            {
                assert_eq!(r.values(), row);
                assert_eq!(
                    c.as_ref().map(Row::values),
                    (n % 2 == 0).then_some(&row[..2])
                );
                n += 1;
            }
            assert_eq!(n, count);
        }
    }
}
