//! The engine as an actor (DESIGN §10): one thread owns the [`Engine`] and its store and
//! runs, one at a time and in order, the jobs sent to its bounded inbox. Everyone else
//! holds a cloneable [`EngineHandle`]:
//! - writes (an ingest, an import's steps, a notification) are jobs: [`EngineHandle::call`]
//!   from async code, [`EngineHandle::call_blocking`] from a blocking thread;
//! - reads never queue behind them: the published [`Views`] (status, figures, hierarchy),
//!   the [`Lookups`] and the logs as a sender reads them ([`EngineHandle::log`]) come from
//!   what the last commit published or from a read transaction of the store, which redb
//!   serves beside the one writer;
//! - what a commit appended is announced on the views' events, which the network forwards.
//!
//! A full inbox makes senders wait (async senders yield), so a burst of pages or imports
//! cannot grow memory without bound.

use std::sync::Arc;

use eduioc_protocol::{Directory, NodeId};
use tokio::sync::{mpsc, oneshot};

use crate::{Engine, Error, Lookups, Result, StorageHealth, StoredLog, Views};

/// Jobs that may wait in an engine's inbox: beyond this, senders wait.
pub const INBOX: usize = 64;

enum Job {
    Run(Box<dyn FnOnce(&mut Engine) + Send>),
    Close(oneshot::Sender<()>),
}

/// A cloneable handle to an engine running on its own thread ([`Engine::spawn`]).
#[derive(Clone)]
pub struct EngineHandle {
    inbox: mpsc::Sender<Job>,
    views: Views,
    lookups: Lookups,
    reader: eduioc_store::Reader,
    health: Arc<StorageHealth>,
    unit: Arc<str>,
    id: NodeId,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

fn stopped() -> Error {
    Error::Unavailable("the engine has stopped".into())
}

impl Engine {
    /// Moves the engine to a thread of its own and returns the handle to it. The thread
    /// ends, dropping the engine (and closing its store), when every handle is dropped or
    /// at [`EngineHandle::close`]. A job that panics stops the engine: later calls return
    /// [`Error::Unavailable`].
    pub fn spawn(mut self) -> Result<EngineHandle> {
        let (inbox, mut rx) = mpsc::channel::<Job>(INBOX);
        let handle = EngineHandle {
            inbox,
            views: self.views(),
            lookups: self.lookups(),
            reader: self.store.reader(),
            health: self.storage_health(),
            unit: Arc::from(self.unit()),
            id: self.id(),
        };
        std::thread::Builder::new()
            .name(format!("engine {}", self.unit()))
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    match job {
                        Job::Run(f) => f(&mut self),
                        Job::Close(done) => {
                            drop(self);
                            let _ = done.send(());
                            return;
                        }
                    }
                }
            })
            .map_err(|e| Error::Unavailable(format!("cannot start the engine's thread: {e}")))?;
        Ok(handle)
    }
}

impl EngineHandle {
    /// Runs `f` on the engine, after the jobs sent before it, and returns what it returns.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        let job = Job::Run(Box::new(move |e| {
            let _ = tx.send(f(e));
        }));
        self.inbox.send(job).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
    }

    /// [`EngineHandle::call`], blocking the calling thread until it is done. Never call it
    /// from a job (the engine's own thread would wait for itself).
    pub fn call_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> R + Send + 'static,
    ) -> Result<R> {
        futures::executor::block_on(self.call(f))
    }

    /// Runs `f` on the engine without waiting for it (a counter to bump): nothing is
    /// returned, and nothing is done if the engine has stopped.
    pub fn cast(&self, f: impl FnOnce(&mut Engine) + Send + 'static) {
        let job = Job::Run(Box::new(f));
        if let Err(mpsc::error::TrySendError::Full(job)) = self.inbox.try_send(job) {
            let inbox = self.inbox.clone();
            // A full inbox: the job waits on a thread of its own rather than the caller.
            let _ = std::thread::Builder::new()
                .name("engine cast".into())
                .spawn(move || futures::executor::block_on(inbox.send(job)));
        }
    }

    /// Stops the engine after the jobs already sent, and waits until it is dropped (its
    /// store closed, so the file can be opened again). Later calls fail.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inbox.send(Job::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The views the engine publishes.
    pub fn views(&self) -> Views {
        self.views.clone()
    }

    /// The look-ups, read from the store beside the engine.
    pub fn lookups(&self) -> Lookups {
        self.lookups.clone()
    }

    /// The store's health.
    pub fn storage_health(&self) -> Arc<StorageHealth> {
        self.health.clone()
    }

    /// The unit this node speaks for.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The hierarchy in force, as the last commit published it.
    pub fn directory(&self) -> Arc<Directory> {
        Arc::clone(&self.views.figures().dir)
    }

    /// The logs as of the last commit, read from the store (logged and `None` if the store
    /// cannot be read now).
    pub fn log(&self) -> Option<StoredLog> {
        match self.reader.view() {
            Ok(v) => Some(StoredLog::new(v)),
            Err(e) => {
                tracing::error!(error = %e, "reading the store failed");
                None
            }
        }
    }
}
