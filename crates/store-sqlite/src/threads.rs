//! The threads that own connections: one writer that group-commits every write request, and
//! a few readers. Async callers talk to them over channels and wait on a oneshot reply, so no
//! SQLite call ever runs on an executor thread and the store works under any executor.
//!
//! Group commit: the writer blocks for one request, drains whatever else is queued (up to
//! [`MAX_BATCH`]), runs each request inside its own savepoint of one transaction (a failing
//! request is rolled back to its savepoint and does not disturb the others), commits once, and
//! only then replies to each request. A batch of one request runs without a savepoint.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aion_store::Error;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::{Durability, schema};

/// Why every request of a transaction SQLite rolled back by itself failed.
const ROLLED_BACK: &str = "the database rolled the transaction back (disk full or I/O error)";

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
        let (kick, kicked) = mpsc::sync_channel::<()>(1);
        let writer_path = path.clone();
        std::thread::Builder::new()
            .name("aion-store-writer".to_owned())
            .spawn(
                move || match schema::open_writer(&writer_path, durability) {
                    Ok(mut conn) => {
                        let _ = ready_tx.send(Ok(()));
                        run_writer(&mut conn, &rx, &kick);
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                },
            )
            .map_err(Error::backend)?;
        ready_rx.await.map_err(|_| Error::Closed)??;
        let conn = schema::open_checkpointer(&path)?;
        std::thread::Builder::new()
            .name("aion-store-checkpointer".to_owned())
            .spawn(move || run_checkpointer(&conn, &kicked))
            .map_err(Error::backend)?;
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

fn run_writer(conn: &mut Connection, rx: &Receiver<WriteJob>, kick: &SyncSender<()>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(conn, batch);
        // Full: a checkpoint is already due, which will include this commit.
        let _ = kick.try_send(());
    }
}

/// The least time between two checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies committed WAL frames into the database file, off the writer's path: SQLite's
/// automatic checkpoint, run by the committing writer once the WAL holds 1,000 pages, stalls
/// that commit (it stays on only under `full` durability, see `schema::open_writer`). A passive checkpoint never blocks the writer or readers; once it has copied
/// everything, the next commit starts the WAL again from its beginning. Runs after commits, at
/// most every [`CHECKPOINT_EVERY`], and once more, truncating the WAL, when the writer stops.
fn run_checkpointer(conn: &Connection, kicked: &Receiver<()>) {
    // Whether a commit happened since the last checkpoint.
    let mut due = false;
    loop {
        if !due && kicked.recv().is_err() {
            break;
        }
        let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
        due = false;
        let next = Instant::now() + CHECKPOINT_EVERY;
        // Let commits accumulate until the next checkpoint is allowed.
        loop {
            match kicked.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(()) => due = true,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
                    return;
                }
            }
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

fn run_batch(conn: &Connection, mut batch: Vec<WriteJob>) {
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        let message = err.to_string();
        for job in batch {
            let (_, finish) = job(Err(&message));
            finish(Some(&message));
        }
        return;
    }
    if batch.len() == 1
        && let Some(job) = batch.pop()
    {
        run_alone(conn, job);
        return;
    }
    let mut finishes = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        let (ok, finish) = match conn.execute_batch("SAVEPOINT request") {
            Ok(()) => job(Ok(conn)),
            Err(err) => {
                let (_, finish) = job(Err(&err.to_string()));
                finishes.push((finish, Some(err.to_string())));
                continue;
            }
        };
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back by itself (disk full, I/O error, out of
            // memory): every request of the batch is lost, and the rest must not run outside
            // a transaction, where each statement would commit on its own.
            finishes.push((finish, None));
            let message = ROLLED_BACK;
            for job in jobs {
                let (_, finish) = job(Err(message));
                finishes.push((finish, None));
            }
            for (finish, _) in finishes {
                finish(Some(message));
            }
            return;
        }
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

/// A batch of one request needs no savepoint (whose statement journal costs a sixth of the
/// writer's time): the transaction is the request's own, committed or rolled back whole.
fn run_alone(conn: &Connection, job: WriteJob) {
    let (ok, finish) = job(Ok(conn));
    if conn.is_autocommit() {
        finish(Some(ROLLED_BACK));
        return;
    }
    let end = if ok { "COMMIT" } else { "ROLLBACK" };
    match conn.execute_batch(end) {
        Ok(()) => finish(None),
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            finish(Some(&err.to_string()));
        }
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

    async fn workspace_ids(writer: &Writer) -> Vec<String> {
        writer
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
            .unwrap()
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
        let ids = workspace_ids(&writer).await;
        assert_eq!(ids, ["a", "b", "default"]);
    }

    #[tokio::test]
    async fn a_failing_request_alone_leaves_nothing_behind() {
        let (_dir, writer) = writer().await;
        let bad = writer
            .call(|conn| {
                insert(conn, "half-written")?;
                Err::<(), _>(Error::InvalidArgument("refused after writing".to_owned()))
            })
            .await;
        assert_eq!(
            bad.unwrap_err().kind(),
            aion_store::ErrorKind::InvalidArgument
        );
        writer.call(|conn| insert(conn, "after")).await.unwrap();
        let ids = workspace_ids(&writer).await;
        assert_eq!(ids, ["after", "default"]);
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
