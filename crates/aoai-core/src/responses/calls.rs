//! The Responses API calls on [`Client`], and polling a background response.
//!
//! Every route is resource-scoped — `{endpoint}/openai/v1/responses` or
//! `{endpoint}/openai/responses?api-version=…`, never below
//! `/deployments/{d}` — and the deployment travels as `"model"` in the body
//! on every endpoint shape. On a classic Azure endpoint configured with an
//! API version older than the Responses API, the calls use
//! [`RESPONSES_API_VERSION`].

use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::items::OutputItem;
use super::object::{ResponseDeleted, ResponseObject};
use super::request::ResponseRequest;
use super::stream::{ResponseObserver, ResponseStream};
use crate::api::ResponsesApi;
use crate::client::{Client, RequestOptions};
use crate::clock::{SystemClock, Time};
use crate::error::{Error, InvalidRequestError, Result};
use crate::metrics::TokenUsage;
use crate::page::{ListQuery, Page, Pages, paginate};
use crate::poll::{PollOptions, Poller};
use crate::response::Response;
use crate::routing::{RESPONSES_API_VERSION, Route};

fn options(operation: &'static str) -> RequestOptions {
    RequestOptions::new(operation).min_api_version(RESPONSES_API_VERSION)
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.contains(['/', '?', '#', '\\']) || id == "." || id == ".." {
        return Err(Error::InvalidRequest(InvalidRequestError::new(format!("{id:?} is not a response id"))));
    }
    Ok(())
}

fn request_body(deployment: &str, request: &ResponseRequest, stream: bool) -> Result<Value> {
    crate::routing::validate_deployment(deployment)?;
    request.validate()?;
    let mut body = serde_json::to_value(request).map_err(|error| {
        Error::InvalidRequest(InvalidRequestError {
            message: format!("cannot encode the request: {error}"),
            source: Some(Box::new(error)),
        })
    })?;
    if let Value::Object(map) = &mut body {
        map.entry("model").or_insert_with(|| Value::String(deployment.to_owned()));
        if stream {
            map.insert("stream".to_owned(), Value::Bool(true));
        } else {
            map.remove("stream");
        }
    }
    Ok(body)
}

impl Client {
    /// Creates a response on `deployment` (sent as `"model"`). With
    /// `background: true` the answer comes back `queued` or `in_progress`:
    /// poll with [`wait_for_response`].
    ///
    /// ```no_run
    /// use aoai_core::responses::ResponseRequest;
    /// # async fn demo(client: aoai_core::Client) -> aoai_core::Result<()> {
    /// let response = client.create_response("gpt-4o", &ResponseRequest::new("Say hello")).await?;
    /// println!("{} ({})", response.body.output_text(), response.body.id);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_response(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> Result<Response<ResponseObject>> {
        let body = request_body(deployment, request, false)?;
        let started = self.time().clock.now();
        let result = self
            .send_with::<ResponseObject>(
                Method::POST,
                Route::Resource { path: "responses" },
                Some(&body),
                &options("responses.create"),
            )
            .await;
        let usage = result
            .as_ref()
            .ok()
            .and_then(|response| response.body.usage.as_ref())
            .map(TokenUsage::from)
            .unwrap_or_default();
        self.record_call(
            "responses.create",
            Some(deployment),
            started,
            result.as_ref().map(|response| &response.meta),
            usage,
        );
        result
    }

    /// Starts a streamed response on `deployment`. Retries happen only
    /// before the response headers arrive.
    pub async fn create_response_stream(&self, deployment: &str, request: &ResponseRequest) -> Result<ResponseStream> {
        let body = request_body(deployment, request, true)?;
        let started = self.time().clock.now();
        let (meta, bytes) = self
            .request_event_stream(
                Method::POST,
                Route::Resource { path: "responses" },
                Some(&body),
                &options("responses.create_stream"),
            )
            .await?;
        let observer = ResponseObserver {
            recorder: self.metrics().clone(),
            clock: self.time().clock.clone(),
            started,
            deployment: Some(deployment.to_owned()),
        };
        Ok(ResponseStream::new(bytes, meta, self.stream_idle_timeout(), Arc::new(SystemClock)).with_observer(observer))
    }

    /// Reads a stored response. `include` asks for extra output (see
    /// [`include`](super::include)).
    pub async fn get_response(&self, id: &str, include: &[&str]) -> Result<Response<ResponseObject>> {
        check_id(id)?;
        let path = format!("responses/{id}");
        let mut options = options("responses.get");
        for what in include {
            options = options.query("include[]", *what);
        }
        self.request_json_with(Method::GET, Route::Resource { path: &path }, None, &options).await
    }

    /// Deletes a stored response.
    pub async fn delete_response(&self, id: &str) -> Result<Response<ResponseDeleted>> {
        check_id(id)?;
        let path = format!("responses/{id}");
        self.request_json_with(Method::DELETE, Route::Resource { path: &path }, None, &options("responses.delete"))
            .await
    }

    /// Cancels a background response (idempotent: cancelling a cancelled
    /// response answers it again).
    pub async fn cancel_response(&self, id: &str) -> Result<Response<ResponseObject>> {
        check_id(id)?;
        let path = format!("responses/{id}/cancel");
        self.request_json_with(Method::POST, Route::Resource { path: &path }, None, &options("responses.cancel")).await
    }

    /// Streams a background response that was created with `stream: true`,
    /// from the event after `starting_after` (from the start with `None`):
    /// how a dropped stream is resumed.
    pub async fn resume_response_stream(&self, id: &str, starting_after: Option<u64>) -> Result<ResponseStream> {
        check_id(id)?;
        let path = format!("responses/{id}");
        let options = options("responses.resume_stream")
            .query("stream", "true")
            .query_opt("starting_after", starting_after.map(|number| number.to_string()));
        let started = self.time().clock.now();
        let (meta, bytes) =
            self.request_event_stream(Method::GET, Route::Resource { path: &path }, None, &options).await?;
        let observer = ResponseObserver {
            recorder: self.metrics().clone(),
            clock: self.time().clock.clone(),
            started,
            deployment: None,
        };
        Ok(ResponseStream::new(bytes, meta, self.stream_idle_timeout(), Arc::new(SystemClock)).with_observer(observer))
    }

    /// One page of the items a stored response was given as input (its
    /// `input_items`), after `cursor` (else `query.after`).
    pub async fn list_response_input_items_page(
        &self,
        id: &str,
        query: &ListQuery,
        cursor: Option<&str>,
    ) -> Result<Response<Page<OutputItem>>> {
        check_id(id)?;
        let path = format!("responses/{id}/input_items");
        let options = query.apply(options("responses.input_items"), cursor);
        self.request_json_with(Method::GET, Route::Resource { path: &path }, None, &options).await
    }

    /// Every input item of a stored response, following the `after`
    /// cursors page by page (see [`paginate`] for the bounds).
    pub fn list_response_input_items(&self, id: &str, query: &ListQuery) -> Pages<'static, OutputItem> {
        let client = self.clone();
        let query = query.clone();
        let id = id.to_owned();
        paginate(query.after.clone(), move |cursor| {
            let client = client.clone();
            let query = query.clone();
            let id = id.clone();
            async move { client.list_response_input_items_page(&id, &query, cursor.as_deref()).await }
        })
    }

    /// Waits for a background response to finish: [`wait_for_response`]
    /// with this client's clock.
    pub async fn wait_for_response(&self, id: &str, options: &PollOptions) -> Result<Response<ResponseObject>> {
        wait_for_response(self, id, options, self.time()).await
    }
}

/// Polls `GET /responses/{id}` until the response is completed, incomplete,
/// failed or cancelled, waiting longer between polls (on `time`, so tests
/// drive it with a manual clock). Past the deadline it fails with a
/// [`TimeoutKind::Deadline`] timeout; the response keeps running — cancel it
/// with [`ResponsesApi::cancel_response`] if it should not.
pub async fn wait_for_response<A: ResponsesApi + ?Sized>(
    api: &A,
    id: &str,
    options: &PollOptions,
    time: &Time,
) -> Result<Response<ResponseObject>> {
    let mut poller = Poller::new(options, time);
    loop {
        let response = api.get_response(id, &[]).await?;
        if response.body.status.is_terminal() {
            return Ok(response);
        }
        poller.wait().await.map_err(Error::Timeout)?;
    }
}

#[async_trait::async_trait]
impl ResponsesApi for Client {
    async fn create_response(&self, deployment: &str, request: &ResponseRequest) -> Result<Response<ResponseObject>> {
        Client::create_response(self, deployment, request).await
    }

    async fn create_response_stream(&self, deployment: &str, request: &ResponseRequest) -> Result<ResponseStream> {
        Client::create_response_stream(self, deployment, request).await
    }

    async fn get_response(&self, id: &str, include: &[&str]) -> Result<Response<ResponseObject>> {
        Client::get_response(self, id, include).await
    }

    async fn delete_response(&self, id: &str) -> Result<Response<ResponseDeleted>> {
        Client::delete_response(self, id).await
    }

    async fn cancel_response(&self, id: &str) -> Result<Response<ResponseObject>> {
        Client::cancel_response(self, id).await
    }

    async fn resume_response_stream(&self, id: &str, starting_after: Option<u64>) -> Result<ResponseStream> {
        Client::resume_response_stream(self, id, starting_after).await
    }
}
