//! `bench sink`: a trivial MQTT server that accepts any CONNECT, acknowledges QoS 1/2 PUBLISH
//! and discards everything, to check how fast the generator itself can publish (it costs the
//! server side nearly nothing, so the publish rate reached is the generator's own limit).

use super::fleet::Ctx;
use super::report::rate;
use bytes::BytesMut;
use serde_json::{json, Value};
use starling_codec::{
    decode, encode, ConnAck, DecodeOptions, Packet, ProtocolVersion, PubResp, QoS, ReasonCode,
};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves on `-h`/`-p` for `--duration`; reports the PUBLISH packets received.
pub(crate) async fn run(ctx: Arc<Ctx>) -> anyhow::Result<Value> {
    let listener = TcpListener::bind(ctx.addr).await?;
    let accept = async {
        while let Ok((socket, _)) = listener.accept().await {
            ctx.stats.connected.fetch_add(1, Relaxed);
            let ctx = Arc::clone(&ctx);
            tokio::spawn(async move {
                if let Err(e) = serve(&ctx, socket).await {
                    ctx.error("sink", e);
                }
            });
        }
    };
    let _ = tokio::time::timeout(ctx.common.duration, accept).await;
    let received = ctx.stats.received.load(Relaxed);
    Ok(json!({
        "mode": "sink",
        "connections": ctx.stats.connected.load(Relaxed),
        "received": received,
        "receive_rate": rate(received, ctx.stats.receive_span()),
        "errors": ctx.stats.errors.load(Relaxed),
    }))
}

async fn serve(ctx: &Ctx, mut socket: TcpStream) -> anyhow::Result<()> {
    socket.set_nodelay(true)?;
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = BytesMut::new();
    let mut opts = DecodeOptions::new(None);
    loop {
        if socket.read_buf(&mut rbuf).await? == 0 {
            return Ok(());
        }
        let mut publishes = 0;
        while let Some(packet) = decode(&mut rbuf, &opts)? {
            let version = opts.version.unwrap_or(ProtocolVersion::V3_1_1);
            let reply = match packet {
                Packet::Connect(c) => {
                    opts.version = Some(c.protocol);
                    Some(Packet::ConnAck(ConnAck {
                        session_present: false,
                        reason_code: ReasonCode::Success,
                        properties: Default::default(),
                    }))
                }
                Packet::Publish(p) => {
                    publishes += 1;
                    match (p.qos, p.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(PubResp::new(id))),
                        (QoS::ExactlyOnce, Some(id)) => Some(Packet::PubRec(PubResp::new(id))),
                        _ => None,
                    }
                }
                Packet::PubRel(r) => Some(Packet::PubComp(PubResp::new(r.packet_id))),
                Packet::PingReq => Some(Packet::PingResp),
                Packet::Disconnect(_) => return Ok(()),
                _ => None,
            };
            if let Some(reply) = reply {
                encode(&reply, opts.version.unwrap_or(version), &mut wbuf)?;
            }
        }
        if publishes > 0 {
            ctx.stats.add_received(publishes);
        }
        if !wbuf.is_empty() {
            socket.write_all(&wbuf).await?;
            wbuf.clear();
        }
    }
}
