//! Runs the store conformance suite against SQLite, each case in its own temporary data dir,
//! for both the `Store` and the `Accounts` traits.

use std::sync::{Arc, Mutex};

use aion_store::conformance::{Backend, Foreign, StoreWithAccounts};
use aion_store::{Accounts, BoxFuture, Error, Store};
use aion_store_sqlite::{FILE_NAME, Options, SqliteStore};
use tempfile::TempDir;

/// Opens stores in temporary dirs that live as long as the backend.
#[derive(Default)]
struct Sqlite {
    dirs: Mutex<Vec<TempDir>>,
}

impl Sqlite {
    fn new_dir(&self) -> Result<std::path::PathBuf, Error> {
        let dir = tempfile::tempdir().map_err(Error::backend)?;
        let path = dir.path().to_path_buf();
        self.dirs.lock().map_err(|_| Error::Closed)?.push(dir);
        Ok(path)
    }
}

impl Backend for Sqlite {
    fn fresh(&self) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>> {
        Box::pin(async move {
            let dir = self.new_dir()?;
            let store = SqliteStore::open(&dir, Options::default()).await?;
            Ok(Arc::new(store) as Arc<dyn Store>)
        })
    }

    fn fresh_accounts(&self) -> BoxFuture<'_, Result<StoreWithAccounts, Error>> {
        Box::pin(async move {
            let dir = self.new_dir()?;
            let store = Arc::new(SqliteStore::open(&dir, Options::default()).await?);
            Ok((
                Arc::clone(&store) as Arc<dyn Store>,
                store as Arc<dyn Accounts>,
            ))
        })
    }

    fn open_newer_schema(&self, found: u32) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>> {
        Box::pin(async move {
            let dir = self.new_dir()?;
            drop(SqliteStore::open(&dir, Options::default()).await?);
            let conn = rusqlite::Connection::open(dir.join(FILE_NAME)).map_err(Error::backend)?;
            conn.execute_batch(&format!("PRAGMA user_version = {found}"))
                .map_err(Error::backend)?;
            drop(conn);
            let store = SqliteStore::open(&dir, Options::default()).await?;
            Ok(Arc::new(store) as Arc<dyn Store>)
        })
    }

    fn open_foreign(&self, foreign: Foreign) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>> {
        Box::pin(async move {
            let dir = self.new_dir()?;
            let file = dir.join(FILE_NAME);
            match foreign {
                Foreign::Garbage => {
                    let bytes: Vec<u8> = (0..8192_u32).map(|i| (i * 31 % 251) as u8).collect();
                    std::fs::write(&file, bytes).map_err(Error::backend)?;
                }
                Foreign::OtherDatabase => {
                    let conn = rusqlite::Connection::open(&file).map_err(Error::backend)?;
                    conn.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);")
                        .map_err(Error::backend)?;
                }
            }
            let store = SqliteStore::open(&dir, Options::default()).await?;
            Ok(Arc::new(store) as Arc<dyn Store>)
        })
    }
}

aion_store::conformance_tests!(Sqlite::default());
