//! `topics`: the routes, one per distinct subscribed filter (`GET /api/v5/topics`).

use clap::Args;

use super::client::{Api, Query};
use super::error::CtlResult;
use super::page::{self, PageArgs};
use super::table::{text, Column, Output};

/// `topics` filters.
#[derive(Args, Debug)]
pub(crate) struct TopicArgs {
    /// This filter only.
    #[arg(long)]
    topic: Option<String>,
    /// Filters that match this topic name.
    #[arg(long)]
    match_topic: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

const COLUMNS: &[Column] = &[
    ("TOPIC", |v| text(&v["topic"])),
    ("SUBSCRIBERS", |v| text(&v["subscribers"])),
    ("NODE", |v| text(&v["node"])),
];

/// Lists the routes.
pub(crate) fn run(api: &Api, args: &TopicArgs, out: Output) -> CtlResult<()> {
    let query = Query::new()
        .opt("topic", args.topic.as_ref())
        .opt("match_topic", args.match_topic.as_ref());
    let answer = page::fetch(api, "/api/v5/topics", query, &args.page)?;
    out.list(&answer, COLUMNS)
}
