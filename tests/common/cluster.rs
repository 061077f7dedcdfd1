//! Cluster harness: N parley nodes on one fresh PostgreSQL database and one Redis, under a
//! cluster name of their own (so clusters of parallel tests never hear each other).
//!
//! Needs `PARLEY_TEST_DATABASE_URL` (a PostgreSQL admin URL) and `PARLEY_TEST_REDIS_URL`; without
//! them `Cluster::start` prints why and answers None, and the test returns.

use std::sync::Arc;

use super::{Server, Store};

pub struct Cluster {
    pub nodes: Vec<Server>,
    pub store: Arc<Store>,
    env: Vec<(String, String)>,
}

/// The Redis URL the tests may use, or None with the reason printed.
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var("PARLEY_TEST_REDIS_URL").ok().filter(|s| !s.is_empty()) {
        Some(url) => Some(url),
        None => {
            println!("{test}: skipped (set PARLEY_TEST_REDIS_URL, e.g. redis://127.0.0.1:6379, to run it)");
            None
        }
    }
}

impl Cluster {
    /// Starts `n` nodes, one after another (the first migrates the fresh database).
    pub fn start(test: &str, n: usize) -> Option<Cluster> {
        Cluster::start_with(test, n, &[])
    }

    pub fn start_with(test: &str, n: usize, env: &[(&str, &str)]) -> Option<Cluster> {
        let redis = redis_url(test)?;
        Cluster::start_on_redis(test, n, &redis, env)
    }

    /// Starts `n` nodes sharing this `parley.toml` (the nodes share a data dir).
    pub fn start_with_toml(test: &str, n: usize, toml: &str) -> Option<Cluster> {
        let redis = redis_url(test)?;
        Cluster::start_full(test, n, &redis, &[], Some(toml))
    }

    /// Starts `n` nodes on the given Redis (a test's own server, for Redis faults).
    pub fn start_on_redis(test: &str, n: usize, redis: &str, env: &[(&str, &str)]) -> Option<Cluster> {
        Cluster::start_full(test, n, redis, env, None)
    }

    /// Starts `n` nodes on a store the test made (its `env` may route the database elsewhere).
    pub fn start_on_store(test: &str, n: usize, store: Arc<Store>, env: &[(&str, &str)]) -> Option<Cluster> {
        let redis = redis_url(test)?;
        Cluster::start_inner(n, &redis, env, None, store)
    }

    fn start_full(test: &str, n: usize, redis: &str, env: &[(&str, &str)], toml: Option<&str>) -> Option<Cluster> {
        if std::env::var("PARLEY_TEST_DATABASE_URL").ok().filter(|s| !s.is_empty()).is_none() {
            println!("{test}: skipped (a cluster needs PostgreSQL: set PARLEY_TEST_DATABASE_URL)");
            return None;
        }
        Cluster::start_inner(n, redis, env, toml, Arc::new(Store::fresh()))
    }

    fn start_inner(
        n: usize,
        redis: &str,
        env: &[(&str, &str)],
        toml: Option<&str>,
        store: Arc<Store>,
    ) -> Option<Cluster> {
        if let Some(toml) = toml {
            std::fs::write(store.data_dir.join("parley.toml"), toml).unwrap();
        }
        let name = format!("test{}x{}", std::process::id(), rand::random::<u32>());
        let mut all: Vec<(String, String)> = vec![
            ("PARLEY_REDIS_URL".into(), redis.to_string()),
            ("PARLEY_CLUSTER_NAME".into(), name),
            // Dead nodes are noticed within two seconds in the tests.
            ("PARLEY_CLUSTER_LEASE_SECS".into(), "2".into()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut cluster = Cluster { nodes: Vec::new(), store, env: all };
        for _ in 0..n {
            cluster.add_node();
        }
        Some(cluster)
    }

    /// Starts one more node; its index.
    pub fn add_node(&mut self) -> usize {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.nodes.push(Server::start_on(self.store.clone(), &env));
        self.nodes.len() - 1
    }

    /// Starts one more node on the same database but with a data dir of its own (as nodes on
    /// different machines have); its index.
    pub fn add_node_with_own_dir(&mut self) -> usize {
        let url = self.store.database_url.clone().expect("a cluster runs on PostgreSQL");
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.nodes.push(Server::start_on(Arc::new(Store::postgres_at(url)), &env));
        self.nodes.len() - 1
    }

    /// SIGKILLs node `i` and starts a new process in its place (same store, new port).
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].kill9();
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.nodes[i] = Server::start_on(self.store.clone(), &env);
    }

    pub fn node(&self, i: usize) -> &Server {
        &self.nodes[i]
    }

    /// Every stored seq of the C2C conversation of `x` and `y`, in order, read from the database.
    pub async fn stored_seqs(&self, x: &str, y: &str) -> Vec<i64> {
        let (low, high) = if x < y { (x, y) } else { (y, x) };
        let sql = "SELECT seq FROM c2c_message WHERE user_low = $1 AND user_high = $2 ORDER BY seq";
        self.seqs(sql, vec![low.into(), high.into()]).await
    }

    /// Every stored seq of a group, in order, read from the database.
    pub async fn stored_group_seqs(&self, group: &str) -> Vec<i64> {
        self.seqs("SELECT seq FROM group_message WHERE group_id = $1 ORDER BY seq", vec![group.into()]).await
    }

    async fn seqs(&self, sql: &str, values: Vec<sea_orm::Value>) -> Vec<i64> {
        use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
        let db = Database::connect(self.store.database_url.clone().unwrap()).await.unwrap();
        let rows = db.query_all(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await.unwrap();
        rows.iter().map(|r| r.try_get::<i64>("", "seq").unwrap()).collect()
    }
}
