//! The QUIC accept loop: each incoming connection is admitted (rate and limits as on TCP),
//! then its TLS handshake and first bidirectional stream are awaited within the listener's
//! `handshake_timeout`, and the stream is served as an MQTT connection.

use super::accept::admit;
use super::bind::Listener;
use super::control::{ListenerControl, Order};
use super::upgrade::{bounded, identity, timed_out};
use crate::admission::AcceptRate;
use crate::connection;
use crate::context::Context;
use starling_net::quic::QuicStream;
use starling_net::rustls::pki_types::CertificateDer;
use starling_net::tls::PeerNames;
use starling_net::NetCounters;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

/// Runs one QUIC listener until shutdown. A stop order takes the endpoint's server
/// configuration away (new connections are refused by QUIC itself) and a start puts it back;
/// connections that arrive while stopped (a certificate reload can put a configuration back)
/// are refused here too.
pub(super) async fn run(
    endpoint: quinn::Endpoint,
    listener: Arc<Listener>,
    index: usize,
    ctx: Arc<Context>,
    tasks: TaskTracker,
    control: Arc<ListenerControl>,
    mut orders: mpsc::Receiver<Order>,
) {
    let mut rate = listener
        .config
        .max_connection_rate
        .map(|r| AcceptRate::new(r, crate::clock::now()));
    loop {
        if let Some(rate) = &mut rate {
            while let Err(wait) = rate.take(crate::clock::now()) {
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return endpoint.close(0u32.into(), b""),
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
        let incoming = tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            order = orders.recv() => {
                obey(order, &endpoint, &listener, &control);
                continue;
            }
            incoming = endpoint.accept() => incoming,
        };
        let Some(incoming) = incoming else { break };
        if !control.running() {
            incoming.refuse();
            continue;
        }
        let peer = incoming.remote_address();
        let Some(slot) = admit(&ctx, &listener, index, peer) else {
            incoming.refuse();
            continue;
        };
        let listener = listener.clone();
        let ctx = ctx.clone();
        let connections = tasks.clone();
        tasks.spawn(async move {
            let deadline = Instant::now() + listener.config.handshake_timeout;
            let opened = bounded(&ctx, deadline, async {
                let connection = incoming.await?;
                let names = connection
                    .peer_identity()
                    .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
                    .and_then(|chain| chain.first().map(PeerNames::of));
                let (send, recv) = connection.accept_bi().await?;
                Ok::<_, quinn::ConnectionError>((QuicStream::new(send, recv), names))
            });
            match opened.await {
                Some(Ok((stream, names))) => {
                    let identity = names.as_ref().and_then(|n| identity(n, &listener));
                    // Its own task: this one's handshake state goes with it.
                    connections.spawn(connection::serve(stream, peer, ctx, slot, identity));
                }
                Some(Err(error)) => {
                    NetCounters::bump(&ctx.metrics.transport.quic_handshake_failed);
                    debug!(%peer, listener = %listener.label, %error, "QUIC connection failed");
                    ctx.admission.release(slot);
                }
                None => {
                    timed_out(&ctx, peer, &listener, "QUIC handshake");
                    ctx.admission.release(slot);
                }
            }
        });
    }
    // Connections still open get closed by their tasks (DISCONNECT 0x8B first, for 5.0).
}

/// Carries out a start or stop order on a QUIC endpoint.
fn obey(
    order: Option<Order>,
    endpoint: &quinn::Endpoint,
    listener: &Listener,
    control: &ListenerControl,
) {
    match order {
        None => {}
        Some(Order::Stop(done)) => {
            endpoint.set_server_config(None);
            control.set_running(false);
            info!(listener = %listener.label, "listener stopped; open connections stay");
            let _ = done.send(());
        }
        Some(Order::Start(done)) => {
            let Some(tls) = &listener.tls else {
                unreachable!("a QUIC listener always has TLS settings");
            };
            match starling_net::quic::server_config(tls) {
                Ok(config) => {
                    endpoint.set_server_config(Some(config));
                    control.set_running(true);
                    info!(listener = %listener.label, "listener started");
                    let _ = done.send(Ok(()));
                }
                Err(error) => {
                    let _ = done.send(Err(error.to_string()));
                }
            }
        }
    }
}
