//! Length-prefixed frames on a libp2p stream: `u32` big-endian length, then the frame.
//!
//! The codec only enforces the size bound; decoding happens in the event loop, where a
//! malformed frame can be attributed to its peer, counted and answered.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use eduioc_engine::links::WireCounters;
use eduioc_protocol::wire::MAX_FRAME_BYTES;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// The sync protocol's name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/eduioc/sync/1");

/// The request-response codec of the sync protocol.
#[derive(Debug, Clone, Default)]
pub struct FrameCodec {
    pub(crate) counters: Arc<WireCounters>,
}

impl FrameCodec {
    /// A codec counting into `counters`.
    pub fn new(counters: Arc<WireCounters>) -> FrameCodec {
        FrameCodec { counters }
    }
}

/// An inbound request as the codec read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A frame within the size bound.
    Data(Vec<u8>),
    /// A frame announcing this many bytes, over the bound; its body is never read, so
    /// the event loop can attribute, count and refuse it.
    Oversized(usize),
}

const OVERSIZED: &str = "oversized frame";

/// Reads one frame; `Ok(Err(len))` when the announced length is over the bound (the body
/// is then left unread).
async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    counters: &WireCounters,
) -> io::Result<Result<Vec<u8>, usize>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Ok(Err(len));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    counters
        .received
        .fetch_add(4 + len as u64, Ordering::Relaxed);
    Ok(Ok(buf))
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    frame: &[u8],
    counters: &WireCounters,
) -> io::Result<()> {
    let len = u32::try_from(frame.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(frame).await?;
    io.flush().await?;
    counters
        .sent
        .fetch_add(4 + frame.len() as u64, Ordering::Relaxed);
    Ok(())
}

impl libp2p::request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Frame>
    where
        T: AsyncRead + Unpin + Send,
    {
        Ok(match read_frame(io, &self.counters).await? {
            Ok(f) => Frame::Data(f),
            Err(len) => Frame::Oversized(len),
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, &self.counters).await?.map_err(|len| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{OVERSIZED}: {len} bytes exceeds the limit of {MAX_FRAME_BYTES}"),
            )
        })
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Frame,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Frame::Data(bytes) => write_frame(io, &bytes, &self.counters).await,
            Frame::Oversized(n) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{OVERSIZED} of {n} bytes"),
            )),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, &self.counters).await
    }
}
