//! Azure AI Search, emulated: indexes, document batches, lookups and
//! keyword/vector/hybrid search with filters, over HTTP on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::net::SocketAddr;

use aoai_emulator::{Emulator, EmulatorHandle};
use serde_json::{Value, json};
use support::{RawResponse, raw};

const VERSION: &str = "api-version=2025-09-01";

async fn emulator() -> EmulatorHandle {
    Emulator::builder().key("admin-key").start().await.unwrap()
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: &Value) -> RawResponse {
    let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(body).unwrap() };
    raw(addr, method, path, &[("api-key", "admin-key"), ("Content-Type", "application/json")], &body).await.unwrap()
}

fn definition() -> Value {
    json!({
        "name": "docs",
        "fields": [
            {"name": "id", "type": "Edm.String", "key": true},
            {"name": "content", "type": "Edm.String"},
            {"name": "title", "type": "Edm.String"},
            {"name": "source", "type": "Edm.String", "searchable": false},
            {"name": "tags", "type": "Collection(Edm.String)", "searchable": false},
            {"name": "rank", "type": "Edm.Int32"},
            {"name": "public", "type": "Edm.Boolean"},
            {"name": "secret", "type": "Edm.String", "retrievable": false},
            {"name": "embedding", "type": "Collection(Edm.Single)", "dimensions": 3, "vectorSearchProfile": "p",
             "retrievable": false, "stored": true},
        ],
        "vectorSearch": {
            "algorithms": [{"name": "h", "kind": "hnsw", "hnswParameters": {"metric": "cosine", "m": 4}}],
            "profiles": [{"name": "p", "algorithm": "h"}],
        },
        "someFutureSetting": {"kept": true},
    })
}

fn documents() -> Value {
    json!({"value": [
        {"@search.action": "upload", "id": "1", "content": "The cache stores chat completions.", "title": "Caching",
         "source": "docs/cache.md", "tags": ["en", "cache"], "rank": 1, "public": true, "secret": "s1",
         "embedding": [1.0, 0.0, 0.0]},
        {"@search.action": "upload", "id": "2", "content": "A crashed batch resumes from its journal.", "title": "Batching",
         "source": "docs/batch.md", "tags": ["en"], "rank": 2, "public": false, "embedding": [0.0, 1.0, 0.0]},
        {"@search.action": "mergeOrUpload", "id": "3", "content": "Guards block forbidden words; the cache is not involved.",
         "title": "Safety", "source": "notes/it's.md", "tags": ["fr"], "rank": 3, "public": true,
         "embedding": [0.0, 0.6, 0.8]},
    ]})
}

async fn setup() -> (EmulatorHandle, SocketAddr) {
    let emulator = emulator().await;
    let addr = emulator.addr();
    let created = call(addr, "PUT", &format!("/indexes/docs?{VERSION}"), &definition()).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let indexed = call(addr, "POST", &format!("/indexes/docs/docs/index?{VERSION}"), &documents()).await;
    assert_eq!(indexed.status, 200, "{}", indexed.text());
    (emulator, addr)
}

async fn search(addr: SocketAddr, body: Value) -> RawResponse {
    call(addr, "POST", &format!("/indexes/docs/docs/search?{VERSION}"), &body).await
}

fn keys(response: &RawResponse) -> Vec<String> {
    response.json()["value"].as_array().unwrap().iter().map(|doc| doc["id"].as_str().unwrap().to_owned()).collect()
}

fn error_message(response: &RawResponse) -> String {
    response.json()["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn keys_and_api_versions_are_checked_in_azure_search_shape() {
    let emulator = emulator().await;
    let addr = emulator.addr();
    let none = raw(addr, "GET", &format!("/indexes?{VERSION}"), &[], b"").await.unwrap();
    assert_eq!(none.status, 401);
    assert!(none.json()["error"]["message"].is_string());
    let wrong = raw(addr, "GET", &format!("/indexes?{VERSION}"), &[("api-key", "nope")], b"").await.unwrap();
    assert_eq!(wrong.status, 403);
    assert!(wrong.json()["error"]["code"].is_string());
    let bearer =
        raw(addr, "GET", &format!("/indexes?{VERSION}"), &[("Authorization", "Bearer admin-key")], b"").await.unwrap();
    assert_eq!(bearer.status, 200, "{}", bearer.text());
    assert_eq!(bearer.json(), json!({"value": []}));
    for path in ["/indexes", "/indexes?api-version=2024-07-01"] {
        let response = call(addr, "GET", path, &Value::Null).await;
        assert_eq!(response.status, 400, "{path}");
        assert!(error_message(&response).contains("api-version"));
    }
}

#[tokio::test]
async fn indexes_are_created_read_listed_updated_and_deleted() {
    let (_emulator, addr) = setup().await;
    let index = call(addr, "GET", &format!("/indexes/docs?{VERSION}"), &Value::Null).await;
    assert_eq!(index.status, 200);
    let index = index.json();
    assert_eq!(index["name"], "docs");
    assert_eq!(index["someFutureSetting"], json!({"kept": true}));
    assert_eq!(index["fields"][1]["searchable"], true);
    assert_eq!(index["fields"][3]["searchable"], false);
    assert_eq!(index["fields"][8]["filterable"], false);

    // POST creates; a second POST of the same name conflicts.
    let mut other = definition();
    other["name"] = json!("other");
    assert_eq!(call(addr, "POST", &format!("/indexes?{VERSION}"), &other).await.status, 201);
    assert_eq!(call(addr, "POST", &format!("/indexes?{VERSION}"), &other).await.status, 409);
    let list = call(addr, "GET", &format!("/indexes?{VERSION}"), &Value::Null).await.json();
    let names: Vec<&str> = list["value"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["docs", "other"]);

    // An update may add a field and keeps the documents; it may not change one.
    let mut added = definition();
    added["fields"].as_array_mut().unwrap().push(json!({"name": "extra", "type": "Edm.Double"}));
    let updated = call(addr, "PUT", &format!("/indexes/docs?{VERSION}"), &added).await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    let count = call(addr, "GET", &format!("/indexes/docs/docs/$count?{VERSION}"), &Value::Null).await;
    assert_eq!((count.status, count.text()), (200, "3".to_owned()));
    assert_eq!(keys(&search(addr, json!({"search": "journal"})).await), ["2"]);
    let mut changed = added.clone();
    changed["fields"][1]["type"] = json!("Edm.Int32");
    let refused = call(addr, "PUT", &format!("/indexes/docs?{VERSION}"), &changed).await;
    assert_eq!(refused.status, 400);
    assert!(error_message(&refused).contains("content"), "{}", refused.text());

    // Bad definitions.
    let bad = [
        json!({"name": "x_bad", "fields": [{"name": "id", "type": "Edm.String", "key": true}]}),
        json!({"name": "nokey", "fields": [{"name": "id", "type": "Edm.String"}]}),
        json!({"name": "geo", "fields": [{"name": "id", "type": "Edm.String", "key": true},
                                         {"name": "at", "type": "Edm.GeographyPoint"}]}),
        json!({"name": "vec", "fields": [{"name": "id", "type": "Edm.String", "key": true},
                                         {"name": "v", "type": "Collection(Edm.Single)", "dimensions": 3,
                                          "vectorSearchProfile": "missing"}]}),
        json!({"name": "dot", "fields": [{"name": "id", "type": "Edm.String", "key": true},
                                         {"name": "v", "type": "Collection(Edm.Single)", "dimensions": 3,
                                          "vectorSearchProfile": "p"}],
               "vectorSearch": {"algorithms": [{"name": "h", "kind": "hnsw", "hnswParameters": {"metric": "dotProduct"}}],
                                "profiles": [{"name": "p", "algorithm": "h"}]}}),
    ];
    for body in bad {
        let response = call(addr, "POST", &format!("/indexes?{VERSION}"), &body).await;
        assert_eq!(response.status, 400, "{body}");
        assert!(response.json()["error"]["message"].is_string());
    }

    assert_eq!(call(addr, "DELETE", &format!("/indexes/other?{VERSION}"), &Value::Null).await.status, 204);
    assert_eq!(call(addr, "DELETE", &format!("/indexes/other?{VERSION}"), &Value::Null).await.status, 404);
    let missing = call(addr, "GET", &format!("/indexes/other/docs/1?{VERSION}"), &Value::Null).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn document_batches_report_each_document_and_207_on_partial_failure() {
    let (_emulator, addr) = setup().await;
    let path = format!("/indexes/docs/docs/index?{VERSION}");
    let batch = json!({"value": [
        {"@search.action": "merge", "id": "1", "rank": 10},
        {"@search.action": "merge", "id": "404", "rank": 10},
        {"@search.action": "upload", "id": "bad key!", "content": "x"},
        {"@search.action": "upload", "id": "4", "content": "fresh document about quotas"},
        {"@search.action": "delete", "id": "2"},
        {"@search.action": "delete", "id": "never-existed"},
    ]});
    let response = call(addr, "POST", &path, &batch).await;
    assert_eq!(response.status, 207, "{}", response.text());
    let results = response.json()["value"].clone();
    let summary: Vec<(String, bool, i64)> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["key"].as_str().unwrap().to_owned(), r["status"].as_bool().unwrap(), r["statusCode"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("1".to_owned(), true, 200),
            ("404".to_owned(), false, 404),
            ("bad key!".to_owned(), false, 400),
            ("4".to_owned(), true, 201),
            ("2".to_owned(), true, 200),
            ("never-existed".to_owned(), true, 200),
        ]
    );
    assert_eq!(results[1]["errorMessage"], "Document not found.");
    assert!(results[0]["errorMessage"].is_null());

    // The merge kept the other fields; the non-retrievable field is never returned.
    let one = call(addr, "GET", &format!("/indexes/docs/docs/1?{VERSION}"), &Value::Null).await.json();
    assert_eq!(one["rank"], 10);
    assert_eq!(one["title"], "Caching");
    assert!(one.get("secret").is_none() && one.get("embedding").is_none());
    let selected = call(addr, "GET", &format!("/indexes/docs/docs/1?{VERSION}&$select=id,rank"), &Value::Null).await;
    assert_eq!(selected.json(), json!({"id": "1", "rank": 10}));
    assert_eq!(call(addr, "GET", &format!("/indexes/docs/docs/2?{VERSION}"), &Value::Null).await.status, 404);
    let count = call(addr, "GET", &format!("/indexes/docs/docs/$count?{VERSION}"), &Value::Null).await;
    assert_eq!(count.text(), "3");
    // GET search is not emulated: a clear 405, not "no document with the key 'search'".
    let get_search =
        call(addr, "GET", &format!("/indexes/docs/docs/search?{VERSION}&search=cache"), &Value::Null).await;
    assert_eq!(get_search.status, 405);
    // The merged document is searchable under its new content, the deleted one gone.
    assert_eq!(keys(&search(addr, json!({"search": "quotas"})).await), ["4"]);
    assert!(keys(&search(addr, json!({"search": "journal"})).await).is_empty());

    // A whole batch fails on a wrong vector length, an unknown field or a wrong type.
    for document in [
        json!({"id": "5", "embedding": [1.0, 2.0]}),
        json!({"id": "5", "nope": 1}),
        json!({"id": "5", "rank": "three"}),
        json!({"id": "5", "tags": "not-a-list"}),
        json!({"content": "no key"}),
    ] {
        let response = call(addr, "POST", &path, &json!({"value": [{"id": "6", "content": "ok"}, document]})).await;
        assert_eq!(response.status, 400, "{}", response.text());
    }
    assert_eq!(call(addr, "GET", &format!("/indexes/docs/docs/6?{VERSION}"), &Value::Null).await.status, 404);
    let dimension = call(addr, "POST", &path, &json!({"value": [{"id": "5", "embedding": [1.0, 2.0]}]})).await;
    assert!(error_message(&dimension).contains("dimensionality"), "{}", dimension.text());
}

#[tokio::test]
async fn keyword_search_pages_counts_selects_and_filters() {
    let (_emulator, addr) = setup().await;
    let response = search(addr, json!({"search": "cache", "count": true, "select": "id, title"})).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["@odata.count"], 2);
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 2);
    // BM25 scores, best first; only the selected fields.
    assert!(value[0]["@search.score"].as_f64().unwrap() >= value[1]["@search.score"].as_f64().unwrap());
    assert!(value[0]["@search.score"].as_f64().unwrap() > 0.0);
    let mut fields: Vec<&String> = value[0].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["@search.score", "id", "title"]);
    // searchFields restricts the keyword list.
    assert_eq!(keys(&search(addr, json!({"search": "safety", "searchFields": "content"})).await), Vec::<String>::new());
    assert_eq!(keys(&search(addr, json!({"search": "safety", "searchFields": "title"})).await), ["3"]);

    // `*` matches everything (score 1), with paging and count.
    let all = search(addr, json!({"search": "*", "count": true, "top": 2, "skip": 1})).await.json();
    assert_eq!(all["@odata.count"], 3);
    assert_eq!(all["value"].as_array().unwrap().len(), 2);
    assert_eq!(all["value"][0]["@search.score"], 1.0);
    assert!(all.get("@odata.context").is_some());

    for (filter, expected) in [
        ("rank ge 2 and public eq true", vec!["3"]),
        ("rank lt 2 or source eq 'notes/it''s.md'", vec!["1", "3"]),
        ("not public", vec!["2"]),
        ("tags/any(t: t eq 'en')", vec!["1", "2"]),
        ("tags/any(t: search.in(t, 'fr,de'))", vec!["3"]),
        ("search.in(source, 'docs/cache.md|docs/batch.md', '|')", vec!["1", "2"]),
        ("title eq null", vec![]),
        ("(rank eq 1 or rank eq 2) and tags/all(t: t ne 'cache')", vec!["2"]),
    ] {
        let mut got = keys(&search(addr, json!({"search": "*", "filter": filter})).await);
        got.sort();
        assert_eq!(got, expected, "{filter}");
    }
    // A filter applies to the keyword list too.
    assert_eq!(keys(&search(addr, json!({"search": "cache", "filter": "tags/any(t: t eq 'fr')"})).await), ["3"]);

    for (body, needle) in [
        (json!({"filter": "geo.distance(location, geography'POINT(0 0)') le 10"}), "Invalid expression"),
        (json!({"filter": "content eq 'x' and"}), "Invalid expression"),
        (json!({"filter": "rank eq 'one'"}), "Invalid expression"),
        (json!({"filter": "embedding eq 1"}), "not filterable"),
        (json!({"filter": "nope eq 1"}), "nope"),
        (json!({"search": "\"exact phrase\""}), "plain words"),
        (json!({"search": "cache -redis"}), "plain words"),
        (json!({"search": "cach*"}), "plain words"),
        (json!({"queryType": "semantic", "search": "cache"}), "no semantic ranker"),
        (json!({"queryType": "full", "search": "cache"}), "queryType"),
        (json!({"search": "cache", "orderby": "rank desc"}), "orderby"),
        (json!({"search": "cache", "scoringProfile": "none"}), "scoring profile"),
        (json!({"search": "cache", "searchFields": "rank"}), "searchFields"),
        (json!({"select": "secret"}), "not retrievable"),
        (json!({"top": -1}), "top"),
    ] {
        let response = search(addr, body.clone()).await;
        assert_eq!(response.status, 400, "{body}: {}", response.text());
        let message = error_message(&response);
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[tokio::test]
async fn vector_and_hybrid_search_score_as_azure_does() {
    let (_emulator, addr) = setup().await;
    // Pure vector: cosine similarity c gives @search.score 1 / (2 - c); k bounds the list.
    let vector = search(
        addr,
        json!({"vectorQueries": [{"kind": "vector", "vector": [0.0, 1.0, 0.0], "fields": "embedding", "k": 2,
                                  "exhaustive": true}], "count": true}),
    )
    .await;
    assert_eq!(vector.status, 200, "{}", vector.text());
    let body = vector.json();
    assert_eq!(keys(&vector), ["2", "3"]);
    assert_eq!(body["@odata.count"], 2);
    let scores: Vec<f64> =
        body["value"].as_array().unwrap().iter().map(|d| d["@search.score"].as_f64().unwrap()).collect();
    assert!((scores[0] - 1.0).abs() < 1e-6, "{scores:?}");
    assert!((scores[1] - 1.0 / (2.0 - 0.6)).abs() < 1e-6, "{scores:?}");
    // The filter applies before ranking: the best accepted records fill k.
    let filtered = search(
        addr,
        json!({"vectorQueries": [{"kind": "vector", "vector": [0.0, 1.0, 0.0], "fields": "embedding", "k": 1}],
               "filter": "public eq true"}),
    )
    .await;
    assert_eq!(keys(&filtered), ["3"]);

    // Hybrid: reciprocal-rank fusion, @search.score = sum of weight / (60 + rank).
    let hybrid = search(
        addr,
        json!({"search": "cache", "vectorQueries": [{"kind": "vector", "vector": [0.0, 0.6, 0.8], "fields": "embedding",
                                                       "k": 3, "weight": 2.0}]}),
    )
    .await;
    assert_eq!(hybrid.status, 200, "{}", hybrid.text());
    let keyword = keys(&search(addr, json!({"search": "cache"})).await);
    let vector = keys(
        &search(
            addr,
            json!({"vectorQueries": [{"kind": "vector", "vector": [0.0, 0.6, 0.8], "fields": "embedding", "k": 3}]}),
        )
        .await,
    );
    let rrf = |list: &[String], id: &str, weight: f64| {
        list.iter().position(|x| x == id).map_or(0.0, |position| weight / (60.0 + position as f64 + 1.0))
    };
    let body = hybrid.json();
    let documents = body["value"].as_array().unwrap();
    assert_eq!(documents.len(), 3);
    for document in documents {
        let id = document["id"].as_str().unwrap();
        let expected = rrf(&keyword, id, 1.0) + rrf(&vector, id, 2.0);
        assert!((document["@search.score"].as_f64().unwrap() - expected).abs() < 1e-9, "{id}");
    }
    assert_eq!(documents[0]["id"], "3");

    for (body, needle) in [
        (json!({"vectorQueries": [{"kind": "vector", "vector": [1.0, 0.0], "fields": "embedding"}]}), "dimensions"),
        (
            json!({"vectorQueries": [{"kind": "vector", "vector": [1.0, 0.0, 0.0], "fields": "content"}]}),
            "vector field",
        ),
        (json!({"vectorQueries": [{"kind": "text", "text": "cache", "fields": "embedding"}]}), "kind"),
        (
            json!({"vectorQueries": [{"kind": "vector", "vector": [1.0, 0.0, 0.0], "fields": "embedding"}],
                "vectorFilterMode": "postFilter"}),
            "postFilter",
        ),
    ] {
        let response = search(addr, body.clone()).await;
        assert_eq!(response.status, 400, "{body}: {}", response.text());
        assert!(error_message(&response).contains(needle), "{body}: {}", response.text());
    }
}

#[tokio::test]
async fn escaped_operators_are_text_and_unescaped_ones_are_refused() {
    let (_emulator, addr) = setup().await;
    // Every special character escaped: plain punctuation, split like any other.
    let escaped = r#"\"crashed\" \-batch \(journal\)\* \+\+ \| a\~ \\ \/ \? \: \[x\] \{y\} \^ \! \&"#;
    let response = search(addr, json!({"search": escaped})).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(keys(&response)[0], "2");
    // AND, OR and NOT are words in the simple syntax (its operators are + | -), escaped or not.
    for text in [r"\AND cache", "AND cache", "cache AND"] {
        let response = search(addr, json!({"search": text})).await;
        assert_eq!(response.status, 200, "{text}: {}", response.text());
        assert_eq!(keys(&response), ["1", "3"], "{text}");
    }
    // Unescaped operators, or an escape at the very end, are still refused.
    for text in [r#""crashed batch""#, "-batch", "journal*", "a | b", r"cache \", r"\-cache -batch", "(cache)"] {
        let response = search(addr, json!({"search": text})).await;
        assert_eq!(response.status, 400, "{text}: {}", response.text());
    }
}

#[tokio::test]
async fn scoring_profiles_weigh_text_fields() {
    let emulator = emulator().await;
    let addr = emulator.addr();
    let mut definition = json!({
        "name": "profiled",
        "fields": [
            {"name": "id", "type": "Edm.String", "key": true},
            {"name": "title", "type": "Edm.String"},
            {"name": "content", "type": "Edm.String"},
            {"name": "embedding", "type": "Collection(Edm.Single)", "dimensions": 2, "vectorSearchProfile": "p"},
        ],
        "vectorSearch": {"algorithms": [{"name": "h", "kind": "hnsw"}], "profiles": [{"name": "p", "algorithm": "h"}]},
        "scoringProfiles": [{"name": "titles", "text": {"weights": {"title": 2}}}],
    });
    let created = call(addr, "PUT", &format!("/indexes/profiled?{VERSION}"), &definition).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["scoringProfiles"][0]["name"], "titles");
    // "quota" is the title of 1 and thrice in the body of 2; 3 is unrelated.
    let documents = json!({"value": [
        {"@search.action": "upload", "id": "1", "title": "quota", "content": "limits per region",
         "embedding": [1.0, 0.0]},
        {"@search.action": "upload", "id": "2", "title": "scheduler", "content": "quota quota quota",
         "embedding": [0.0, 1.0]},
        {"@search.action": "upload", "id": "3", "title": "cache", "content": "stores answers", "embedding": [0.6, 0.8]},
    ]});
    let indexed = call(addr, "POST", &format!("/indexes/profiled/docs/index?{VERSION}"), &documents).await;
    assert_eq!(indexed.status, 200, "{}", indexed.text());
    let search = |body: Value| async move {
        let response = call(addr, "POST", &format!("/indexes/profiled/docs/search?{VERSION}"), &body).await;
        assert_eq!(response.status, 200, "{}", response.text());
        let scores: Vec<(String, f64)> = response.json()["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|doc| (doc["id"].as_str().unwrap().to_owned(), doc["@search.score"].as_f64().unwrap()))
            .collect();
        scores
    };
    let plain = search(json!({"search": "quota"})).await;
    let profiled = search(json!({"search": "quota", "scoringProfile": "titles"})).await;
    // Without the profile the body's three mentions win; with it the title, at twice its own score.
    assert_eq!(plain.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["2", "1"]);
    assert_eq!(profiled.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["1", "2"]);
    let score = |list: &[(String, f64)], id: &str| list.iter().find(|(key, _)| key == id).unwrap().1;
    assert!((score(&profiled, "1") - 2.0 * score(&plain, "1")).abs() < 1e-4, "{plain:?} {profiled:?}");
    assert!((score(&profiled, "2") - score(&plain, "2")).abs() < 1e-4, "{plain:?} {profiled:?}");
    // Hybrid under the profile: reciprocal-rank fusion of the weighted keyword list and the vector list.
    let hybrid = search(json!({"search": "quota", "scoringProfile": "titles",
        "vectorQueries": [{"kind": "vector", "vector": [1.0, 0.0], "fields": "embedding", "k": 3}]}))
    .await;
    assert_eq!(hybrid[0].0, "1");
    assert!((hybrid[0].1 - 2.0 / 61.0).abs() < 1e-9, "{hybrid:?}");

    // The index's default profile applies when a query names none.
    definition["defaultScoringProfile"] = json!("titles");
    let updated = call(addr, "PUT", &format!("/indexes/profiled?{VERSION}"), &definition).await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    let defaulted = search(json!({"search": "quota"})).await;
    assert_eq!(defaulted.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["1", "2"]);

    let unknown = call(
        addr,
        "POST",
        &format!("/indexes/profiled/docs/search?{VERSION}"),
        &json!({"search": "quota", "scoringProfile": "nope"}),
    )
    .await;
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    assert!(error_message(&unknown).contains("nope"));
    for (profile, needle) in [
        (json!({"name": "f", "functions": [{"type": "freshness", "fieldName": "title", "boost": 2}]}), "functions"),
        (json!({"name": "w", "text": {"weights": {"embedding": 2}}}), "embedding"),
        (json!({"name": "z", "text": {"weights": {"title": 0}}}), "positive"),
    ] {
        let mut bad = definition.clone();
        bad["name"] = json!("bad");
        bad["defaultScoringProfile"] = Value::Null;
        bad["scoringProfiles"] = json!([profile]);
        let response = call(addr, "PUT", &format!("/indexes/bad?{VERSION}"), &bad).await;
        assert_eq!(response.status, 400, "{}", response.text());
        assert!(error_message(&response).contains(needle), "{}", response.text());
    }
}
