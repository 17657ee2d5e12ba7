//! A minimal client that speaks the sync protocol's framing with any key and any bytes.
//!
//! Used by the integration tests to play a hostile peer (bad signatures, forks, garbage
//! frames) and usable as a diagnostic tool: it dials, sends each frame as a request in
//! turn, and returns each response frame or the transport error.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::{dial_opts::DialOpts, SwarmEvent};
use libp2p::{Multiaddr, PeerId};

use crate::{build_swarm, BehaviourEvent, Error, Frame, WireCounters};

/// Dials `peer` at `addr` with the key `secret` and sends `frames` one after another.
/// Each result is the response frame, or why there was none.
pub async fn exchange(
    secret: [u8; 32],
    peer: PeerId,
    addr: Multiaddr,
    frames: Vec<Vec<u8>>,
    timeout: Duration,
) -> Result<Vec<Result<Vec<u8>, String>>, Error> {
    let mut swarm = build_swarm(
        secret,
        Arc::new(WireCounters::default()),
        &crate::Config::default(),
    )?;
    swarm
        .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build())
        .map_err(|e| Error::Transport(e.to_string()))?;
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut connected = false;
    while !connected {
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(SwarmEvent::ConnectionEstablished { .. }) => connected = true,
            Ok(SwarmEvent::OutgoingConnectionError { error, .. }) => {
                return Err(Error::Transport(error.to_string()))
            }
            Ok(_) => {}
            Err(_) => return Err(Error::Transport("timed out connecting".into())),
        }
    }
    for frame in frames {
        let id = swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, Frame::Data(frame));
        let result = loop {
            match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(SwarmEvent::Behaviour(BehaviourEvent::Sync(ev))) => match ev {
                    request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    } if request_id == id => break Ok(response),
                    request_response::Event::Message {
                        message: request_response::Message::Request { channel, .. },
                        ..
                    } => {
                        // Answer the peer's own requests (its Heights) with a refusal-free Ok.
                        let ok =
                            eduioc_protocol::wire::encode(&eduioc_protocol::wire::Response::Ok);
                        let _ = swarm.behaviour_mut().sync.send_response(channel, ok);
                    }
                    request_response::Event::OutboundFailure {
                        request_id, error, ..
                    } if request_id == id => break Err(error.to_string()),
                    _ => {}
                },
                Ok(SwarmEvent::ConnectionClosed {
                    num_established: 0, ..
                }) => break Err("connection closed".to_string()),
                Ok(_) => {}
                Err(_) => break Err("timed out".to_string()),
            }
        };
        let closed = result.is_err();
        out.push(result);
        if closed && !swarm.is_connected(&peer) {
            break;
        }
    }
    Ok(out)
}
