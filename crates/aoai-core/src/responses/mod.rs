//! The Responses API: Azure's current generation of model calls, the
//! successor of chat completions and of the retired Assistants API.
//!
//! | module | what |
//! |---|---|
//! | [`request`](ResponseRequest) | `POST /responses`'s body: `input` (text or [`InputItem`]s), `instructions`, `previous_response_id`, `conversation`, `store`, `background`, [`ResponseTool`]s (`function`, `file_search`, others passed through), `tool_choice`, `text.format`, `reasoning`, `include`, … |
//! | [`ResponseObject`] | the response: [`ResponseStatus`], [`OutputItem`]s (`message` with `output_text` and its [`Annotation`]s — `file_citation`, `url_citation`, … —, `function_call`, `file_search_call`, `reasoning`), [`ResponseUsage`], `error`, `incomplete_details`, Azure's `content_filters` |
//! | [`ResponseStreamEvent`] | a stream's typed events, numbered by `sequence_number` |
//! | [`ResponseStream`] | the events over an HTTP body; a body that ends before `response.completed`/`.incomplete`/`.failed` is an error |
//! | [`ResponseAccumulator`] | the final response rebuilt from the events |
//! | [`wait_for_response`] | polls a background response to its end |
//!
//! The calls are methods of [`Client`](crate::Client) and of the
//! [`ResponsesApi`](crate::ResponsesApi) trait, which layers (caches,
//! guards, metrics) wrap: `create_response`, `create_response_stream`,
//! `get_response`, `delete_response`, `cancel_response`; plus
//! `resume_response_stream` and `wait_for_response` on the client. Routes are
//! resource-scoped (`/openai/v1/responses`, or `/openai/responses?api-version=`
//! on a classic endpoint — never `/openai/deployments/{d}/responses`, the
//! most common 404 in other SDKs); the deployment is the body's `model`.
//!
//! Parsing never fails on an unknown field, item, content part, annotation,
//! tool or event type: fields land in `extra` maps, objects of unknown types
//! in `Other` variants, whole.
//!
//! ```no_run
//! use aoai_core::responses::{ResponseRequest, ResponseEvent};
//! use futures_util::StreamExt;
//! # async fn demo(client: aoai_core::Client) -> aoai_core::Result<()> {
//! let first = client.create_response("gpt-4o", &ResponseRequest::new("Name a colour.")).await?;
//! let follow_up = ResponseRequest::new("And another one?").previous_response_id(first.body.id.clone());
//! let mut stream = client.create_response_stream("gpt-4o", &follow_up).await?;
//! while let Some(event) = stream.next().await {
//!     if let ResponseEvent::OutputTextDelta { delta, .. } = event?.event {
//!         print!("{delta}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod accumulate;
mod calls;
mod event;
mod items;
mod object;
mod request;
mod stream;
pub(crate) mod tagged;

pub use crate::poll::PollOptions;
pub use accumulate::ResponseAccumulator;
pub use calls::wait_for_response;
pub use event::{EventDecodeError, PartRef, ResponseEvent, ResponseStreamEvent, kinds};
pub use items::{
    Annotation, ContainerFileCitation, ContentPart, FileCitation, FileSearchCall, FileSearchResult, FunctionCall,
    FunctionCallOutput, InputFile, InputImage, InputItem, InputText, ItemReference, ItemStatus, Message,
    MessageContent, OutputItem, OutputText, Reasoning, Refusal, Role, UrlCitation,
};
pub use object::{
    ContentFilterOffsets, IncompleteDetails, InputTokensDetails, OutputTokensDetails, ResponseContentFilter,
    ResponseDeleted, ResponseError, ResponseObject, ResponseStatus, ResponseUsage,
};
pub use request::{
    ConversationRef, FileSearchTool, FunctionTool, Input, JsonSchemaFormat, PlainFormat, ReasoningConfig,
    ResponseRequest, ResponseTool, ResponseToolChoice, TextConfig, TextFormat, ToolChoiceMode, Truncation, include,
};
pub use stream::ResponseStream;
