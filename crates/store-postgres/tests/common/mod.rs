//! Test support shared by this crate's integration tests: a [`Postgres`] conformance backend
//! that gives every store a brand-new schema (`aion_test_<unix seconds>_<random>`) in the
//! test database and drops those schemas when it is dropped, sweeping schemas that earlier
//! (crashed) runs left behind for more than an hour.

use std::sync::{Arc, Mutex, Once};

use aion_store::conformance::{Backend, Foreign, StoreWithAccounts};
use aion_store::{Accounts, BoxFuture, Error, Store};
use aion_store_postgres::{PgOptions, PgStore};
use sqlx::{Connection, PgConnection};

/// The test database: `AION_TEST_DATABASE_URL`, or the machine's local PostgreSQL.
#[expect(
    clippy::disallowed_methods,
    reason = "tests read their database URL from the environment"
)]
pub fn database_url() -> String {
    std::env::var("AION_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

static SWEEP: Once = Once::new();

/// Opens stores in fresh schemas that live as long as the backend.
pub struct Postgres {
    url: String,
    schemas: Mutex<Vec<String>>,
}

impl Default for Postgres {
    fn default() -> Self {
        Self {
            url: database_url(),
            schemas: Mutex::new(Vec::new()),
        }
    }
}

impl Postgres {
    /// A direct connection for setting up test data.
    pub async fn admin(&self) -> Result<PgConnection, Error> {
        PgConnection::connect(&self.url)
            .await
            .map_err(Error::backend)
    }

    /// Names (and remembers, for dropping) a schema no test used before; it is not created.
    pub async fn new_schema(&self) -> Result<String, Error> {
        let mut admin = self.admin().await?;
        let mut sweep = false;
        SWEEP.call_once(|| sweep = true);
        if sweep {
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^aion_test_[0-9]+_' \
                 AND split_part(nspname, '_', 3)::bigint < extract(epoch FROM now()) - 3600",
            )
            .fetch_all(&mut admin)
            .await
            .map_err(Error::backend)?;
            for schema in stale {
                drop_schema(&mut admin, &schema).await;
            }
        }
        let name: String = sqlx::query_scalar(
            "SELECT 'aion_test_' || extract(epoch FROM now())::bigint || '_' || \
             substr(md5(random()::text || clock_timestamp()::text), 1, 12)",
        )
        .fetch_one(&mut admin)
        .await
        .map_err(Error::backend)?;
        self.schemas
            .lock()
            .map_err(|_| Error::Closed)?
            .push(name.clone());
        Ok(name)
    }

    /// Connects a store to `schema`.
    pub async fn open(&self, schema: &str) -> Result<PgStore, Error> {
        PgStore::connect(
            &self.url,
            PgOptions {
                schema: schema.to_owned(),
                max_connections: 4,
                ..PgOptions::default()
            },
        )
        .await
    }

    /// A store in a fresh schema.
    pub async fn fresh_store(&self) -> Result<PgStore, Error> {
        let schema = self.new_schema().await?;
        self.open(&schema).await
    }
}

async fn drop_schema(admin: &mut PgConnection, schema: &str) {
    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    // Best effort: a schema left behind is swept by a later run.
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(admin).await;
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let schemas = match self.schemas.lock() {
            Ok(mut schemas) => std::mem::take(&mut *schemas),
            Err(_) => return,
        };
        if schemas.is_empty() {
            return;
        }
        let url = self.url.clone();
        // Drop runs inside the test's runtime, which must not be blocked on: a thread with its
        // own runtime does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&url).await {
                    for schema in schemas {
                        drop_schema(&mut admin, &schema).await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

impl Backend for Postgres {
    fn fresh(&self) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>> {
        Box::pin(async move { Ok(Arc::new(self.fresh_store().await?) as Arc<dyn Store>) })
    }

    fn fresh_accounts(&self) -> BoxFuture<'_, Result<StoreWithAccounts, Error>> {
        Box::pin(async move {
            let store = Arc::new(self.fresh_store().await?);
            Ok((
                Arc::clone(&store) as Arc<dyn Store>,
                store as Arc<dyn Accounts>,
            ))
        })
    }

    fn open_newer_schema(&self, found: u32) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>> {
        Box::pin(async move {
            let schema = self.new_schema().await?;
            self.open(&schema).await?.close().await;
            let mut admin = self.admin().await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO \"{schema}\".aion_schema (version) VALUES ($1)"
            )))
            .bind(i32::try_from(found).map_err(Error::backend)?)
            .execute(&mut admin)
            .await
            .map_err(Error::backend)?;
            Ok(Arc::new(self.open(&schema).await?) as Arc<dyn Store>)
        })
    }

    fn open_foreign(&self, foreign: Foreign) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>> {
        Box::pin(async move {
            let schema = self.new_schema().await?;
            let mut admin = self.admin().await?;
            let setup = match foreign {
                // Our marker table's name holding bytes that mean nothing.
                Foreign::Garbage => format!(
                    "CREATE SCHEMA \"{schema}\"; \
                     CREATE TABLE \"{schema}\".aion_schema (junk bytea); \
                     INSERT INTO \"{schema}\".aion_schema \
                     SELECT decode(md5(g::text), 'hex') FROM generate_series(1, 64) g;"
                ),
                Foreign::OtherDatabase => format!(
                    "CREATE SCHEMA \"{schema}\"; \
                     CREATE TABLE \"{schema}\".notes (id serial PRIMARY KEY, body text);"
                ),
            };
            sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
                .execute(&mut admin)
                .await
                .map_err(Error::backend)?;
            Ok(Arc::new(self.open(&schema).await?) as Arc<dyn Store>)
        })
    }
}
