//! The HTTP server loop: bounded connections, a time limit on every request head, and a
//! graceful stop.
//!
//! `axum::serve` keeps a connection open for as long as its client likes: a client that
//! sends half a request head and then nothing (slowloris) holds a socket and a task
//! forever, and enough of them exhaust the node. [`serve`] accepts at most
//! [`Limits::max_connections`] connections at once (further ones wait in the kernel's
//! listen backlog until one closes) and closes a connection whose request head does not
//! arrive complete within [`Limits::head_timeout`]. Hyper starts that clock whenever it
//! waits for a head, on a new connection and between the requests of a kept-alive one, so
//! the same limit is the keep-alive idle timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once. Beyond it the server stops accepting; new
    /// connections wait in the listen backlog until an open one closes.
    pub max_connections: usize,
    /// Time a client has to send a complete request head, counted from when the server
    /// starts waiting for it: on a new connection, and between the requests of a
    /// kept-alive connection (so it is also the idle timeout).
    pub head_timeout: Duration,
    /// On stop, how long requests in progress may take to finish before the server
    /// returns anyway.
    pub drain: Duration,
}

impl Default for Limits {
    /// 256 connections, 15 s for a request head (and idle keep-alive), 10 s to drain.
    fn default() -> Limits {
        Limits {
            max_connections: 256,
            head_timeout: Duration::from_secs(15),
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets every
/// connection finish its current request (at most [`Limits::drain`]) and returns.
///
/// Every request carries the client's address as [`ConnectInfo<SocketAddr>`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed while we hold it
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept:
                    // wait a little rather than spin.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            limits,
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection gives its permit back when it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max - permits.available_permits(),
            "http connections still open after the drain time"
        );
    }
}

/// Serves one connection; `_permit` is its slot under [`Limits::max_connections`].
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let stopping = async move {
        // Dropping the guard at once: it must not live across an await.
        let _ = stop.wait_for(|s| *s).await.map(drop);
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts and resets are the client's business; say so at debug level only.
        tracing::debug!(peer = %peer, error = %e, "http connection ended");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(
        limits: Limits,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            Router::new().route(
                "/",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    format!("ok {}", peer.ip())
                }),
            );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, limits, async move {
            let _ = rx.await;
        }));
        (addr, tx, task)
    }

    /// Opens a connection that sends half a request head and nothing more.
    async fn slowloris(addr: SocketAddr) -> TcpStream {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        s
    }

    /// Whether the server has closed `s` already (EOF or reset waiting to be read).
    fn closed_already(s: &TcpStream) -> bool {
        let mut buf = [0u8; 64];
        match s.try_read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }

    async fn request(s: &mut TcpStream) -> String {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_server_serves_the_next_client_once_a_slow_one_is_timed_out() {
        let limits = Limits {
            max_connections: 4,
            head_timeout: Duration::from_millis(800),
            drain: Duration::from_secs(5),
        };
        let (addr, stop, task) = start(limits).await;
        let started = std::time::Instant::now();
        let mut idle = Vec::new();
        for _ in 0..limits.max_connections {
            idle.push(slowloris(addr).await);
        }
        // The fifth connection waits in the backlog: it is answered only after the server
        // has closed a slow one to make room.
        let mut fifth = TcpStream::connect(addr).await.unwrap();
        // (The bound only keeps a broken server from hanging the test.)
        let answer = tokio::time::timeout(Duration::from_secs(60), request(&mut fifth))
            .await
            .expect("the fifth client was never answered");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok 127.0.0.1"), "{answer}");
        let closed = idle.iter().filter(|s| closed_already(s)).count();
        assert!(closed >= 1, "answered while every slot was still held");
        println!(
            "fifth client answered after {:?}, {closed} slow ones closed by then",
            started.elapsed()
        );
        // Every slow one is closed in the end, and a kept-alive idle one too.
        let bound = Duration::from_secs(60);
        for mut s in idle {
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(bound, s.read(&mut buf))
                .await
                .expect("a slow connection stayed open")
                .unwrap_or(0);
            assert_eq!(n, 0, "a slow connection got an answer");
        }
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(bound, fifth.read(&mut buf))
            .await
            .expect("the idle kept-alive connection stayed open")
            .unwrap_or(0);
        assert_eq!(n, 0, "the idle kept-alive connection got data");
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_closes_idle_connections_and_returns() {
        let limits = Limits {
            max_connections: 8,
            head_timeout: Duration::from_secs(600),
            drain: Duration::from_secs(600),
        };
        let (addr, stop, task) = start(limits).await;
        let mut kept = TcpStream::connect(addr).await.unwrap();
        assert!(request(&mut kept).await.starts_with("HTTP/1.1 200"));
        stop.send(()).unwrap();
        // Returns although a kept-alive connection is open and the drain time is long.
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("serve did not return after stop")
            .unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(kept.read(&mut buf).await.unwrap_or(0), 0);
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    }
}
