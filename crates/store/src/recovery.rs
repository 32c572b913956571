//! Reading the store back at open: every keyspace in key order, damaged records and orphans
//! removed and counted.
//!
//! Sessions are read first; every other per-client record is then checked against them: one
//! whose session record is missing is an orphan (it can only be left by a crash between
//! writes that a batch should have made together, or by damage) and is deleted. A record whose
//! key or value does not decode is deleted and counted in [`Damage::damaged`]. The deletions
//! are committed (with an fsync) before `open` returns, so a damaged record is reported once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fjall::PersistMode;
use starling_codec::SubscriptionOptions;
use starling_core::Message;
use starling_topic::SubscriptionTarget;

use crate::damage::Damage;
use crate::engine::{Engine, Space};
use crate::error::RecordError;
use crate::key::{packet_id_of, seq_of, split_cid, split_delayed};
use crate::record::message::{decode_delivery, decode_message};
use crate::record::session::{decode_inflight, decode_session, decode_subscription, read_target};
use crate::record::SessionRecord;

/// Everything read back from the store at open.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Persistent sessions, in key order.
    pub sessions: Vec<RecoveredSession>,
    /// Retained messages, in topic order.
    pub retained: Vec<Message>,
    /// Delayed messages (fire-at, id, message), in fire-at order.
    pub delayed: Vec<(SystemTime, u64, Message)>,
    /// One more than the highest delayed-message id seen (0 when there are none).
    pub next_delayed_id: u64,
    /// Banned clients, expired ones included (the broker drops those).
    pub banned: Vec<crate::BanRecord>,
    /// The management API's records (key, value), in key order; the admin crate decodes them.
    pub admin: Vec<(Vec<u8>, Vec<u8>)>,
    /// Users of the `builtin` authenticator, in username order.
    pub auth_users: Vec<crate::UserRecord>,
    /// Rules of the `builtin` authorization source, in id order (their precedence).
    pub auth_acl: Vec<crate::AclRuleRecord>,
    /// What was set aside.
    pub damage: Damage,
    /// How long recovery took.
    pub elapsed: Duration,
}

/// One persistent session as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredSession {
    /// Its client id.
    pub client_id: Arc<str>,
    /// Its session record.
    pub record: SessionRecord,
    /// Its subscriptions: target, options, subscription identifier.
    pub subscriptions: Vec<(SubscriptionTarget, SubscriptionOptions, Option<u32>)>,
    /// How many deliveries its queue holds (read them with `Store::read_queue`).
    pub queued: u64,
    /// The encoded size of those deliveries.
    pub queued_bytes: u64,
    /// The sequence of its first queued delivery (equal to `next_seq` when the queue is empty).
    pub first_seq: u64,
    /// The sequence to give its next delivery: one more than the highest sequence in its queue
    /// or its inflight records (an inflight record may outlive its queue entry), or 1.
    pub next_seq: u64,
}

/// What to do with one record.
enum Verdict {
    Keep,
    Damaged(RecordError),
    Orphan,
}

impl From<Result<(), RecordError>> for Verdict {
    fn from(r: Result<(), RecordError>) -> Self {
        r.map_or_else(Self::Damaged, |()| Self::Keep)
    }
}

const KEY: RecordError = RecordError::Invalid("key");
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

struct Scan {
    sessions: BTreeMap<Vec<u8>, RecoveredSession>,
    out: Recovered,
    remove: Vec<(Space, Vec<u8>)>,
    records: u64,
    started: Instant,
    logged: Instant,
}

/// Reads every keyspace of `engine`, removes what is damaged or orphaned, and returns the rest
/// and the number of the last commit read back. `durable` is the store's watermark (every
/// commit up to it was on disk), when it has one: the engine must have read back that far.
pub(crate) fn recover(
    engine: &Engine,
    durable: Option<u64>,
) -> Result<(Recovered, u64), fjall::Error> {
    let now = Instant::now();
    let mark = engine.commit_mark()?;
    let lost_commits = lost_commits(mark, durable);
    let mut scan = Scan {
        sessions: BTreeMap::new(),
        out: Recovered::default(),
        remove: Vec::new(),
        records: 0,
        started: now,
        logged: now,
    };
    for space in Space::ALL {
        for guard in engine.ks(space).iter() {
            let (key, value) = guard.into_inner()?;
            let verdict = scan.record(space, &key, &value);
            scan.judge(space, verdict, &key);
        }
    }
    if !scan.remove.is_empty() {
        let mut batch = engine.db.batch().durability(Some(PersistMode::SyncAll));
        for (space, key) in std::mem::take(&mut scan.remove) {
            batch.remove(engine.ks(space), key);
        }
        batch.commit()?;
    }
    let mut out = scan.out;
    out.damage.lost_commits = lost_commits;
    out.sessions = scan.sessions.into_values().collect();
    out.elapsed = scan.started.elapsed();
    let queued: u64 = out.sessions.iter().map(|s| s.queued).sum();
    tracing::info!(
        sessions = out.sessions.len(),
        queued,
        retained = out.retained.len(),
        delayed = out.delayed.len(),
        damaged = out.damage.damaged.total(),
        orphans = out.damage.orphans.total(),
        lost_commits,
        elapsed_ms = u64::try_from(out.elapsed.as_millis()).unwrap_or(u64::MAX),
        "store recovered"
    );
    Ok((out, mark.unwrap_or(0)))
}

/// How many durable commits are missing: the last commit read back, `mark`, is below the
/// watermark `durable` (see the `watermark` module).
fn lost_commits(mark: Option<u64>, durable: Option<u64>) -> u64 {
    let (Some(mark), Some(durable)) = (mark, durable) else {
        if mark.is_none() {
            tracing::warn!("the store's commit mark does not decode; lost commits are not counted");
        }
        return 0;
    };
    let lost = durable.saturating_sub(mark);
    if lost > 0 {
        tracing::error!(
            lost_commits = lost,
            durable_up_to = durable,
            read_back_to = mark,
            "the store's journal ends before commits that were on disk (truncated or unreadable \
             past some point): their records are lost"
        );
    }
    lost
}

impl Scan {
    fn judge(&mut self, space: Space, verdict: Verdict, key: &[u8]) {
        self.records += 1;
        if self.records % 4096 == 0 && self.logged.elapsed() >= PROGRESS_EVERY {
            self.logged = Instant::now();
            tracing::info!(
                keyspace = space.name(),
                records = self.records,
                elapsed_s = self.started.elapsed().as_secs(),
                "recovering store"
            );
        }
        match verdict {
            Verdict::Keep => {}
            Verdict::Damaged(error) => {
                tracing::warn!(keyspace = space.name(), %error, "damaged store record removed");
                self.out.damage.damaged.add(space);
                self.remove.push((space, key.to_vec()));
            }
            Verdict::Orphan => {
                tracing::warn!(
                    keyspace = space.name(),
                    "store record without a session removed"
                );
                self.out.damage.orphans.add(space);
                self.remove.push((space, key.to_vec()));
            }
        }
    }

    fn record(&mut self, space: Space, key: &[u8], value: &[u8]) -> Verdict {
        match space {
            Space::Sessions => self.session(key, value).into(),
            Space::Retained => self.retained(key, value).into(),
            Space::Delayed => self.delayed(key, value).into(),
            Space::Banned => crate::record::ban::decode_ban(key, value)
                .map(|ban| self.out.banned.push(ban))
                .into(),
            Space::Admin => {
                self.out.admin.push((key.to_vec(), value.to_vec()));
                Verdict::Keep
            }
            Space::AuthUsers => crate::record::builtin::decode_user(key, value)
                .map(|user| self.out.auth_users.push(user))
                .into(),
            Space::AuthAcl => crate::record::builtin::decode_rule(key, value)
                .map(|rule| self.out.auth_acl.push(rule))
                .into(),
            _ => self.per_client(space, key, value),
        }
    }

    fn session(&mut self, key: &[u8], value: &[u8]) -> Result<(), RecordError> {
        let (prefix, id, rest) = split_cid(key).ok_or(KEY)?;
        if !rest.is_empty() {
            return Err(KEY);
        }
        let record = decode_session(value)?;
        self.sessions.insert(
            prefix.to_vec(),
            RecoveredSession {
                client_id: Arc::from(id),
                record,
                subscriptions: Vec::new(),
                queued: 0,
                queued_bytes: 0,
                first_seq: 1,
                next_seq: 1,
            },
        );
        Ok(())
    }

    fn per_client(&mut self, space: Space, key: &[u8], value: &[u8]) -> Verdict {
        let Some((prefix, _, rest)) = split_cid(key) else {
            return Verdict::Damaged(KEY);
        };
        let Some(session) = self.sessions.get_mut(prefix) else {
            return Verdict::Orphan;
        };
        let checked = match space {
            Space::Subscriptions => subscription(session, rest, value),
            Space::Queue => queued(session, rest, value),
            Space::Inflight => inflight(session, rest, value),
            _ => match (packet_id_of(rest), value.is_empty()) {
                (Some(_), true) => Ok(()),
                (None, _) => Err(KEY),
                (Some(_), false) => Err(RecordError::TrailingBytes(value.len())),
            },
        };
        checked.into()
    }

    fn retained(&mut self, key: &[u8], value: &[u8]) -> Result<(), RecordError> {
        let message = decode_message(value)?;
        if message.topic.as_str().as_bytes() != key {
            return Err(KEY);
        }
        self.out.retained.push(message);
        Ok(())
    }

    fn delayed(&mut self, key: &[u8], value: &[u8]) -> Result<(), RecordError> {
        let (at, id) = split_delayed(key).ok_or(KEY)?;
        let message = decode_message(value)?;
        self.out.next_delayed_id = self.out.next_delayed_id.max(id.saturating_add(1));
        self.out.delayed.push((at, id, message));
        Ok(())
    }
}

fn subscription(
    session: &mut RecoveredSession,
    tail: &[u8],
    value: &[u8],
) -> Result<(), RecordError> {
    let target = read_target(tail)?;
    let (options, id) = decode_subscription(value)?;
    session.subscriptions.push((target, options, id));
    Ok(())
}

fn queued(session: &mut RecoveredSession, tail: &[u8], value: &[u8]) -> Result<(), RecordError> {
    let seq = seq_of(tail).ok_or(KEY)?;
    decode_delivery(value, seq)?;
    if session.queued == 0 {
        session.first_seq = seq;
    }
    session.queued += 1;
    session.queued_bytes += u64::try_from(value.len()).unwrap_or(u64::MAX);
    session.next_seq = session.next_seq.max(seq.saturating_add(1));
    Ok(())
}

fn inflight(session: &mut RecoveredSession, tail: &[u8], value: &[u8]) -> Result<(), RecordError> {
    let seq = seq_of(tail).ok_or(KEY)?;
    decode_inflight(value)?;
    session.next_seq = session.next_seq.max(seq.saturating_add(1));
    if session.queued == 0 {
        session.first_seq = session.next_seq;
    }
    Ok(())
}
