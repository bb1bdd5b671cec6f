//! Writing demo rows by property name.
//!
//! [`Table`] wraps a [`RowBatch`] over all properties of one entity set. Values are
//! given by property name and checked against the model as they are set: the name
//! must exist, the value must fit the property's type, an enumerated string must be
//! one of its `Validation.AllowedValues`, and a property left out must be nullable.
//! Any mismatch fails the run with [`StoreError::Invalid`], so a change to
//! `metadata/ccfeed.xml` that the generator does not follow is caught at once
//! instead of producing rows that do not fit the model.

use crate::edm::{EdmType, EntitySet, Model, Storage};
use crate::store::{Conn, RowBatch, StoreError, TenantScope, Value};

use super::calendar::{local_text, utc};

/// Rows buffered per table before they are written.
const FLUSH_ROWS: usize = 2_000;

pub(super) struct Table<'m> {
    set: &'m EntitySet,
    batch: RowBatch<'m>,
    values: Vec<Value>,
    filled: Vec<bool>,
    /// Property indices resolved for the names in the order the generator sets them;
    /// rows are built with the same sequence of names, so a name is normally found
    /// by one string comparison at `cursor` instead of a hash lookup.
    resolved: Vec<(&'static str, usize)>,
    cursor: usize,
    error: Option<String>,
    written: u64,
}

impl<'m> Table<'m> {
    pub fn new(
        model: &'m Model,
        set_name: &str,
        tenant: &TenantScope,
    ) -> Result<Table<'m>, StoreError> {
        let set = model.entity_set(set_name).ok_or_else(|| {
            StoreError::Invalid(format!("the model has no entity set {set_name}"))
        })?;
        let columns: Vec<usize> = (0..set.properties.len()).collect();
        Ok(Table {
            set,
            batch: RowBatch::new(set, tenant, columns),
            values: vec![Value::Null; set.properties.len()],
            filled: vec![false; set.properties.len()],
            resolved: Vec::new(),
            cursor: 0,
            error: None,
            written: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.set.name
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(format!("{}: {msg}", self.set.name));
        }
    }

    fn slot(&mut self, name: &'static str) -> Option<usize> {
        let k = self.cursor;
        self.cursor += 1;
        if let Some(&(n, i)) = self.resolved.get(k)
            && n == name
        {
            return Some(i);
        }
        let found = self.set.property_index(name);
        match found {
            Some(i) => {
                if k == self.resolved.len() {
                    self.resolved.push((name, i));
                }
                Some(i)
            }
            None => {
                self.fail(format!("the model has no property {name}"));
                None
            }
        }
    }

    fn put(&mut self, i: usize, value: Value) {
        if self.filled[i] {
            let name = self.set.properties[i].name.clone();
            self.fail(format!("{name} is set twice in one row"));
        }
        self.values[i] = value;
        self.filled[i] = true;
    }

    fn check_type(&mut self, i: usize, want: &[EdmType], what: &str) -> bool {
        let p = &self.set.properties[i];
        if want.contains(&p.ty) {
            true
        } else {
            let msg = format!("{} is {} but the generator gives it {what}", p.name, p.ty);
            self.fail(msg);
            false
        }
    }

    pub fn text(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.opt_text(name, Some(value))
    }

    /// A string, checked against the property's allowed values when it has any.
    pub fn opt_text<S: Into<String>>(&mut self, name: &'static str, value: Option<S>) -> &mut Self {
        let Some(i) = self.slot(name) else {
            return self;
        };
        if !self.check_type(i, &[EdmType::String], "text") {
            return self;
        }
        let bind = match value {
            Some(v) => {
                let v: String = v.into();
                let set = self.set;
                let allowed = &set.properties[i].allowed_values;
                if !allowed.is_empty() && !allowed.contains(&v) {
                    self.fail(format!("{v:?} is not an allowed value of {name}"));
                }
                Value::Text(v)
            }
            None => Value::Null,
        };
        self.put(i, bind);
        self
    }

    pub fn int(&mut self, name: &'static str, value: i64) -> &mut Self {
        self.opt_int(name, Some(value))
    }

    pub fn opt_int(&mut self, name: &'static str, value: Option<i64>) -> &mut Self {
        let Some(i) = self.slot(name) else {
            return self;
        };
        if !self.check_type(i, &[EdmType::Int32, EdmType::Int64], "an integer") {
            return self;
        }
        if let Some(v) = value
            && self.set.properties[i].ty == EdmType::Int32
            && i32::try_from(v).is_err()
        {
            self.fail(format!("{v} does not fit {name} (Edm.Int32)"));
        }
        self.put(i, value.map_or(Value::Null, Value::Int));
        self
    }

    pub fn flag(&mut self, name: &'static str, value: bool) -> &mut Self {
        self.opt_flag(name, Some(value))
    }

    pub fn opt_flag(&mut self, name: &'static str, value: Option<bool>) -> &mut Self {
        let Some(i) = self.slot(name) else {
            return self;
        };
        if self.check_type(i, &[EdmType::Boolean], "a boolean") {
            self.put(i, value.map_or(Value::Null, Value::Bool));
        }
        self
    }

    pub fn opt_double(&mut self, name: &'static str, value: Option<f64>) -> &mut Self {
        let Some(i) = self.slot(name) else {
            return self;
        };
        if self.check_type(i, &[EdmType::Double], "a double") {
            self.put(i, value.map_or(Value::Null, Value::Double));
        }
        self
    }

    /// A UTC-only timestamp (`deletedAt`; every `…Utc` property has a local twin, set
    /// with [`Table::time`]).
    pub fn opt_utc(&mut self, name: &'static str, ms: Option<i64>) -> &mut Self {
        let Some(i) = self.slot(name) else {
            return self;
        };
        if !self.check_type(i, &[EdmType::DateTimeOffset], "a timestamp") {
            return self;
        }
        if self.set.properties[i].storage == Storage::LocalText {
            self.fail(format!(
                "{name} is a tenant-local timestamp; set it with time()"
            ));
            return self;
        }
        self.put(i, ms.map_or(Value::Null, |ms| Value::Instant(utc(ms))));
        self
    }

    /// A tenant-local timestamp `name` and its UTC twin, from one instant, so the two
    /// can never disagree.
    pub fn time(&mut self, name: &'static str, ms: i64) -> &mut Self {
        self.opt_time(name, Some(ms))
    }

    pub fn opt_time(&mut self, name: &'static str, ms: Option<i64>) -> &mut Self {
        let Some(i) = self.slot(name) else {
            return self;
        };
        let p = &self.set.properties[i];
        let twin = match (p.storage, p.utc_twin) {
            (Storage::LocalText, Some(twin)) => twin,
            _ => {
                self.fail(format!(
                    "{name} is not a tenant-local timestamp with a UTC twin"
                ));
                return self;
            }
        };
        match ms {
            Some(ms) => {
                self.put(i, Value::Text(local_text(ms)));
                self.put(twin, Value::Instant(utc(ms)));
            }
            None => {
                self.put(i, Value::Null);
                self.put(twin, Value::Null);
            }
        }
        self
    }

    /// Completes the row: unset properties become null (they must be nullable), and
    /// the row is queued, flushing every [`FLUSH_ROWS`] rows.
    pub fn end_row(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        for (i, filled) in self.filled.iter().enumerate() {
            if !filled && !self.set.properties[i].nullable && self.error.is_none() {
                self.error = Some(format!(
                    "{}: {} is not nullable but the generator left it out",
                    self.set.name, self.set.properties[i].name
                ));
            }
        }
        if let Some(e) = self.error.take() {
            return Err(StoreError::Invalid(format!(
                "demo data does not fit the model: {e}"
            )));
        }
        let row = std::mem::replace(
            &mut self.values,
            vec![Value::Null; self.set.properties.len()],
        );
        self.filled.fill(false);
        self.cursor = 0;
        self.batch.push(row)?;
        self.written += 1;
        if self.batch.len() >= FLUSH_ROWS {
            self.batch.flush(conn)?;
        }
        Ok(())
    }

    pub fn flush(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        if !self.batch.is_empty() {
            self.batch.flush(conn)?;
        }
        Ok(())
    }
}
