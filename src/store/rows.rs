//! Multi-row inserts for the hot writers, with their values bound straight into a few fixed
//! statement shapes.
//!
//! sea-orm's `insert_many` makes an ActiveModel of every row, checks it, and renders the SQL text
//! anew for every batch; and every batch length is a different statement, which SQLite prepares
//! afresh and keeps in its statement cache (a multi-row statement of 10,000 values is large).
//! Here a batch is cut into chunks of a power of two rows: a table has at most a dozen statement
//! texts, each rendered once per process and prepared once per connection (they stay in sqlx's
//! cache of 100 statements per connection). A batch of N rows takes up to log2(N) statements
//! instead of one.

use std::sync::Mutex;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// The most values bound in one statement: SQLite's limit (PostgreSQL's is 65,535).
pub const MAX_BINDS: usize = 32_766;

/// `INSERT INTO table (columns) VALUES (…), (…) tail` for rows of `N` values each.
pub struct RowInsert<const N: usize> {
    table: &'static str,
    columns: [&'static str; N],
    /// What follows the rows (an `ON CONFLICT` clause), the same text on both backends.
    tail: String,
    /// Rendered statements by backend and rows: at most one per power of two.
    texts: Mutex<Vec<(DbBackend, usize, String)>>,
}

impl<const N: usize> RowInsert<N> {
    pub fn new(table: &'static str, columns: [&'static str; N], tail: impl Into<String>) -> RowInsert<N> {
        RowInsert { table, columns, tail: tail.into(), texts: Mutex::new(Vec::new()) }
    }

    /// Inserts every row, in as few statements as the shapes allow: one per set bit of the row
    /// count, the largest first, below the most rows one statement can bind (above it, chunks of
    /// that many first).
    pub async fn run(&self, conn: &impl ConnectionTrait, rows: Vec<[Value; N]>) -> Result<(), DbErr> {
        let backend = conn.get_database_backend();
        let mut rows = rows.into_iter();
        let mut left = rows.len();
        while left > 0 {
            let take = chunk_rows(left, N);
            let values: Vec<Value> = rows.by_ref().take(take).flatten().collect();
            conn.execute(Statement::from_sql_and_values(backend, self.text(backend, take), values)).await?;
            left -= take;
        }
        Ok(())
    }

    /// The columns, in the order each row's values are bound.
    #[cfg(test)]
    pub fn columns(&self) -> &[&'static str] {
        &self.columns
    }

    fn text(&self, backend: DbBackend, rows: usize) -> String {
        // A poisoned lock only means another writer panicked while rendering: the texts kept
        // are whole (each is pushed complete).
        let mut texts = self.texts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, _, text)) = texts.iter().find(|(b, r, _)| *b == backend && *r == rows) {
            return text.clone();
        }
        let text = self.render(backend, rows);
        texts.push((backend, rows, text.clone()));
        text
    }

    fn render(&self, backend: DbBackend, rows: usize) -> String {
        use std::fmt::Write as _;
        let quoted: Vec<String> = self.columns.iter().map(|c| format!("\"{c}\"")).collect();
        let mut sql = format!("INSERT INTO \"{}\" ({}) VALUES ", self.table, quoted.join(", "));
        let mut bound = 0;
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for column in 0..N {
                if column > 0 {
                    sql.push_str(", ");
                }
                bound += 1;
                match backend {
                    DbBackend::Postgres => {
                        let _ = write!(sql, "${bound}");
                    }
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        if !self.tail.is_empty() {
            sql.push(' ');
            sql.push_str(&self.tail);
        }
        sql
    }
}

/// Rows in the next statement: the largest power of two not above what is left nor above what
/// one statement can bind.
fn chunk_rows(left: usize, width: usize) -> usize {
    let most = MAX_BINDS / width.max(1);
    power_of_two_at_most(left.min(most).max(1))
}

fn power_of_two_at_most(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_cut_into_few_shapes_within_the_bind_limit() {
        let cut = |mut left: usize, width: usize| {
            let mut chunks = Vec::new();
            while left > 0 {
                let take = chunk_rows(left, width);
                chunks.push(take);
                left -= take;
            }
            chunks
        };
        assert_eq!(cut(1, 20), vec![1]);
        assert_eq!(cut(300, 20), vec![256, 32, 8, 4]);
        assert_eq!(cut(1024, 20), vec![1024]);
        // 2,048 rows of 20 values would be 40,960 binds: two statements of 1,024.
        assert_eq!(cut(2048, 20), vec![1024, 1024]);
        assert_eq!(cut(2048, 11), vec![2048]);
        for width in [1, 3, 11, 20] {
            for rows in 1..3000 {
                let chunks = cut(rows, width);
                assert_eq!(chunks.iter().sum::<usize>(), rows);
                assert!(chunks.iter().all(|c| c.is_power_of_two() && c * width <= MAX_BINDS));
            }
        }
    }

    #[test]
    fn statements_number_their_placeholders_as_each_backend_expects() {
        let insert = RowInsert::new("t", ["a", "b"], "ON CONFLICT (\"a\") DO NOTHING");
        assert_eq!(
            insert.render(DbBackend::Sqlite, 2),
            "INSERT INTO \"t\" (\"a\", \"b\") VALUES (?, ?), (?, ?) ON CONFLICT (\"a\") DO NOTHING"
        );
        assert_eq!(
            insert.render(DbBackend::Postgres, 2),
            "INSERT INTO \"t\" (\"a\", \"b\") VALUES ($1, $2), ($3, $4) ON CONFLICT (\"a\") DO NOTHING"
        );
        // Rendered once: the second ask is the kept text.
        assert_eq!(insert.text(DbBackend::Sqlite, 4), insert.text(DbBackend::Sqlite, 4));
        assert_eq!(insert.texts.lock().map(|t| t.len()).unwrap_or(0), 1);
    }
}
