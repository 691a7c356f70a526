//! Conversations through `aoai_core::Client` against the emulator, in both
//! URL forms: create with items and metadata, items added, listed over
//! several pages, read and deleted; 21 items refused before sending; 404s typed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use aoai_core::conversations::CreateConversation;
use aoai_core::page::{ListQuery, Order};
use aoai_core::responses::{InputItem, OutputItem, Role};
use aoai_core::retry::RetryPolicy;
use aoai_core::{Client, Error};
use aoai_emulator::Emulator;
use futures_util::TryStreamExt;
use serde_json::{Map, Value, json};

fn message(role: Role, text: &str) -> InputItem {
    InputItem::message(role, text)
}

fn json_of(items: &[OutputItem]) -> Vec<Value> {
    items.iter().map(|item| serde_json::to_value(item).unwrap()).collect()
}

#[tokio::test]
async fn conversation_lifecycle_in_both_url_forms() {
    let emulator = Emulator::start().await.unwrap();
    for (form, endpoint) in [("dated", emulator.endpoint()), ("v1", emulator.v1_endpoint())] {
        let client = Client::builder(endpoint).api_key(emulator.api_key()).retry(RetryPolicy::none()).build().unwrap();
        let created = client
            .create_conversation(
                &CreateConversation::new()
                    .item(message(Role::User, "Hello"))
                    .item(
                        serde_json::from_value(json!({"role": "assistant", "content": "Hi! How can I help?"})).unwrap(),
                    )
                    .metadata("topic", "greeting"),
            )
            .await
            .unwrap();
        assert!(created.meta.request_id.is_some());
        let conversation = created.body;
        assert!(conversation.id.starts_with("conv_"), "{form}: {conversation:?}");
        assert_eq!(conversation.object, "conversation");
        assert_eq!(conversation.metadata.as_ref().unwrap()["topic"], "greeting");
        assert_eq!(client.retrieve_conversation(&conversation.id).await.unwrap().body.id, conversation.id);

        let mut metadata = Map::new();
        metadata.insert("topic".to_owned(), json!("support"));
        let updated = client.update_conversation(&conversation.id, metadata).await.unwrap().body;
        assert_eq!(updated.metadata.unwrap()["topic"], "support");

        let added = client
            .add_conversation_items(
                &conversation.id,
                &[
                    message(Role::User, "What is the leave policy?"),
                    InputItem::function_call_output("call_1", "{\"days\":25}"),
                    message(Role::Assistant, "Twenty-five days."),
                ],
            )
            .await
            .unwrap()
            .body;
        let added_ids: Vec<Option<String>> = added.data.iter().map(|item| item.id().map(str::to_owned)).collect();
        let added = json_of(&added.data);
        assert_eq!(added.len(), 3);
        assert!(added_ids.iter().all(|id| id.as_ref().is_some_and(|id| !id.is_empty())), "{added:?}");
        assert_eq!(added[0]["content"][0]["type"], "input_text");
        assert_eq!(added[2]["content"][0]["type"], "output_text");

        let oldest_first: Vec<OutputItem> = client
            .list_conversation_items(&conversation.id, &ListQuery::new().limit(2).order(Order::Asc))
            .try_collect()
            .await
            .unwrap();
        let typed = oldest_first.clone();
        let oldest_first = json_of(&oldest_first);
        assert_eq!(oldest_first.len(), 5, "{form}: five items over three pages");
        assert_eq!(oldest_first[0]["content"][0]["text"], "Hello");
        assert_eq!(oldest_first[1]["content"][0]["type"], "output_text");
        assert_eq!(oldest_first[3]["type"], "function_call_output");
        let newest_first: Vec<OutputItem> =
            client.list_conversation_items(&conversation.id, &ListQuery::new().limit(2)).try_collect().await.unwrap();
        assert_eq!(newest_first.first(), typed.last());
        assert!(matches!(&typed[3], OutputItem::FunctionCallOutput(output) if output.call_id == "call_1"));
        assert!(matches!(&typed[0], OutputItem::Message(message) if message.text() == "Hello"));

        let item_id = oldest_first[2]["id"].as_str().unwrap();
        let item = client.retrieve_conversation_item(&conversation.id, item_id).await.unwrap().body;
        assert_eq!(item, typed[2]);
        let after_delete = client.delete_conversation_item(&conversation.id, item_id).await.unwrap().body;
        assert_eq!(after_delete.id, conversation.id);
        let missing = client.retrieve_conversation_item(&conversation.id, item_id).await.unwrap_err();
        assert!(missing.is_not_found(), "{form}: {missing:?}");

        // 21 items: refused by the client before anything is sent.
        let too_many: Vec<InputItem> = (0..21).map(|index| message(Role::User, &format!("m{index}"))).collect();
        let refused = client.add_conversation_items(&conversation.id, &too_many).await.unwrap_err();
        assert!(matches!(refused, Error::InvalidRequest(_)), "{refused:?}");
        assert!(!refused.may_have_been_sent());
        let refused = client.create_conversation(&CreateConversation::new().items(too_many.clone())).await.unwrap_err();
        assert!(matches!(refused, Error::InvalidRequest(_)));
        assert!(matches!(client.add_conversation_items(&conversation.id, &[]).await, Err(Error::InvalidRequest(_))));
        // The emulator refuses them too, naming the parameter.
        let key = emulator.api_key();
        let raw = support::post_json(
            emulator.addr(),
            &format!("/openai/v1/conversations/{}/items", conversation.id),
            key.expose(),
            &json!({"items": too_many}).to_string(),
        )
        .await;
        assert_eq!(raw.status, 400);
        assert_eq!(raw.json()["error"]["param"], "items");
        let raw = support::post_json(
            emulator.addr(),
            &format!("/openai/v1/conversations/{}/items", conversation.id),
            key.expose(),
            r#"{"items":[{"role":"user","content":"ok"},{"content":"no type"}]}"#,
        )
        .await;
        assert_eq!(raw.status, 400);
        assert_eq!(raw.json()["error"]["param"], "items[1]");

        let deleted = client.delete_conversation(&conversation.id).await.unwrap().body;
        assert_eq!((deleted.object.as_str(), deleted.deleted), ("conversation.deleted", true));
        let error = client.retrieve_conversation(&conversation.id).await.unwrap_err();
        assert!(error.is_not_found());
        assert_eq!(error.status(), Some(404));
        assert!(error.request_id().is_some());
        let error = client.add_conversation_items(&conversation.id, &[message(Role::User, "x")]).await.unwrap_err();
        assert!(error.is_not_found());
    }
}
