//! Writing demo rows by property name.
//!
//! [`Table`] names properties for the store's [`RowBuilder`], which checks every value
//! against the model as the other writers' values are checked (the name must exist,
//! the value must fit the property's type, a property left out must be nullable) and
//! derives the tenant-local times and, for Calls, Chats and Emails, the Conversations
//! rows. The demo's builder also refuses an enumerated string that is not one of its
//! `Validation.AllowedValues` (ingested data may use others). Any
//! mismatch fails the run with [`StoreError::Invalid`], so a change to
//! `metadata/ccfeed.xml` that the generator does not follow is caught at once
//! instead of producing rows that do not fit the model.

use crate::edm::{EntitySet, Model, Storage};
use crate::store::tenants::Tenant;
use crate::store::{Conn, RowBuilder, RowWriter, StoreError, Value};

use super::calendar::utc;

/// Rows buffered per table before they are written.
const FLUSH_ROWS: usize = 2_000;

pub(super) struct Table<'m> {
    set: &'m EntitySet,
    builder: RowBuilder<'m>,
    rows: RowWriter<'m>,
    /// Property indices resolved for the names in the order the generator sets them;
    /// rows are built with the same sequence of names, so a name is normally found
    /// by one string comparison at `cursor` instead of a hash lookup.
    resolved: Vec<(&'static str, usize)>,
    cursor: usize,
    written: u64,
    /// Conversations rows derived from this table's rows.
    derived: u64,
}

impl<'m> Table<'m> {
    pub fn new(model: &'m Model, set_name: &str, tenant: &Tenant) -> Result<Table<'m>, StoreError> {
        let set = model.entity_set(set_name).ok_or_else(|| {
            StoreError::Invalid(format!("the model has no entity set {set_name}"))
        })?;
        let builder = RowBuilder::new(model, set, tenant)?.refusing_unlisted_values();
        Ok(Table {
            set,
            rows: RowWriter::new(&builder),
            builder,
            resolved: Vec::new(),
            cursor: 0,
            written: 0,
            derived: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.set.name
    }

    /// The entity set whose rows this table derives (Conversations), if any.
    pub fn derives(&self) -> Option<&str> {
        self.builder.conversation_set().map(|c| c.name.as_str())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Conversations rows derived from this table's rows.
    pub fn derived(&self) -> u64 {
        self.derived
    }

    fn slot(&mut self, name: &'static str) -> Option<usize> {
        let k = self.cursor;
        self.cursor += 1;
        if let Some(&(n, i)) = self.resolved.get(k)
            && n == name
        {
            return Some(i);
        }
        match self.set.property_id(name).map(|id| id.index()) {
            Some(i) => {
                if k == self.resolved.len() {
                    self.resolved.push((name, i));
                }
                Some(i)
            }
            None => {
                self.builder.unknown_property(name);
                None
            }
        }
    }

    fn put(&mut self, name: &'static str, value: Value) -> &mut Self {
        if let Some(i) = self.slot(name) {
            self.builder.set_value(i, value);
        }
        self
    }

    pub fn text(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.opt_text(name, Some(value))
    }

    pub fn opt_text<S: Into<String>>(&mut self, name: &'static str, value: Option<S>) -> &mut Self {
        self.put(name, value.map_or(Value::Null, |v| Value::Text(v.into())))
    }

    pub fn int(&mut self, name: &'static str, value: i64) -> &mut Self {
        self.opt_int(name, Some(value))
    }

    pub fn opt_int(&mut self, name: &'static str, value: Option<i64>) -> &mut Self {
        self.put(name, value.map_or(Value::Null, Value::Int))
    }

    pub fn flag(&mut self, name: &'static str, value: bool) -> &mut Self {
        self.opt_flag(name, Some(value))
    }

    pub fn opt_flag(&mut self, name: &'static str, value: Option<bool>) -> &mut Self {
        self.put(name, value.map_or(Value::Null, Value::Bool))
    }

    pub fn opt_double(&mut self, name: &'static str, value: Option<f64>) -> &mut Self {
        self.put(name, value.map_or(Value::Null, Value::Double))
    }

    /// A UTC-only timestamp (`deletedAt`; every `…Utc` property has a local twin, set
    /// with [`Table::time`]).
    pub fn opt_utc(&mut self, name: &'static str, ms: Option<i64>) -> &mut Self {
        self.put(name, ms.map_or(Value::Null, |ms| Value::Instant(utc(ms))))
    }

    /// A tenant-local timestamp `name`, given as its UTC twin; the builder derives the
    /// local value from it, so the two can never disagree.
    pub fn time(&mut self, name: &'static str, ms: i64) -> &mut Self {
        self.opt_time(name, Some(ms))
    }

    pub fn opt_time(&mut self, name: &'static str, ms: Option<i64>) -> &mut Self {
        let Some(i) = self.slot(name) else {
            return self;
        };
        let p = &self.set.properties[i];
        match (p.storage, p.utc_twin) {
            (Storage::LocalText, Some(twin)) => self.builder.set_value(
                twin.index(),
                ms.map_or(Value::Null, |ms| Value::Instant(utc(ms))),
            ),
            _ => self
                .builder
                .reject(i, "is not a tenant-local timestamp with a UTC twin", None),
        }
        self
    }

    /// Completes the row (unset properties become null; they must be nullable) and
    /// queues it with its Conversations row, flushing every [`FLUSH_ROWS`] rows.
    pub fn end_row(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        self.cursor = 0;
        let built = self.builder.finish().map_err(|errors| {
            let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
            StoreError::Invalid(format!(
                "demo data does not fit the model: {}: {}",
                self.set.name,
                problems.join("; ")
            ))
        })?;
        self.derived += u64::from(built.conversation.is_some());
        self.rows.push(built)?;
        self.written += 1;
        if self.rows.len() >= FLUSH_ROWS {
            self.rows.flush(conn)?;
        }
        Ok(())
    }

    pub fn flush(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        if !self.rows.is_empty() {
            self.rows.flush(conn)?;
        }
        Ok(())
    }
}
