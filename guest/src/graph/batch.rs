//! JSON batching (`$batch`): a page's moves, and the next page's read
//! riding along with them.
//!
//! Graph runs the inner requests of a batch at most 4 at once per mailbox,
//! which is also Outlook's concurrency limit, so a batch of 20 moves keeps
//! the mailbox exactly busy. The next page's read is one more inner request
//! in the last batch: it runs in a slot the moves leave free, so the drain
//! no longer spends a round trip of its own on reading (BENCHMARKS.md).
//!
//! Requests are written and answers read as typed JSON: an answer holds a
//! whole message per move, and building a JSON tree of each cost more than
//! everything else the component does for a message.

use super::{BATCH_LIMIT, Graph, GraphError, Page, RawPage, api_error_of, enc};
use crate::host::HostError;
use crate::retry::{MAX_ATTEMPTS, MAX_WAIT, Verdict, parse_retry_after, verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::time::Duration;

/// Where a moved message is now, as Graph's answer says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveAnswer {
    /// Its id (immutable ids stay the same across moves).
    pub id: Option<String>,
    /// Its Outlook on the web link.
    pub web_link: Option<String>,
}

impl MoveAnswer {
    /// The fields of a moved message's JSON; anything unreadable is `None`.
    pub fn of_json(text: &str) -> Self {
        #[derive(Deserialize)]
        struct Moved<'a> {
            #[serde(borrow)]
            id: Option<&'a RawValue>,
            #[serde(borrow, rename = "webLink")]
            web_link: Option<&'a RawValue>,
        }
        let string = |v: Option<&RawValue>| v.and_then(|v| serde_json::from_str(v.get()).ok());
        // serde would read an array into the struct by position.
        let object = text.trim_start().starts_with('{');
        match serde_json::from_str::<Moved<'_>>(text)
            .ok()
            .filter(|_| object)
            .ok_or(())
        {
            Ok(m) => Self {
                id: string(m.id),
                web_link: string(m.web_link),
            },
            // Duplicate keys, or not an object: the tree's reading.
            Err(_) => Self::of_value(&serde_json::from_str(text).unwrap_or(Value::Null)),
        }
    }

    /// The fields of a moved message already parsed.
    pub fn of_value(v: &Value) -> Self {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Self {
            id: text("id"),
            web_link: text("webLink"),
        }
    }
}

/// One inner request.
#[derive(Serialize)]
struct Inner<'a> {
    id: String,
    method: &'static str,
    url: String,
    headers: InnerHeaders,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<MoveBody<'a>>,
}

#[derive(Serialize)]
struct InnerHeaders {
    #[serde(rename = "Content-Type", skip_serializing_if = "Option::is_none")]
    content_type: Option<&'static str>,
    #[serde(rename = "Prefer")]
    prefer: &'static str,
}

#[derive(Serialize)]
struct MoveBody<'a> {
    #[serde(rename = "destinationId")]
    destination_id: &'a str,
}

#[derive(Serialize)]
struct Batch<'a> {
    requests: Vec<Inner<'a>>,
}

/// A batch answer, its inner answers kept as text.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow, default)]
    responses: Option<Vec<&'a RawValue>>,
}

/// One inner answer.
#[derive(Deserialize)]
struct InnerAnswer<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    status: Option<&'a RawValue>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

impl InnerAnswer<'_> {
    fn status(&self) -> u16 {
        self.status
            .and_then(|s| serde_json::from_str::<u16>(s.get()).ok())
            .unwrap_or(0)
    }

    fn error(&self, status: u16) -> GraphError {
        let body = self
            .body
            .and_then(|b| serde_json::from_str(b.get()).ok())
            .unwrap_or(Value::Null);
        api_error_of(status, &body)
    }

    /// `Retry-After` among its headers (a string or a number).
    fn retry_after(&self) -> Option<Duration> {
        let headers: serde_json::Map<String, Value> =
            serde_json::from_str(self.headers?.get()).ok()?;
        let (_, v) = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?;
        let text = v
            .as_str()
            .map(str::to_string)
            .or_else(|| v.as_f64().map(|f| f.to_string()))?;
        parse_retry_after(&text)
    }
}

/// The id of the inner request that reads the next page.
const READ_ID: &str = "read";

impl Graph<'_> {
    /// Moves many messages with JSON batching, at most 20 per `$batch`.
    /// Inner requests that are throttled or hit a transient fault are sent
    /// again after their `Retry-After`. Answers in the order asked.
    ///
    /// With `read_after` (a page URL of this client's), the last batch of
    /// the first attempt also reads that page; its answer comes back when
    /// Graph gave one (a throttled or failed read is simply not there: the
    /// caller reads again on its own).
    pub fn move_many(
        &mut self,
        moves: &[(String, String)],
        read_after: Option<&str>,
    ) -> (Vec<Result<MoveAnswer, GraphError>>, Option<Page>) {
        let mut results: Vec<Option<Result<MoveAnswer, GraphError>>> = vec![None; moves.len()];
        let mut todo: Vec<usize> = (0..moves.len()).collect();
        let mut read = read_after.and_then(|url| url.strip_prefix(super::GRAPH_BASE));
        let mut page = None;
        let mailbox = enc(&self.mailbox);
        let mut renewed = false;
        for attempt in 1..=MAX_ATTEMPTS {
            let mut again = Vec::new();
            let mut wait: Option<Duration> = None;
            let mut expired = false;
            let chunks: Vec<&[usize]> = todo.chunks(BATCH_LIMIT).collect();
            for (n, chunk) in chunks.iter().enumerate() {
                let mut requests: Vec<Inner<'_>> = chunk
                    .iter()
                    .map(|&i| Inner {
                        id: i.to_string(),
                        method: "POST",
                        url: format!("/users/{mailbox}/messages/{}/move", enc(&moves[i].0)),
                        headers: InnerHeaders {
                            content_type: Some("application/json"),
                            prefer: "IdType=\"ImmutableId\"",
                        },
                        body: Some(MoveBody {
                            destination_id: &moves[i].1,
                        }),
                    })
                    .collect();
                let last = n + 1 == chunks.len();
                let reads = last && chunk.len() < BATCH_LIMIT && read.is_some();
                if reads && let Some(url) = read.take() {
                    requests.push(Inner {
                        id: READ_ID.into(),
                        method: "GET",
                        url: url.to_string(),
                        headers: InnerHeaders {
                            content_type: None,
                            prefer: "IdType=\"ImmutableId\"",
                        },
                        body: None,
                    });
                }
                // Graph counts each inner request against the mailbox.
                let cost = requests.len();
                let body = serde_json::to_vec(&Batch { requests }).unwrap_or_default();
                let url = format!("{}/$batch", super::GRAPH_BASE);
                let answer = match self.send_costing("POST", &url, Some(body), cost) {
                    Ok(a) => a,
                    // Graph made the moves, but where they went cannot be
                    // read from the answer: never the messages' fault.
                    Err(GraphError::Host(HostError::Invalid(m))) if m.contains("larger than") => {
                        let e = GraphError::AnswerTooLarge(format!(
                            "the answer to a batch of moves ({m})"
                        ));
                        for &i in *chunk {
                            results[i] = Some(Err(e.clone()));
                        }
                        continue;
                    }
                    Err(e) => {
                        for &i in *chunk {
                            results[i] = Some(Err(e.clone()));
                        }
                        continue;
                    }
                };
                let inner = match serde_json::from_slice::<Answer<'_>>(&answer) {
                    Ok(a) => a.responses.unwrap_or_default(),
                    Err(e) => {
                        let e =
                            GraphError::Malformed(format!("a batch answer that is not JSON: {e}"));
                        for &i in *chunk {
                            results[i] = Some(Err(e.clone()));
                        }
                        continue;
                    }
                };
                let mut by_id: HashMap<String, InnerAnswer<'_>> = HashMap::new();
                for raw in inner {
                    if let Ok(a) = serde_json::from_str::<InnerAnswer<'_>>(raw.get())
                        && let Some(id) = a.id.and_then(|id| serde_json::from_str(id.get()).ok())
                    {
                        by_id.entry(id).or_insert(a);
                    }
                }
                if reads {
                    page = by_id.remove(READ_ID).and_then(|a| read_page(&a));
                }
                for &i in *chunk {
                    let Some(r) = by_id.remove(&i.to_string()) else {
                        results[i] = Some(Err(GraphError::Malformed(
                            "a batch answer without this request".into(),
                        )));
                        continue;
                    };
                    let status = r.status();
                    results[i] = Some(match verdict(status, renewed) {
                        Verdict::Done => Ok(r
                            .body
                            .map_or_else(MoveAnswer::default, |b| MoveAnswer::of_json(b.get()))),
                        // The token expired between the batch and this inner
                        // request: renew once and send it again.
                        Verdict::Renew => {
                            expired = true;
                            again.push(i);
                            wait.get_or_insert(Duration::ZERO);
                            Err(r.error(status))
                        }
                        Verdict::Retry { throttled } => {
                            let w = r.retry_after().unwrap_or_else(|| self.backoff(attempt));
                            wait = Some(wait.map_or(w, |x| x.max(w)));
                            again.push(i);
                            Err(if throttled {
                                GraphError::Throttled(w.as_secs().max(1) as u32)
                            } else {
                                GraphError::Transient(format!("HTTP {status} in a batch"))
                            })
                        }
                        Verdict::Fail => Err(r.error(status)),
                    });
                }
            }
            // A read that found no room in the first attempt's batches is
            // left to the caller.
            read = None;
            if expired {
                renewed = true;
                self.tokens.invalidate(self.host);
            }
            let Some(wait) = wait else { break };
            if again.is_empty()
                || attempt == MAX_ATTEMPTS
                || wait > MAX_WAIT
                || self.past_deadline(wait)
            {
                break;
            }
            if !wait.is_zero() {
                self.patience.throttled_waits += 1;
                self.wait(wait, "Microsoft Graph throttled or failed some moves");
            }
            todo = again;
        }
        let results = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(GraphError::Transient("the move was not sent".into())))
            })
            .collect();
        (results, page)
    }
}

/// The page an inner read answered, when it succeeded.
fn read_page(a: &InnerAnswer<'_>) -> Option<Page> {
    if a.status() != 200 {
        return None;
    }
    let body = a.body?.get();
    let raw: RawPage = serde_json::from_str(body).ok()?;
    Some(Page {
        items: raw.value?,
        next_link: raw
            .next_link
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string),
        bytes: body.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_message_is_read_without_its_tree() {
        let m = MoveAnswer::of_json(
            r#"{"id":"AAk=","subject":"x","toRecipients":[{"emailAddress":{"address":"a@b"}}],"webLink":"https://outlook.office365.com/owa/?ItemID=AAk%3D"}"#,
        );
        assert_eq!(m.id.as_deref(), Some("AAk="));
        assert!(m.web_link.is_some());
        assert_eq!(MoveAnswer::of_json(r#"{"id":5}"#), MoveAnswer::default());
        assert_eq!(
            MoveAnswer::of_json(r#"{"id":"a","id":"b"}"#).id.as_deref(),
            Some("b"),
            "duplicate keys: the last, as a JSON tree reads them"
        );
        assert_eq!(MoveAnswer::of_json("[1]"), MoveAnswer::default());
        assert_eq!(MoveAnswer::of_json(r#"["x","y"]"#), MoveAnswer::default());
    }
}
