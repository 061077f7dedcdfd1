//! Multi-row inserts for the hot writers, with their values bound straight into a few fixed
//! statement shapes.
//!
//! sea-orm's `insert_many` makes an ActiveModel of every row, checks it, and renders the SQL text
//! anew for every batch; and every batch length is a different statement, which SQLite prepares
//! afresh and keeps in its statement cache (a multi-row statement of 10,000 values is large).
//! Here a statement takes a power of two rows: a batch is padded up to the next one with rows of
//! NULLs, which the statement's `WHERE` drops before they reach the table. So a table has at
//! most a dozen statement texts, each rendered once per process and prepared once per connection
//! (they stay in sqlx's cache of 100 statements per connection; the C2C writer's one-call
//! transaction prepares the messages' shapes once more, inside its joined text), and a batch is
//! one statement (more only above what one statement can bind). Each statement is a round trip to SQLite's
//! driver thread or to PostgreSQL, which cost ~0.2 ms when the cores are busy: cutting a batch
//! into power-of-two chunks instead (67 rows: 64 + 2 + 1) made small batches slower than the
//! padding rows do.

use std::sync::Mutex;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// The most values bound in one statement: SQLite's limit (PostgreSQL's is 65,535).
pub const MAX_BINDS: usize = 32_766;

/// `INSERT INTO table (columns) SELECT * FROM (VALUES (…), (…)) AS v WHERE v.column1 IS NOT NULL
/// tail` for rows of `N` values each.
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

    /// Inserts every row: one statement, padded up to a power of two rows, unless there are
    /// more than one statement can bind (then full statements of the most it can, first). A row
    /// whose first value is NULL is refused (nothing is inserted): it would pass for padding.
    pub async fn run(&self, conn: &impl ConnectionTrait, rows: Vec<[Value; N]>) -> Result<(), DbErr> {
        for statement in self.statements(conn.get_database_backend(), rows)? {
            conn.execute(statement).await?;
        }
        Ok(())
    }

    /// The statements `run` executes, to run with others (`execute_together`).
    pub fn statements(&self, backend: DbBackend, rows: Vec<[Value; N]>) -> Result<Vec<Statement>, DbErr> {
        self.statements_of_at_least(backend, rows, 1)
    }

    /// As `statements`, the first padded to at least `at_least` rows (within what one statement
    /// binds): a statement joined with others keeps a size that follows theirs.
    pub fn statements_of_at_least(
        &self,
        backend: DbBackend,
        rows: Vec<[Value; N]>,
        at_least: usize,
    ) -> Result<Vec<Statement>, DbErr> {
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        if rows.iter().any(|row| row[0] == row[0].as_null()) {
            return Err(DbErr::Custom(format!("{}: a row to insert has no {}", self.table, self.columns[0])));
        }
        // Typed NULLs: PostgreSQL takes each parameter's type from its value.
        let padding: [Value; N] = std::array::from_fn(|i| first[i].as_null());
        let mut rows = rows.into_iter();
        let mut left = rows.len();
        let mut statements = Vec::new();
        while left > 0 {
            let shape = statement_rows(if statements.is_empty() { left.max(at_least) } else { left }, N);
            let take = shape.min(left);
            let mut values: Vec<Value> = Vec::with_capacity(shape * N);
            values.extend(rows.by_ref().take(take).flatten());
            for _ in take..shape {
                values.extend(padding.iter().cloned());
            }
            statements.push(Statement::from_sql_and_values(backend, self.text(backend, shape), values));
            left -= take;
        }
        Ok(statements)
    }

    /// Rows (real and padding) of the first statement for a batch of `rows`.
    pub fn first_statement_rows(&self, rows: usize) -> usize {
        statement_rows(rows, N)
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
        let mut sql = format!("INSERT INTO \"{}\" ({}) SELECT * FROM (VALUES ", self.table, quoted.join(", "));
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
        // The padding rows' first value is NULL; a real row's never is (`run` refuses it).
        sql.push_str(") AS v WHERE v.column1 IS NOT NULL");
        if !self.tail.is_empty() {
            sql.push(' ');
            sql.push_str(&self.tail);
        }
        sql
    }
}

/// Executes `statements` in order. On SQLite they go to its driver's thread as one call (sqlx
/// runs a text of several statements in turn, binding each its share of the values), a round
/// trip instead of one each; PostgreSQL prepares one statement at a time. The joined text is
/// what sqlx caches: each combination of shapes is one more cached statement, so join small
/// statements whose shapes go together, or pad the others to shapes that follow a large one's
/// (`statements_of_at_least`), never shapes that vary independently.
pub async fn execute_together(conn: &impl ConnectionTrait, statements: Vec<Statement>) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Sqlite || statements.len() < 2 {
        for statement in statements {
            conn.execute(statement).await?;
        }
        return Ok(());
    }
    let mut sql = String::new();
    let mut values = Vec::new();
    for statement in statements {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&statement.sql);
        values.extend(statement.values.map(|v| v.0).unwrap_or_default());
    }
    conn.execute(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)).await?;
    Ok(())
}

/// Rows of the next statement (real and padding): the next power of two of what is left, at
/// most the largest power of two one statement can bind.
fn statement_rows(left: usize, width: usize) -> usize {
    let most = MAX_BINDS / width.max(1);
    let cap = 1 << (usize::BITS - 1 - most.max(1).leading_zeros());
    left.max(1).next_power_of_two().min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (rows of each statement, of them real) for a batch of `rows`.
    fn statements(mut left: usize, width: usize) -> Vec<(usize, usize)> {
        let mut shapes = Vec::new();
        while left > 0 {
            let shape = statement_rows(left, width);
            shapes.push((shape, shape.min(left)));
            left -= shape.min(left);
        }
        shapes
    }

    #[test]
    fn a_batch_is_one_statement_padded_to_a_power_of_two_within_the_bind_limit() {
        assert_eq!(statements(1, 20), vec![(1, 1)]);
        assert_eq!(statements(67, 19), vec![(128, 67)]);
        assert_eq!(statements(300, 20), vec![(512, 300)]);
        assert_eq!(statements(1024, 20), vec![(1024, 1024)]);
        // 2,048 rows of 20 values would be 40,960 binds: two statements of 1,024.
        assert_eq!(statements(2048, 20), vec![(1024, 1024), (1024, 1024)]);
        assert_eq!(statements(2048, 11), vec![(2048, 2048)]);
        assert_eq!(statements(2049, 11), vec![(2048, 2048), (1, 1)]);
        for width in [1, 3, 11, 19, 20] {
            let cap = statement_rows(usize::MAX / 2, width);
            for rows in 1..5000 {
                let shapes = statements(rows, width);
                assert_eq!(shapes.iter().map(|(_, real)| real).sum::<usize>(), rows);
                assert_eq!(shapes.len(), rows.div_ceil(cap), "{rows} rows of {width}: {shapes:?}");
                for (shape, real) in shapes {
                    assert!(shape.is_power_of_two() && shape * width <= MAX_BINDS);
                    assert!(real * 2 > shape || shape == 1, "more padding than rows: {shape} for {real}");
                }
            }
        }
    }

    #[test]
    fn statements_number_their_placeholders_as_each_backend_expects() {
        let insert = RowInsert::new("t", ["a", "b"], "ON CONFLICT (\"a\") DO NOTHING");
        assert_eq!(
            insert.render(DbBackend::Sqlite, 2),
            "INSERT INTO \"t\" (\"a\", \"b\") SELECT * FROM (VALUES (?, ?), (?, ?)) AS v \
             WHERE v.column1 IS NOT NULL ON CONFLICT (\"a\") DO NOTHING"
        );
        assert_eq!(
            insert.render(DbBackend::Postgres, 2),
            "INSERT INTO \"t\" (\"a\", \"b\") SELECT * FROM (VALUES ($1, $2), ($3, $4)) AS v \
             WHERE v.column1 IS NOT NULL ON CONFLICT (\"a\") DO NOTHING"
        );
        // Rendered once: the second ask is the kept text.
        assert_eq!(insert.text(DbBackend::Sqlite, 4), insert.text(DbBackend::Sqlite, 4));
        assert_eq!(insert.texts.lock().map(|t| t.len()).unwrap_or(0), 1);
    }

    #[tokio::test]
    async fn padding_rows_never_reach_the_table_and_a_row_without_its_key_is_refused() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.expect("in-memory SQLite");
        db.execute_unprepared("CREATE TABLE t (a TEXT NOT NULL PRIMARY KEY, b INTEGER, c TEXT)").await.expect("table");
        let upsert = RowInsert::new("t", ["a", "b", "c"], "ON CONFLICT (a) DO UPDATE SET b = excluded.b");
        let row = |a: &str, b: i64| [Value::from(a), Value::from(b), Value::String(None)];
        let count = |db: sea_orm::DatabaseConnection| async move {
            let counted = db
                .query_one(Statement::from_string(DbBackend::Sqlite, "SELECT COUNT(*) AS n, SUM(b) AS s FROM t"))
                .await
                .expect("count")
                .expect("a row");
            (counted.try_get::<i64>("", "n").expect("n"), counted.try_get::<Option<i64>>("", "s").expect("s"))
        };
        // Three rows: one statement of four, its last row padding.
        upsert.run(&db, vec![row("x", 1), row("y", 2), row("z", 3)]).await.expect("insert");
        assert_eq!(count(db.clone()).await, (3, Some(6)));
        // Five more, three of them updates: one statement of eight.
        let rows = vec![row("x", 10), row("y", 20), row("z", 30), row("p", 40), row("q", 50)];
        upsert.run(&db, rows).await.expect("upsert");
        assert_eq!(count(db.clone()).await, (5, Some(150)));
        // A row whose key is NULL would pass for padding: the whole batch is refused.
        let refused =
            upsert.run(&db, vec![row("r", 60), [Value::String(None), Value::from(70i64), Value::String(None)]]);
        assert!(refused.await.is_err());
        assert_eq!(count(db.clone()).await, (5, Some(150)));
    }

    /// A statement joined with others is padded to a size that follows theirs: only the first
    /// statement grows, and every real row is still bound once.
    #[test]
    fn a_first_statement_pads_to_at_least_the_rows_asked() {
        let insert = RowInsert::new("t", ["a", "b", "c"], "");
        let shapes = |rows: usize, at_least: usize| -> Vec<usize> {
            let rows: Vec<[Value; 3]> = (0..rows as i64).map(|n| [n.into(), n.into(), n.into()]).collect();
            let statements = insert.statements_of_at_least(DbBackend::Sqlite, rows, at_least).expect("rows");
            statements.iter().map(|s| s.values.as_ref().map_or(0, |v| v.0.len()) / 3).collect()
        };
        assert_eq!(shapes(3, 1), vec![4]);
        assert_eq!(shapes(3, 16), vec![16]);
        assert_eq!(shapes(3, 13), vec![16]);
        assert_eq!(shapes(20, 16), vec![32]);
        // Within what one statement binds (8,192 rows of 3), the rest in statements of their own.
        assert_eq!(shapes(3, 100_000), vec![8192]);
        assert_eq!(shapes(8200, 9000), vec![8192, 8]);
        assert_eq!(insert.first_statement_rows(3), 4);
        assert!(shapes(0, 16).is_empty());
        // The real rows first, in order, then padding rows of NULLs.
        let rows: Vec<[Value; 3]> = (1..=3i64).map(|n| [n.into(), (n * 10).into(), (n * 100).into()]).collect();
        let padded = insert.statements_of_at_least(DbBackend::Sqlite, rows, 5).expect("rows");
        let values = padded[0].values.as_ref().expect("values").0.clone();
        let real: Vec<Value> = [1i64, 10, 100, 2, 20, 200, 3, 30, 300].into_iter().map(Value::from).collect();
        assert_eq!(values[..9], real[..]);
        assert!(values[9..].iter().all(|v| *v == Value::BigInt(None)));
        assert_eq!(values.len(), 8 * 3);
    }

    #[tokio::test]
    async fn statements_run_together_in_order_each_with_its_own_values() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.expect("in-memory SQLite");
        db.execute_unprepared("CREATE TABLE t (a TEXT NOT NULL PRIMARY KEY, b INTEGER)").await.expect("table");
        db.execute_unprepared("CREATE TABLE u (c INTEGER)").await.expect("table");
        let pairs = RowInsert::new("t", ["a", "b"], "ON CONFLICT (a) DO UPDATE SET b = excluded.b");
        let singles = RowInsert::new("u", ["c"], "");
        let backend = DbBackend::Sqlite;
        // Three statements of 2, 4 (three rows and a padding row) and 2 values: each must get its
        // own share, and the third must see the first's row (the upsert turns x's 1 into 5).
        let mut together = pairs.statements(backend, vec![[Value::from("x"), Value::from(1i64)]]).expect("rows");
        let three = vec![[Value::from(7i64)], [Value::from(8i64)], [Value::from(9i64)]];
        together.extend(singles.statements(backend, three).expect("rows"));
        together.extend(pairs.statements(backend, vec![[Value::from("x"), Value::from(5i64)]]).expect("rows"));
        assert_eq!(together.len(), 3);
        execute_together(&db, together).await.expect("together");
        let rows = db
            .query_all(Statement::from_string(
                backend,
                "SELECT a, b FROM t UNION ALL SELECT 'u', SUM(c) FROM u UNION ALL SELECT 'n', COUNT(*) FROM u",
            ))
            .await
            .expect("read");
        let read: Vec<(String, i64)> =
            rows.iter().map(|r| (r.try_get("", "a").expect("a"), r.try_get("", "b").expect("b"))).collect();
        assert_eq!(read, vec![("x".to_string(), 5), ("u".to_string(), 24), ("n".to_string(), 3)]);
        // One that fails fails the call: a row without its key.
        let mut failing = singles.statements(backend, vec![[Value::from(1i64)]]).expect("rows");
        failing.push(Statement::from_sql_and_values(
            backend,
            "INSERT INTO t (a, b) VALUES (?, ?)",
            [Value::String(None), Value::from(2i64)],
        ));
        assert!(execute_together(&db, failing).await.is_err());
    }
}
