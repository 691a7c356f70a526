//! Cursor-paged lists: [`Page`] (`{"object":"list","data":[…],"first_id","last_id","has_more"}`),
//! the query of a list call ([`ListQuery`]: `limit`, `order`, `after`,
//! `before`), and [`paginate`], which turns "fetch one page after this
//! cursor" into a [`Stream`] of every item.
//!
//! Files, vector stores and their files, file batches, conversation items
//! and Azure's Batch API all page this way: a page's `last_id` (or, when a
//! server leaves it out, the last item's id) is the `after` of the next
//! request, and `has_more: false` ends the list.
//!
//! # Bounds
//!
//! A misbehaving server must not make a caller loop forever or see an item
//! twice, so the pager stops:
//!
//! - cleanly, when a page says `has_more` but holds no item (there is no
//!   cursor to follow) or has no cursor at all;
//! - with an [`Error::Decode`] naming the cursor, when a page's cursor is one
//!   already followed (the server is going round in circles; the items
//!   already yielded were each yielded once).
//!
//! ```
//! use aoai_core::page::{Page, PagerState};
//!
//! let mut state = PagerState::new(None);
//! assert_eq!(state.next_cursor(), Some(None)); // first request: no `after`
//! let page: Page<serde_json::Value> = serde_json::from_str(
//!     r#"{"object":"list","data":[{"id":"a"},{"id":"b"}],"first_id":"a","last_id":"b","has_more":true}"#,
//! ).unwrap();
//! assert_eq!(state.accept(&page), Ok(()));
//! assert_eq!(state.next_cursor(), Some(Some("b".to_owned())));
//! ```

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;

use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::RequestOptions;
use crate::error::{DecodeError, Error, InvalidRequestError, Result};
use crate::open_enum::open_enum;
use crate::response::Response;

/// One page of a cursor-paged list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize"))]
pub struct Page<T> {
    /// `list` (vector-store search pages say `vector_store.search_results.page`).
    #[serde(default)]
    pub object: String,
    /// The items, in the order asked for.
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    /// The first item's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_id: Option<String>,
    /// The last item's id: the `after` cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_id: Option<String>,
    /// Whether more items follow.
    #[serde(default)]
    pub has_more: bool,
    /// Any other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            object: String::new(),
            data: Vec::new(),
            first_id: None,
            last_id: None,
            has_more: false,
            extra: Map::new(),
        }
    }
}

impl<T: Cursor> Page<T> {
    /// The cursor of the next page: `last_id`, else the last item's id.
    #[must_use]
    pub fn next_cursor(&self) -> Option<&str> {
        self.last_id.as_deref().filter(|id| !id.is_empty()).or_else(|| self.data.last().and_then(Cursor::cursor))
    }
}

/// An item of a paged list: its id is the cursor that pages after it.
pub trait Cursor {
    /// The item's id, if it has one.
    fn cursor(&self) -> Option<&str>;
}

impl Cursor for Value {
    fn cursor(&self) -> Option<&str> {
        self.get("id").and_then(Value::as_str)
    }
}

open_enum! {
    /// The order of a list, by creation time.
    pub enum Order {
        /// Oldest first.
        Asc = "asc",
        /// Newest first (the services' default).
        Desc = "desc",
    }
}

/// The query of a list call. Every field is optional; the service's
/// defaults apply (typically 20 items per page, newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ListQuery {
    /// Items per page (1–100 on most lists).
    pub limit: Option<u32>,
    /// Oldest or newest first.
    pub order: Option<Order>,
    /// Start after this id.
    pub after: Option<String>,
    /// End before this id.
    pub before: Option<String>,
}

impl ListQuery {
    /// No parameter set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `limit`.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets `order`.
    pub fn order(mut self, order: Order) -> Self {
        self.order = Some(order);
        self
    }

    /// Sets `after`.
    pub fn after(mut self, after: impl Into<String>) -> Self {
        self.after = Some(after.into());
        self
    }

    /// Sets `before`.
    pub fn before(mut self, before: impl Into<String>) -> Self {
        self.before = Some(before.into());
        self
    }

    /// Adds the parameters that are set to `options`, with `after` replaced
    /// by `cursor` when one is given.
    pub(crate) fn apply(&self, options: RequestOptions, cursor: Option<&str>) -> RequestOptions {
        options
            .query_opt("limit", self.limit.map(|limit| limit.to_string()))
            .query_opt("order", self.order.as_ref().map(|order| order.as_str().to_owned()))
            .query_opt("after", cursor.or(self.after.as_deref()))
            .query_opt("before", self.before.as_deref())
    }
}

/// The state machine behind [`paginate`], without I/O: which cursor to ask
/// for next, and whether a page may be accepted. Public so its bounds can be
/// tested (and reused by callers with their own transport).
#[derive(Debug, Clone)]
pub struct PagerState {
    next: Option<Option<String>>,
    followed: HashSet<String>,
}

impl PagerState {
    /// A pager whose first request starts after `after` (or at the beginning).
    #[must_use]
    pub fn new(after: Option<String>) -> Self {
        let mut followed = HashSet::new();
        if let Some(after) = &after {
            followed.insert(after.clone());
        }
        Self { next: Some(after), followed }
    }

    /// The `after` cursor of the next request (`Some(None)`: no cursor, the
    /// first page), or `None` when the list is exhausted.
    #[must_use]
    pub fn next_cursor(&self) -> Option<Option<String>> {
        self.next.clone()
    }

    /// Takes a page in. Its items are the caller's to yield; afterwards
    /// [`next_cursor`](Self::next_cursor) says what follows.
    ///
    /// # Errors
    ///
    /// The repeated cursor, when the page's cursor is one already followed;
    /// the pager is then exhausted.
    pub fn accept<T: Cursor>(&mut self, page: &Page<T>) -> Result<(), String> {
        self.next = None;
        if !page.has_more || page.data.is_empty() {
            return Ok(());
        }
        let Some(cursor) = page.next_cursor() else {
            return Ok(());
        };
        if !self.followed.insert(cursor.to_owned()) {
            return Err(cursor.to_owned());
        }
        self.next = Some(Some(cursor.to_owned()));
        Ok(())
    }
}

/// A boxed stream of every item of a paged list.
pub type Pages<'a, T> = Pin<Box<dyn Stream<Item = Result<T>> + Send + 'a>>;

/// Follows a paged list: calls `fetch(after)` for the first page (with
/// `after` as given) and then with each page's cursor while `has_more`, and
/// yields every item in order. Errors of a fetch are yielded and end the
/// stream. See the [module docs](self) for how it stops.
///
/// ```no_run
/// use futures_util::TryStreamExt;
/// # async fn demo(client: aoai_core::Client) -> aoai_core::Result<()> {
/// let stores: Vec<_> = client.list_vector_stores(&aoai_core::page::ListQuery::new().limit(100)).try_collect().await?;
/// println!("{} vector stores", stores.len());
/// # Ok(())
/// # }
/// ```
pub fn paginate<'a, T, F, Fut>(after: Option<String>, fetch: F) -> Pages<'a, T>
where
    T: Cursor + Send + 'a,
    F: FnMut(Option<String>) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Response<Page<T>>>> + Send + 'a,
{
    struct Walk<T, F> {
        state: PagerState,
        buffer: VecDeque<T>,
        fetch: F,
        failed: bool,
    }
    let walk = Walk { state: PagerState::new(after), buffer: VecDeque::new(), fetch, failed: false };
    Box::pin(futures_util::stream::unfold(walk, |mut walk| async move {
        loop {
            if let Some(item) = walk.buffer.pop_front() {
                return Some((Ok(item), walk));
            }
            if walk.failed {
                return None;
            }
            let cursor = walk.state.next_cursor()?;
            match (walk.fetch)(cursor).await {
                Ok(response) => {
                    let meta = response.meta;
                    let page = response.body;
                    let accepted = walk.state.accept(&page);
                    walk.buffer.extend(page.data);
                    if let Err(cursor) = accepted {
                        // A repeated cursor means this page repeats items
                        // already yielded: drop them and stop with an error.
                        walk.buffer.clear();
                        walk.failed = true;
                        return Some((
                            Err(Error::Decode(DecodeError {
                                status: meta.status,
                                request_id: meta.request_id,
                                message: format!(
                                    "the list repeated the cursor {cursor:?}: stopped paging rather than loop"
                                ),
                                source: None,
                            })),
                            walk,
                        ));
                    }
                }
                Err(error) => {
                    walk.failed = true;
                    return Some((Err(error), walk));
                }
            }
        }
    }))
}

/// Checks an id before it becomes a path segment: not empty, no `/`, `?`,
/// `#`, `\` or control character, so an id can never reach another route.
pub(crate) fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.chars().any(|c| matches!(c, '/' | '?' | '#' | '\\') || c.is_control()) || id == ".." {
        return Err(Error::InvalidRequest(InvalidRequestError::new(format!("{what} {id:?} is not a valid id"))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// A server over `items` (ids `0..n`) whose pages hold `sizes[k]` items
    /// (cycled), answering `after` like the services do.
    fn serve(items: &[Value], sizes: &[usize], call: usize, after: Option<&str>) -> Page<Value> {
        let start = match after {
            Some(after) => items.iter().position(|item| item.cursor() == Some(after)).map_or(items.len(), |i| i + 1),
            None => 0,
        };
        let size = sizes[call % sizes.len()].max(1);
        let data: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
        Page {
            object: "list".to_owned(),
            first_id: data.first().and_then(Cursor::cursor).map(str::to_owned),
            last_id: data.last().and_then(Cursor::cursor).map(str::to_owned),
            has_more: start + data.len() < items.len(),
            data,
            extra: Map::new(),
        }
    }

    proptest! {
        #[test]
        fn any_page_sizes_yield_every_item_once_in_order(n in 0usize..60, sizes in proptest::collection::vec(1usize..9, 1..6)) {
            let items: Vec<Value> = (0..n).map(|i| json!({"id": format!("item-{i}")})).collect();
            let mut state = PagerState::new(None);
            let mut seen = Vec::new();
            let mut calls = 0;
            while let Some(cursor) = state.next_cursor() {
                let page = serve(&items, &sizes, calls, cursor.as_deref());
                calls += 1;
                prop_assert!(state.accept(&page).is_ok());
                seen.extend(page.data);
                prop_assert!(calls <= n + 1, "too many requests");
            }
            prop_assert_eq!(seen, items);
        }

        #[test]
        fn pages_without_last_id_follow_the_last_item(n in 1usize..30, size in 1usize..7) {
            let items: Vec<Value> = (0..n).map(|i| json!({"id": format!("i{i}")})).collect();
            let mut state = PagerState::new(None);
            let mut seen = Vec::new();
            let mut calls = 0;
            while let Some(cursor) = state.next_cursor() {
                let mut page = serve(&items, &[size], calls, cursor.as_deref());
                page.last_id = None;
                page.first_id = None;
                calls += 1;
                prop_assert!(state.accept(&page).is_ok());
                seen.extend(page.data);
            }
            prop_assert_eq!(seen, items);
        }
    }

    #[test]
    fn a_repeated_cursor_is_refused_and_an_empty_page_ends() {
        let mut state = PagerState::new(None);
        let page: Page<Value> =
            serde_json::from_value(json!({"object": "list", "data": [{"id": "a"}], "last_id": "a", "has_more": true}))
                .unwrap();
        assert_eq!(state.accept(&page), Ok(()));
        assert_eq!(state.accept(&page), Err("a".to_owned()));
        assert_eq!(state.next_cursor(), None);

        let mut state = PagerState::new(Some("z".to_owned()));
        assert_eq!(state.next_cursor(), Some(Some("z".to_owned())));
        let empty: Page<Value> = serde_json::from_value(json!({"data": [], "has_more": true})).unwrap();
        assert_eq!(state.accept(&empty), Ok(()));
        assert_eq!(state.next_cursor(), None);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let page: Page<Value> =
            serde_json::from_value(json!({"object": "list", "data": [], "has_more": false, "next_page": null}))
                .unwrap();
        assert!(page.extra.contains_key("next_page"));
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("file", "file-abc").is_ok());
        for bad in ["", "a/b", "..", "a?b", "a#b", "a\\b", "a\nb"] {
            assert!(check_id("file", bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_stream_follows_cursors_and_stops_on_a_loop() {
        use futures_util::StreamExt;
        let items: Vec<Value> = (0..7).map(|i| json!({"id": format!("item-{i}")})).collect();
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let fetch_items = items.clone();
        let counter = calls.clone();
        let stream = paginate(None, move |after| {
            let call = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let page = serve(&fetch_items, &[3], call, after.as_deref());
            async move { Ok(Response { body: page, meta: crate::response::ResponseMeta::default() }) }
        });
        let seen: Vec<Value> = stream.map(|item| item.unwrap()).collect().await;
        assert_eq!(seen, items);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);

        let looping = paginate(None, |_after| async {
            let page: Page<Value> =
                serde_json::from_value(json!({"data": [{"id": "same"}], "last_id": "same", "has_more": true})).unwrap();
            Ok(Response { body: page, meta: crate::response::ResponseMeta::default() })
        });
        let outcomes: Vec<Result<Value>> = looping.collect().await;
        assert_eq!(outcomes.len(), 2, "the first page's item, then the error");
        assert!(outcomes[0].is_ok());
        assert!(matches!(&outcomes[1], Err(Error::Decode(error)) if error.message.contains("same")));
    }
}
