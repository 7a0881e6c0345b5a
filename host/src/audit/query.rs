//! Reading the audit trail: the filters `GET /api/audit` and `voicegate
//! audit` share, the report they return, and its text rendering.

use std::{collections::HashSet, fmt::Write as _};

use rusqlite::{types::Value as SqlValue, Connection};
use serde::Serialize;
use serde_json::Value;

/// Rows per list when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 1000;

/// A bad query parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad parameter `{param}`: {message}")]
pub struct ParamError {
    /// The parameter's name.
    pub param: String,
    /// What is wrong with it.
    pub message: String,
}

fn bad(param: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        param: param.to_owned(),
        message: message.into(),
    }
}

/// What to look for. Build it with [`AuditQuery::new`] or
/// [`AuditQuery::from_pairs`], which validate every parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The carrier's call id, exactly.
    pub call_id: Option<String>,
    /// The caller, exactly, or a prefix ending in `*`.
    pub from: Option<String>,
    /// Only what happened at or after this time (stored form).
    pub since: Option<String>,
    /// Most rows per list.
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            call_id: None,
            from: None,
            since: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// Client text echoed in an error: bounded, without control characters.
fn shown(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

impl AuditQuery {
    /// Validates the filters. Empty strings count as not given.
    pub fn new(
        call_id: Option<&str>,
        from: Option<&str>,
        since: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Self, ParamError> {
        fn given(v: Option<&str>) -> Option<&str> {
            v.filter(|s| !s.is_empty())
        }
        let call_id = match given(call_id) {
            None => None,
            Some(id) if id.chars().count() > 128 || id.chars().any(char::is_control) => {
                return Err(bad(
                    "call_id",
                    "must be a call id of at most 128 printable characters",
                ))
            }
            Some(id) => Some(id.to_owned()),
        };
        let from = match given(from) {
            None => None,
            Some(f) => {
                // An unencoded `+` in a query string arrives as a space.
                let f = match f.strip_prefix(' ') {
                    Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
                        format!("+{rest}")
                    }
                    _ => f.to_owned(),
                };
                let star = f.find('*');
                if f.chars().count() > 64
                    || f.chars().any(|c| c.is_control() || c == ' ')
                    || star.is_some_and(|i| i != f.len() - 1)
                {
                    return Err(bad(
                        "from",
                        format!(
                            "must be a caller such as +14155550100, or a prefix ending in `*` such as +1415* (got `{}`; encode `+` as %2B in URLs)",
                            shown(&f)
                        ),
                    ));
                }
                Some(f)
            }
        };
        let since = match given(since) {
            None => None,
            Some(s) => {
                let t = time::OffsetDateTime::parse(
                    s.trim(),
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|_| {
                    bad(
                        "since",
                        format!(
                            "must be an RFC 3339 time such as 2025-01-31T09:00:00Z (got `{}`)",
                            shown(s)
                        ),
                    )
                })?;
                Some(crate::events::format_rfc3339_ms(t))
            }
        };
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(n) => {
                return Err(bad(
                    "limit",
                    format!("must be from 1 to {MAX_LIMIT} (got {n})"),
                ))
            }
        };
        Ok(Self {
            call_id,
            from,
            since,
            limit,
        })
    }

    /// Validates decoded query-string pairs: only `call_id`, `from`,
    /// `since` and `limit`, each at most once.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, ParamError> {
        let mut seen = HashSet::new();
        let (mut call_id, mut from, mut since, mut limit) = (None, None, None, None);
        for (key, value) in pairs {
            if !seen.insert(key.as_str()) {
                return Err(bad(&shown(key), "given more than once"));
            }
            match key.as_str() {
                "call_id" => call_id = Some(value.as_str()),
                "from" => from = Some(value.as_str()),
                "since" => since = Some(value.as_str()),
                "limit" if value.is_empty() => {}
                "limit" => {
                    let n = value.trim().parse::<usize>().map_err(|_| {
                        bad(
                            "limit",
                            format!(
                                "must be a whole number from 1 to {MAX_LIMIT} (got `{}`)",
                                shown(value)
                            ),
                        )
                    })?;
                    limit = Some(n);
                }
                other => {
                    return Err(bad(
                        &shown(other),
                        "unknown parameter (known: call_id, from, since, limit)",
                    ))
                }
            }
        }
        Self::new(call_id, from, since, limit)
    }

    /// The filters as a query string, for the admin-action record.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.call_id {
            parts.push(format!("call_id={v}"));
        }
        if let Some(v) = &self.from {
            parts.push(format!("from={v}"));
        }
        if let Some(v) = &self.since {
            parts.push(format!("since={v}"));
        }
        parts.push(format!("limit={}", self.limit));
        parts.join("&")
    }

    /// Whether a filter names calls (then admin actions are those on the
    /// matching calls).
    fn names_calls(&self) -> bool {
        self.call_id.is_some() || self.from.is_some()
    }
}

/// The answer to a query.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AuditReport {
    /// Accepted calls, newest first, each with its verdicts, transcripts and
    /// answers.
    pub calls: Vec<CallRecord>,
    /// Verdicts of calls turned away (no session), newest first.
    pub denied: Vec<VerdictRecord>,
    /// Admin actions, newest first: those on the matching calls when
    /// `call_id` or `from` is given, otherwise all.
    pub admin_actions: Vec<AdminRecord>,
    /// Lists cut at `limit`.
    pub truncated: Truncated,
}

/// Which lists had more rows than `limit`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Truncated {
    /// `calls`.
    pub calls: bool,
    /// `denied`.
    pub denied: bool,
    /// `admin_actions`.
    pub admin_actions: bool,
}

/// One accepted call.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallRecord {
    /// Session id.
    pub session_id: String,
    /// Transport instance.
    pub transport: String,
    /// The carrier's call id.
    pub call_id: String,
    /// The carrier's stream id, once media started.
    pub stream_id: Option<String>,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// When it was accepted.
    pub started_at: String,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// Its admission verdict(s).
    pub verdicts: Vec<VerdictRecord>,
    /// What the caller said, in order.
    pub transcripts: Vec<TranscriptRecord>,
    /// What the agent answered, in order.
    pub answers: Vec<AnswerRecord>,
}

/// One admission verdict.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VerdictRecord {
    /// Row id.
    pub id: i64,
    /// The session, for accepted calls.
    pub session_id: Option<String>,
    /// The carrier's call id.
    pub call_id: String,
    /// Transport instance.
    pub transport: String,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Whether the call was let in.
    pub allowed: bool,
    /// Risk tier, when a policy judged the call.
    pub tier: Option<String>,
    /// `[{code, message}]`.
    pub reasons: Value,
    /// When.
    pub at: String,
}

/// One final transcript.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TranscriptRecord {
    /// Row id.
    pub id: i64,
    /// What the caller said.
    pub text: String,
    /// End of speech → transcript.
    pub latency_ms: Option<i64>,
    /// When.
    pub at: String,
}

/// One answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AnswerRecord {
    /// Row id.
    pub id: i64,
    /// What the agent said.
    pub text: String,
    /// When.
    pub at: String,
}

/// One admin action.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AdminRecord {
    /// Row id.
    pub id: i64,
    /// `call.hangup`, `audit.query`.
    pub action: String,
    /// A session id, or the query.
    pub target: String,
    /// The client's address.
    pub remote_addr: Option<String>,
    /// When.
    pub at: String,
}

/// `WHERE` conditions and their parameters.
#[derive(Default)]
struct Filter {
    conditions: Vec<String>,
    params: Vec<SqlValue>,
}

impl Filter {
    fn add(&mut self, condition: &str, value: impl Into<SqlValue>) {
        self.params.push(value.into());
        self.conditions
            .push(condition.replace('?', &format!("?{}", self.params.len())));
    }

    fn caller(&mut self, from: &str) {
        match from.strip_suffix('*') {
            Some(prefix) => {
                let escaped = prefix
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                self.add("from_number LIKE ? ESCAPE '\\'", format!("{escaped}%"));
            }
            None => self.add("from_number = ?", from.to_owned()),
        }
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// Runs a query on a read connection.
pub(super) fn run(conn: &Connection, q: &AuditQuery) -> rusqlite::Result<AuditReport> {
    let fetch = (q.limit + 1) as i64;
    let mut report = AuditReport::default();

    let mut filter = Filter::default();
    if let Some(id) = &q.call_id {
        filter.add("call_id = ?", id.clone());
    }
    if let Some(from) = &q.from {
        filter.caller(from);
    }
    if let Some(since) = &q.since {
        filter.add("started_at >= ?", since.clone());
    }
    let sql = format!(
        "SELECT session_id, transport, call_id, stream_id, from_number, to_number, started_at, ended_at, end_reason
         FROM calls {} ORDER BY started_at DESC, session_id LIMIT {fetch}",
        filter.where_clause()
    );
    let mut calls: Vec<CallRecord> = conn
        .prepare(&sql)?
        .query_map(rusqlite::params_from_iter(&filter.params), |row| {
            Ok(CallRecord {
                session_id: row.get(0)?,
                transport: row.get(1)?,
                call_id: row.get(2)?,
                stream_id: row.get(3)?,
                from: row.get(4)?,
                to: row.get(5)?,
                started_at: row.get(6)?,
                ended_at: row.get(7)?,
                end_reason: row.get(8)?,
                verdicts: Vec::new(),
                transcripts: Vec::new(),
                answers: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    report.truncated.calls = calls.len() > q.limit;
    calls.truncate(q.limit);
    for call in &mut calls {
        call.verdicts = conn
            .prepare_cached(&format!(
                "SELECT {VERDICT_COLUMNS} FROM verdicts WHERE session_id = ?1 ORDER BY id"
            ))?
            .query_map([&call.session_id], verdict)?
            .collect::<rusqlite::Result<_>>()?;
        call.transcripts = conn
            .prepare_cached(
                "SELECT id, text, latency_ms, at FROM transcripts WHERE session_id = ?1 ORDER BY id",
            )?
            .query_map([&call.session_id], |row| {
                Ok(TranscriptRecord {
                    id: row.get(0)?,
                    text: row.get(1)?,
                    latency_ms: row.get(2)?,
                    at: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        call.answers = conn
            .prepare_cached("SELECT id, text, at FROM answers WHERE session_id = ?1 ORDER BY id")?
            .query_map([&call.session_id], |row| {
                Ok(AnswerRecord {
                    id: row.get(0)?,
                    text: row.get(1)?,
                    at: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }

    let mut filter = Filter::default();
    filter.conditions.push("session_id IS NULL".to_owned());
    if let Some(id) = &q.call_id {
        filter.add("call_id = ?", id.clone());
    }
    if let Some(from) = &q.from {
        filter.caller(from);
    }
    if let Some(since) = &q.since {
        filter.add("at >= ?", since.clone());
    }
    let sql = format!(
        "SELECT {VERDICT_COLUMNS} FROM verdicts {} ORDER BY at DESC, id DESC LIMIT {fetch}",
        filter.where_clause()
    );
    report.denied = conn
        .prepare(&sql)?
        .query_map(rusqlite::params_from_iter(&filter.params), verdict)?
        .collect::<rusqlite::Result<_>>()?;
    report.truncated.denied = report.denied.len() > q.limit;
    report.denied.truncate(q.limit);

    let mut filter = Filter::default();
    if q.names_calls() {
        if calls.is_empty() {
            filter.conditions.push("0".to_owned());
        } else {
            let mut placeholders = Vec::new();
            for call in &calls {
                filter.params.push(call.session_id.clone().into());
                placeholders.push(format!("?{}", filter.params.len()));
            }
            filter
                .conditions
                .push(format!("target IN ({})", placeholders.join(", ")));
        }
    }
    if let Some(since) = &q.since {
        filter.add("at >= ?", since.clone());
    }
    let sql = format!(
        "SELECT id, action, target, remote_addr, at FROM admin_actions {} ORDER BY at DESC, id DESC LIMIT {fetch}",
        filter.where_clause()
    );
    report.admin_actions = conn
        .prepare(&sql)?
        .query_map(rusqlite::params_from_iter(&filter.params), |row| {
            Ok(AdminRecord {
                id: row.get(0)?,
                action: row.get(1)?,
                target: row.get(2)?,
                remote_addr: row.get(3)?,
                at: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    report.truncated.admin_actions = report.admin_actions.len() > q.limit;
    report.admin_actions.truncate(q.limit);
    report.calls = calls;
    Ok(report)
}

const VERDICT_COLUMNS: &str =
    "id, session_id, call_id, transport, from_number, to_number, allowed, tier, reasons, at";

fn verdict(row: &rusqlite::Row<'_>) -> rusqlite::Result<VerdictRecord> {
    let reasons: String = row.get(8)?;
    Ok(VerdictRecord {
        id: row.get(0)?,
        session_id: row.get(1)?,
        call_id: row.get(2)?,
        transport: row.get(3)?,
        from: row.get(4)?,
        to: row.get(5)?,
        allowed: row.get(6)?,
        tier: row.get(7)?,
        reasons: serde_json::from_str(&reasons).unwrap_or(Value::String(reasons)),
        at: row.get(9)?,
    })
}

fn reason_codes(reasons: &Value) -> String {
    let codes: Vec<&str> = reasons
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("code").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if codes.is_empty() {
        "-".to_owned()
    } else {
        codes.join(",")
    }
}

/// Left-aligned columns, two spaces apart.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::from("  ");
        for (cell, w) in cells.zip(&widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(out, &mut header.iter().copied());
    for row in rows {
        line(out, &mut row.iter().map(String::as_str));
    }
}

/// The report as text for a terminal.
pub fn render_text(report: &AuditReport) -> String {
    let mut out = String::new();
    let more = |cut: bool| {
        if cut {
            " (more match; raise --limit)"
        } else {
            ""
        }
    };
    let _ = writeln!(
        out,
        "Calls: {}{}",
        report.calls.len(),
        more(report.truncated.calls)
    );
    for call in &report.calls {
        out.push('\n');
        let _ = writeln!(
            out,
            "  {}  {} → {}  via {}",
            call.started_at, call.from, call.to, call.transport
        );
        let _ = writeln!(out, "    session  {}", call.session_id);
        let _ = writeln!(
            out,
            "    call     {}  stream {}",
            call.call_id,
            call.stream_id.as_deref().unwrap_or("-")
        );
        match (&call.ended_at, &call.end_reason) {
            (Some(at), reason) => {
                let _ = writeln!(
                    out,
                    "    ended    {at} ({})",
                    reason.as_deref().unwrap_or("-")
                );
            }
            (None, _) => {
                let _ = writeln!(out, "    ended    - (no end recorded)");
            }
        }
        for v in &call.verdicts {
            let _ = writeln!(
                out,
                "    verdict  {}  tier {}  reasons {}",
                if v.allowed { "allowed" } else { "denied" },
                v.tier.as_deref().unwrap_or("-"),
                reason_codes(&v.reasons)
            );
        }
        // Caller and agent lines in time order.
        let mut lines: Vec<(&str, i64, String)> = call
            .transcripts
            .iter()
            .map(|t| {
                let latency = t
                    .latency_ms
                    .map(|ms| format!("  ({ms} ms)"))
                    .unwrap_or_default();
                (t.at.as_str(), 0, format!("caller  {}{latency}", t.text))
            })
            .chain(
                call.answers
                    .iter()
                    .map(|a| (a.at.as_str(), 1, format!("agent   {}", a.text))),
            )
            .collect();
        lines.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        for (at, _, text) in lines {
            let _ = writeln!(out, "    {at}  {text}");
        }
    }
    let _ = writeln!(
        out,
        "\nDenied calls: {}{}",
        report.denied.len(),
        more(report.truncated.denied)
    );
    if !report.denied.is_empty() {
        let rows: Vec<Vec<String>> = report
            .denied
            .iter()
            .map(|v| {
                vec![
                    v.at.clone(),
                    v.transport.clone(),
                    v.call_id.clone(),
                    v.from.clone(),
                    v.to.clone(),
                    v.tier.clone().unwrap_or_else(|| "-".to_owned()),
                    reason_codes(&v.reasons),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "AT",
                "TRANSPORT",
                "CALL ID",
                "FROM",
                "TO",
                "TIER",
                "REASONS",
            ],
            &rows,
        );
    }
    let _ = writeln!(
        out,
        "\nAdmin actions: {}{}",
        report.admin_actions.len(),
        more(report.truncated.admin_actions)
    );
    if !report.admin_actions.is_empty() {
        let rows: Vec<Vec<String>> = report
            .admin_actions
            .iter()
            .map(|a| {
                vec![
                    a.at.clone(),
                    a.action.clone(),
                    a.target.clone(),
                    a.remote_addr.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        table(&mut out, &["AT", "ACTION", "TARGET", "REMOTE"], &rows);
    }
    out
}
