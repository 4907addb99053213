//! The subset of OData query options Graph mail supports: `$select`, `$top`, `$skip`,
//! `$orderby`, `$filter` (comparisons joined by `and`) and `$count`.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::error::GraphError;

/// Largest `$top` Graph accepts for messages.
pub(crate) const MAX_TOP: usize = 1000;
/// Page size when `$top` is absent.
pub(crate) const DEFAULT_TOP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Bool(bool),
    Date(DateTime<Utc>),
    Num(f64),
    Null,
}

#[derive(Debug, Clone)]
pub(crate) struct Clause {
    /// Property path, `/`-separated for nested properties (`from/emailAddress/address`).
    pub path: String,
    pub op: Op,
    pub value: Literal,
}

/// Parsed query options, plus the raw texts needed to rebuild a nextLink.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skip: usize,
    pub orderby: Vec<(String, bool)>,
    pub filter: Vec<Clause>,
    pub include_hidden: bool,
    /// `$count=true`: the answer carries `@odata.count`, the size of the whole (filtered)
    /// collection.
    pub count: bool,
    /// `$expand=singleValueExtendedProperties(...)`: `None` when not asked (the answer then
    /// carries no extended properties, as in Graph), `Some(None)` for all of them,
    /// `Some(Some(id))` for the one `$filter=id eq '...'` names.
    pub expand_properties: Option<Option<String>>,
    pub raw_expand: Option<String>,
    pub raw_select: Option<String>,
    pub raw_orderby: Option<String>,
    pub raw_filter: Option<String>,
}

impl Query {
    /// Parses a raw query string. Option names are accepted with or without `$`, in any case.
    pub fn parse(raw: Option<&str>) -> Result<Query, GraphError> {
        let mut q = Query::default();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let name = key.trim_start_matches('$').to_ascii_lowercase();
            match name.as_str() {
                "select" => {
                    let fields: Vec<String> = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    if fields.is_empty() {
                        return Err(GraphError::bad_request(
                            "Invalid $select: no properties given.",
                        ));
                    }
                    q.raw_select = Some(fields.join(","));
                    q.select = Some(fields);
                }
                "top" => {
                    let top = value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_TOP).contains(n));
                    q.top = Some(top.ok_or_else(|| {
                        GraphError::invalid_parameter(format!(
                            "Invalid value '{}' for query option '$top'. It must be an integer between 1 and {MAX_TOP}.",
                            truncate(&value)
                        ))
                    })?);
                }
                "skip" => {
                    q.skip = value.trim().parse::<usize>().map_err(|_| {
                        GraphError::invalid_parameter(format!(
                            "Invalid value '{}' for query option '$skip'. It must be a non-negative integer.",
                            truncate(&value)
                        ))
                    })?;
                }
                "orderby" => {
                    q.orderby = parse_orderby(&value)?;
                    q.raw_orderby = Some(value.trim().to_string());
                }
                "filter" => {
                    q.filter = parse_filter(&value)?;
                    q.raw_filter = Some(value.trim().to_string());
                }
                "expand" => {
                    q.expand_properties = parse_expand(&value)?;
                    q.raw_expand = Some(value.trim().to_string());
                }
                "includehiddenfolders" => q.include_hidden = value.eq_ignore_ascii_case("true"),
                "count" => {
                    q.count = match value.trim().to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(GraphError::bad_request(format!(
                                "Invalid value '{}' for query option '$count'. It must be true or false.",
                                truncate(&value)
                            )));
                        }
                    }
                }
                // Graph ignores options it does not know for these resources; so do we.
                _ => {}
            }
        }
        q.check_efficient()?;
        Ok(q)
    }

    /// Graph's rule: every `$orderby` property must also lead the `$filter`, in the same order.
    fn check_efficient(&self) -> Result<(), GraphError> {
        if self.orderby.is_empty() || self.filter.is_empty() {
            return Ok(());
        }
        let leads = self.orderby.len() <= self.filter.len()
            && self
                .orderby
                .iter()
                .zip(&self.filter)
                .all(|((o, _), c)| o.eq_ignore_ascii_case(&c.path));
        if leads {
            Ok(())
        } else {
            Err(GraphError::inefficient_filter())
        }
    }

    pub fn matches(&self, item: &Map<String, Value>) -> bool {
        self.filter.iter().all(|c| clause_matches(c, item))
    }

    /// Sorts by `$orderby`; the sort is stable so equal keys keep their stored order.
    ///
    /// Missing or malformed values (e.g. an unparseable `receivedDateTime`) sort before every
    /// real value in ascending order, and therefore last in descending order.
    pub fn sort<T>(&self, items: &mut [T], get: impl Fn(&T) -> &Map<String, Value>) {
        if self.orderby.is_empty() {
            return;
        }
        items.sort_by(|a, b| {
            for (path, desc) in &self.orderby {
                let ka = sort_key(path, lookup(get(a), path));
                let kb = sort_key(path, lookup(get(b), path));
                let ord = ka.cmp(&kb);
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }

    /// Applies `$select` and `$expand`; `id` and `@odata.etag` are always kept, as Graph does.
    /// Extended properties appear only when expanded, and only those the expansion names; a
    /// message without any of them has no `singleValueExtendedProperties` at all.
    pub fn project(&self, mut item: Map<String, Value>) -> Map<String, Value> {
        let expanded = item
            .remove(EXTENDED)
            .zip(self.expand_properties.as_ref())
            .and_then(|(props, wanted)| {
                let kept: Vec<Value> = props
                    .as_array()?
                    .iter()
                    .filter(|p| {
                        wanted.as_deref().is_none_or(|w| {
                            p.get("id")
                                .and_then(Value::as_str)
                                .is_some_and(|id| same_property(id, w))
                        })
                    })
                    .cloned()
                    .collect();
                (!kept.is_empty()).then_some(Value::Array(kept))
            });
        let mut item: Map<String, Value> = match &self.select {
            None => item,
            Some(fields) => item
                .into_iter()
                .filter(|(k, _)| {
                    k == "id"
                        || k == "@odata.etag"
                        || fields.iter().any(|f| f.eq_ignore_ascii_case(k))
                })
                .collect(),
        };
        if let Some(props) = expanded {
            item.insert(EXTENDED.into(), props);
        }
        item
    }
}

/// The navigation property that holds a message's single-value extended (MAPI) properties.
const EXTENDED: &str = "singleValueExtendedProperties";

/// `singleValueExtendedProperties` or `singleValueExtendedProperties($filter=id eq '...')`;
/// other expansions (attachments...) are not emulated and ignored, as unknown options are.
fn parse_expand(raw: &str) -> Result<Option<Option<String>>, GraphError> {
    for part in raw.split(',').map(str::trim) {
        let (name, inner) = match part.split_once('(') {
            Some((name, rest)) => (name.trim(), Some(rest.strip_suffix(')').unwrap_or(rest))),
            None => (part, None),
        };
        if !name.eq_ignore_ascii_case(EXTENDED) {
            continue;
        }
        let Some(inner) = inner.map(str::trim).filter(|i| !i.is_empty()) else {
            return Ok(Some(None));
        };
        let filter = inner
            .split_once('=')
            .filter(|(k, _)| {
                k.trim()
                    .trim_start_matches('$')
                    .eq_ignore_ascii_case("filter")
            })
            .map(|(_, v)| v.trim());
        let clause = filter.and_then(|f| parse_filter(f).ok());
        return match clause.as_deref() {
            Some(
                [
                    Clause {
                        path,
                        op: Op::Eq,
                        value: Literal::Str(id),
                    },
                ],
            ) if path.eq_ignore_ascii_case("id") => Ok(Some(Some(id.clone()))),
            _ => Err(GraphError::bad_request(format!(
                "Invalid $expand: {EXTENDED} takes only $filter=id eq '...', not '{}'.",
                truncate(inner)
            ))),
        };
    }
    Ok(None)
}

/// Whether two extended property ids name the same property: `Integer 0x36` is
/// `integer 0x0036`; named properties compare case-insensitively.
fn same_property(a: &str, b: &str) -> bool {
    fn tag(id: &str) -> Option<(String, u32)> {
        let (kind, tag) = id.trim().split_once(' ')?;
        let hex = tag
            .trim()
            .strip_prefix("0x")
            .or_else(|| tag.trim().strip_prefix("0X"))?;
        Some((
            kind.to_ascii_lowercase(),
            u32::from_str_radix(hex, 16).ok()?,
        ))
    }
    match (tag(a), tag(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn parse_orderby(raw: &str) -> Result<Vec<(String, bool)>, GraphError> {
    let mut out = Vec::new();
    for part in raw.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (prop, desc) = match words.as_slice() {
            [p] => (*p, false),
            [p, d] if d.eq_ignore_ascii_case("asc") => (*p, false),
            [p, d] if d.eq_ignore_ascii_case("desc") => (*p, true),
            _ => {
                return Err(GraphError::bad_request(format!(
                    "Invalid $orderby expression '{}'.",
                    truncate(part)
                )));
            }
        };
        if !is_property_path(prop) {
            return Err(GraphError::bad_request(format!(
                "Invalid $orderby property '{}'.",
                truncate(prop)
            )));
        }
        out.push((prop.to_string(), desc));
    }
    Ok(out)
}

fn is_property_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|seg| {
            !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Str(String),
}

fn tokenize(raw: &str) -> Result<Vec<Token>, GraphError> {
    let mut tokens = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => s.push(ch),
                    None => {
                        return Err(GraphError::bad_request(
                            "Invalid filter clause: unterminated string literal.",
                        ));
                    }
                }
            }
            tokens.push(Token::Str(s));
        } else {
            let mut w = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '\'' {
                    break;
                }
                w.push(ch);
                chars.next();
            }
            tokens.push(Token::Word(w));
        }
    }
    Ok(tokens)
}

fn parse_filter(raw: &str) -> Result<Vec<Clause>, GraphError> {
    let invalid = |what: &str| {
        GraphError::bad_request(format!(
            "Invalid filter clause: {what}. Supported: '<property> eq|ne|gt|ge|lt|le <value>' joined by 'and'."
        ))
    };
    let tokens = tokenize(raw)?;
    let mut clauses = Vec::new();
    let mut i = 0;
    loop {
        let Some(Token::Word(path)) = tokens.get(i) else {
            return Err(invalid("expected a property name"));
        };
        if !is_property_path(path) {
            return Err(invalid("unsupported expression"));
        }
        let op = match tokens.get(i + 1) {
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                _ => return Err(invalid("unknown operator")),
            },
            _ => return Err(invalid("expected an operator")),
        };
        let value = match tokens.get(i + 2) {
            Some(Token::Str(s)) => Literal::Str(s.clone()),
            Some(Token::Word(w)) => parse_literal(w).ok_or_else(|| invalid("unsupported value"))?,
            None => return Err(invalid("expected a value")),
        };
        clauses.push(Clause {
            path: path.clone(),
            op,
            value,
        });
        i += 3;
        match tokens.get(i) {
            None => return Ok(clauses),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("and") => i += 1,
            Some(_) => return Err(invalid("only 'and' may join comparisons")),
        }
    }
}

fn parse_literal(w: &str) -> Option<Literal> {
    match w.to_ascii_lowercase().as_str() {
        "true" => return Some(Literal::Bool(true)),
        "false" => return Some(Literal::Bool(false)),
        "null" => return Some(Literal::Null),
        _ => {}
    }
    if let Some(d) = parse_date(w) {
        return Some(Literal::Date(d));
    }
    w.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(Literal::Num)
}

/// Accepts RFC 3339 timestamps and plain dates (midnight UTC), like Graph does in `$filter`.
pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(d.with_timezone(&Utc));
    }
    if s.len() == 10 {
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc());
    }
    None
}

/// Finds a property by `/`-separated path; names match case-insensitively like OData's.
pub(crate) fn lookup<'a>(item: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('/');
    let first = parts.next()?;
    let mut current = get_ci(item, first)?;
    for part in parts {
        current = get_ci(current.as_object()?, part)?;
    }
    Some(current)
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn compare(op: Op, ord: Ordering) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
    }
}

/// A value that cannot be compared with the literal (missing, malformed, other type) never
/// matches, except that a missing or null boolean counts as `false` (a seed message without
/// `isDraft` is not a draft) and `ne` matches anything that is not equal.
fn clause_matches(c: &Clause, item: &Map<String, Value>) -> bool {
    let v = lookup(item, &c.path).filter(|v| !v.is_null());
    let ord = match (&c.value, v) {
        (Literal::Null, None) => Some(Ordering::Equal),
        (Literal::Null, Some(_)) => Some(Ordering::Greater),
        (Literal::Bool(b), None) => Some(false.cmp(b)),
        (Literal::Bool(b), Some(Value::Bool(x))) => Some(x.cmp(b)),
        (Literal::Date(d), Some(Value::String(s))) => parse_date(s).map(|x| x.cmp(d)),
        (Literal::Str(s), Some(Value::String(x))) => Some(x.to_lowercase().cmp(&s.to_lowercase())),
        (Literal::Num(n), Some(Value::Number(x))) => x.as_f64().and_then(|x| x.partial_cmp(n)),
        _ => None,
    };
    match ord {
        Some(o) => compare(c.op, o),
        None => c.op == Op::Ne,
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Missing,
    Bool(bool),
    Date(DateTime<Utc>),
    Text(String),
}

fn sort_key(path: &str, v: Option<&Value>) -> SortKey {
    // A date property whose value is not a date sorts like a missing one.
    let is_date = path.to_ascii_lowercase().ends_with("datetime");
    match v {
        Some(Value::Bool(b)) => SortKey::Bool(*b),
        Some(Value::String(s)) => match parse_date(s) {
            Some(d) => SortKey::Date(d),
            None if is_date => SortKey::Missing,
            None => SortKey::Text(s.to_lowercase()),
        },
        Some(Value::Number(n)) => SortKey::Text(format!("{n:>30}")),
        _ => SortKey::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_parses_dates_bools_and_escaped_strings() {
        let q = Query::parse(Some(
            "%24filter=receivedDateTime+ge+2026-11-01T00:00:00Z+and+isDraft+eq+false+and+displayName+eq+%27Bob%27%27s%27",
        ))
        .unwrap();
        assert_eq!(q.filter.len(), 3);
        assert_eq!(q.filter[2].value, Literal::Str("Bob's".into()));
    }

    #[test]
    fn orderby_must_lead_filter() {
        let err = Query::parse(Some(
            "$orderby=receivedDateTime&$filter=isDraft eq false and receivedDateTime ge 2026-01-01",
        ))
        .unwrap_err();
        assert_eq!(err.code, "InefficientFilter");
        assert!(
            Query::parse(Some(
                "$orderby=receivedDateTime desc&$filter=receivedDateTime ge 2026-01-01 and isDraft eq false"
            ))
            .is_ok()
        );
    }

    #[test]
    fn bad_top_and_filters_are_rejected() {
        for q in [
            "$top=0",
            "$top=1001",
            "$top=abc",
            "$skip=-1",
            "$filter=subject",
            "$filter=startswith(subject,'a')",
            "$filter=a eq 'x' or b eq 'y'",
            "$orderby=subject sideways",
        ] {
            assert!(Query::parse(Some(q)).is_err(), "{q} should be rejected");
        }
    }

    #[test]
    fn malformed_dates_sort_first_ascending() {
        let q = Query::parse(Some("$orderby=receivedDateTime")).unwrap();
        let mut items: Vec<Map<String, Value>> = [
            serde_json::json!({"receivedDateTime": "2026-11-02T00:00:00Z"}),
            serde_json::json!({"receivedDateTime": "garbage"}),
            serde_json::json!({}),
            serde_json::json!({"receivedDateTime": "2026-11-01T00:00:00Z"}),
        ]
        .into_iter()
        .filter_map(|v| v.as_object().cloned())
        .collect();
        q.sort(&mut items, |m| m);
        let got: Vec<Option<&str>> = items
            .iter()
            .map(|m| m.get("receivedDateTime").and_then(Value::as_str))
            .collect();
        assert_eq!(
            got,
            vec![
                Some("garbage"),
                None,
                Some("2026-11-01T00:00:00Z"),
                Some("2026-11-02T00:00:00Z")
            ]
        );
    }
}
