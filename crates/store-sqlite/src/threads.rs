//! The threads that own connections: one writer that group-commits every write request, and
//! a few readers. Async callers talk to them over channels and wait on a oneshot reply, so no
//! SQLite call ever runs on an executor thread and the store works under any executor.
//!
//! Group commit: the writer blocks for one request, drains whatever else is queued (up to
//! [`MAX_BATCH`]), runs each request inside its own savepoint of one transaction (a failing
//! request is rolled back to its savepoint and does not disturb the others), commits once, and
//! only then replies to each request.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use aion_store::Error;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::{Durability, schema};

/// The most requests one transaction takes.
pub const MAX_BATCH: usize = 1024;

/// Completes a request once the fate of its transaction is known (`None`: committed).
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write request: applied inside a savepoint (or handed the reason it cannot be); says
/// whether it succeeded.
type WriteJob = Box<dyn FnOnce(Result<&Connection, &str>) -> (bool, Finish) + Send>;
/// A read request.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Handle to the writer thread.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: Sender<WriteJob>,
}

impl Writer {
    /// Starts the writer thread, which opens (and migrates) the database before anything else.
    pub async fn start(path: PathBuf, durability: Durability) -> Result<Self, Error> {
        let (tx, rx) = mpsc::channel::<WriteJob>();
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("aion-store-writer".to_owned())
            .spawn(move || match schema::open_writer(&path, durability) {
                Ok(mut conn) => {
                    let _ = ready_tx.send(Ok(()));
                    run_writer(&mut conn, &rx);
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            })
            .map_err(Error::backend)?;
        ready_rx.await.map_err(|_| Error::Closed)??;
        Ok(Self { tx })
    }

    /// Runs `apply` on the writer connection inside the next group commit and returns its
    /// result once that transaction is durable.
    pub async fn call<T, F>(&self, apply: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        self.submit(apply).await
    }

    /// Queues `apply` at once (not on first poll) and returns the future of its result.
    pub fn submit<T, F>(
        &self,
        apply: F,
    ) -> impl Future<Output = Result<T, Error>> + Send + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let (reply, response) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => apply(conn),
                Err(message) => Err(Error::Backend(
                    format!("could not start a transaction: {message}").into(),
                )),
            };
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |commit_error| {
                let result = match (result, commit_error) {
                    (Ok(_), Some(message)) => {
                        Err(Error::Backend(format!("commit failed: {message}").into()))
                    }
                    (result, _) => result,
                };
                // The caller may have gone away; its result is durable regardless.
                let _ = reply.send(result);
            });
            (ok, finish)
        });
        let sent = self.tx.send(job).map_err(|_| Error::Closed);
        async move {
            sent?;
            response.await.map_err(|_| Error::Closed)?
        }
    }
}

fn run_writer(conn: &mut Connection, rx: &Receiver<WriteJob>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(conn, batch);
    }
}

fn run_batch(conn: &Connection, batch: Vec<WriteJob>) {
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        let message = err.to_string();
        for job in batch {
            let (_, finish) = job(Err(&message));
            finish(Some(&message));
        }
        return;
    }
    let mut finishes = Vec::with_capacity(batch.len());
    for job in batch {
        let (ok, finish) = match conn.execute_batch("SAVEPOINT request") {
            Ok(()) => job(Ok(conn)),
            Err(err) => {
                let (_, finish) = job(Err(&err.to_string()));
                finishes.push((finish, Some(err.to_string())));
                continue;
            }
        };
        let closed = if ok {
            conn.execute_batch("RELEASE request")
        } else {
            conn.execute_batch("ROLLBACK TO request; RELEASE request")
        };
        finishes.push((finish, closed.err().map(|err| err.to_string())));
    }
    let commit_error = match conn.execute_batch("COMMIT") {
        Ok(()) => None,
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Some(err.to_string())
        }
    };
    for (finish, savepoint_error) in finishes {
        finish(commit_error.as_deref().or(savepoint_error.as_deref()));
    }
}

/// Handle to the reader threads.
#[derive(Debug, Clone)]
pub struct Readers {
    tx: Sender<ReadJob>,
}

impl Readers {
    /// Starts `count` reader threads, each opening its own read-only connection on its own
    /// thread, and waits until all are ready.
    pub async fn start(path: PathBuf, count: usize) -> Result<Self, Error> {
        let (tx, rx) = mpsc::channel::<ReadJob>();
        let rx = Arc::new(Mutex::new(rx));
        let mut ready = Vec::new();
        for index in 0..count.max(1) {
            let (ready_tx, ready_rx) = oneshot::channel();
            ready.push(ready_rx);
            let rx = Arc::clone(&rx);
            let path = path.clone();
            std::thread::Builder::new()
                .name(format!("aion-store-reader-{index}"))
                .spawn(move || match schema::open_reader(&path) {
                    Ok(conn) => {
                        let _ = ready_tx.send(Ok(()));
                        run_reader(&conn, &rx);
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                })
                .map_err(Error::backend)?;
        }
        for ready_rx in ready {
            ready_rx.await.map_err(|_| Error::Closed)??;
        }
        Ok(Self { tx })
    }

    /// Runs `read` on a reader connection.
    pub async fn call<T, F>(&self, read: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let (reply, response) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = reply.send(read(conn));
        });
        self.tx.send(job).map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)?
    }
}

fn run_reader(conn: &Connection, rx: &Mutex<Receiver<ReadJob>>) {
    loop {
        // Holding the lock while waiting is fine: the other readers wait for the next job too.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(conn),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start(dir.path().join("aion.db"), Durability::Normal)
            .await
            .unwrap();
        (dir, writer)
    }

    fn insert(conn: &Connection, id: &str) -> Result<(), Error> {
        conn.execute(
            "INSERT INTO workspaces (id, created_ms) VALUES (?1, 0)",
            [id],
        )
        .map(drop)
        .map_err(Error::backend)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_request_is_rolled_back_alone_within_its_batch() {
        let (_dir, writer) = writer().await;
        // Hold the writer busy while three requests queue up, so they share one transaction.
        let (open_gate, gate) = mpsc::channel::<()>();
        let held = writer.submit(move |_| {
            let _ = gate.recv();
            Ok(())
        });
        let good_a = writer.submit(|conn| insert(conn, "a"));
        let bad = writer.submit(|conn| {
            insert(conn, "half-written")?;
            Err::<(), _>(Error::InvalidArgument("refused after writing".to_owned()))
        });
        let good_b = writer.submit(|conn| insert(conn, "b"));
        open_gate.send(()).unwrap();
        held.await.unwrap();
        let (a, bad, b) = tokio::join!(good_a, bad, good_b);
        a.unwrap();
        b.unwrap();
        assert_eq!(
            bad.unwrap_err().kind(),
            aion_store::ErrorKind::InvalidArgument
        );
        let ids: Vec<String> = writer
            .call(|conn| {
                let mut stmt = conn
                    .prepare("SELECT id FROM workspaces ORDER BY id")
                    .map_err(Error::backend)?;
                let rows = stmt
                    .query_map([], |row| row.get(0))
                    .map_err(Error::backend)?;
                rows.collect::<Result<Vec<String>, _>>()
                    .map_err(Error::backend)
            })
            .await
            .unwrap();
        assert_eq!(ids, ["a", "b", "default"]);
    }

    #[tokio::test]
    async fn requests_after_the_writer_stops_report_closed() {
        let (_dir, writer) = writer().await;
        let (tx, rx) = mpsc::channel::<WriteJob>();
        drop(rx);
        let closed = Writer { tx };
        let err = closed.call(|_| Ok(())).await.unwrap_err();
        assert_eq!(err.kind(), aion_store::ErrorKind::Closed);
        writer.call(|_| Ok(())).await.unwrap();
    }
}
