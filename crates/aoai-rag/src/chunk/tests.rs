use proptest::prelude::*;

use super::*;

fn chunker(max_tokens: usize, overlap_tokens: usize) -> TokenChunker {
    TokenChunker::new(ChunkerConfig { max_tokens, overlap_tokens, encoding: Encoding::Cl100kBase }).unwrap()
}

/// The invariants every chunking keeps, whatever the format.
fn check_common(chunker: &TokenChunker, document: &Document, chunks: &[Chunk]) {
    let tokenizer = Tokenizer::new(Encoding::Cl100kBase);
    for (index, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.index, index);
        assert_eq!(chunk.id, format!("{}#{index}", document.source));
        assert!(chunk.tokens <= chunker.config().max_tokens, "{} tokens: {:?}", chunk.tokens, chunk.text);
        assert_eq!(chunk.tokens, tokenizer.count(&chunk.text));
        assert!(!chunk.text.trim().is_empty());
        assert_eq!(chunk.text.trim(), chunk.text, "chunks are trimmed");
        assert!(chunk.start < chunk.end && chunk.end <= document.text.len());
        assert!(document.text.is_char_boundary(chunk.start) && document.text.is_char_boundary(chunk.end));
    }
    for pair in chunks.windows(2) {
        assert!(pair[0].start <= pair[1].start && pair[0].end < pair[1].end, "{pair:?}");
    }
}

/// For text and Markdown: each chunk is the original slice and every
/// non-whitespace byte is in some chunk.
fn check_exact(document: &Document, chunks: &[Chunk]) {
    let mut covered = vec![false; document.text.len()];
    for chunk in chunks {
        assert_eq!(&document.text[chunk.start..chunk.end], chunk.text);
        covered[chunk.start..chunk.end].iter_mut().for_each(|byte| *byte = true);
    }
    for (position, character) in document.text.char_indices() {
        assert!(character.is_whitespace() || covered[position], "byte {position} ({character:?}) not in any chunk");
    }
}

#[test]
fn an_input_limit_in_other_tokens_cuts_chunks_shorter() {
    // Counted in characters, a 512-token budget is far more than 120.
    let text = "Retrieval needs chunks that the embedder reads whole. ".repeat(40)
        + "\n\n"
        + &"Another paragraph, with words and more words in it. ".repeat(30);
    let document = Document::new("a.txt", text, Format::Text);
    let unlimited = chunker(512, 64).chunk(&document);
    assert!(unlimited.iter().any(|chunk| chunk.text.chars().count() > 120));
    let limited = chunker(512, 64).input_limit(InputLimit::new(120, |text| text.chars().count()));
    let chunks = limited.chunk(&document);
    assert!(
        chunks.len() > unlimited.len(),
        "{} {:?}",
        unlimited.len(),
        chunks.iter().map(|c| (c.start, c.end)).collect::<Vec<_>>()
    );
    for chunk in &chunks {
        assert!(chunk.text.chars().count() <= 120, "{} characters: {:?}", chunk.text.chars().count(), chunk.text);
        // Cut at a sentence end, not in a word.
        assert!(chunk.text.ends_with('.'), "{:?}", chunk.text);
    }
    check_common(&limited, &document, &chunks);
    check_exact(&document, &chunks);
}

fn pieces() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => Just("word ".to_owned()),
        2 => Just("retrieval ".to_owned()),
        1 => Just("Ünïcödé ".to_owned()),
        1 => Just("日本語のテキスト".to_owned()),
        1 => Just("🎉🦀".to_owned()),
        2 => Just(". ".to_owned()),
        2 => Just("\n\n".to_owned()),
        1 => Just("\n".to_owned()),
        1 => Just("# Title\n".to_owned()),
        1 => Just("## Section two\n".to_owned()),
        1 => Just("### Deeper ###\n".to_owned()),
        1 => Just("```\n".to_owned()),
        1 => Just("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned()),
        1 => "\\PC{0,12}",
    ];
    prop::collection::vec(piece, 0..120).prop_map(|pieces| pieces.concat())
}

fn budget() -> impl Strategy<Value = (usize, usize)> {
    (16_usize..80).prop_flat_map(|max| (Just(max), 0..max / 2))
}

/// 64 cases, or `PROPTEST_CASES`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn markdown_chunks_are_exact_bounded_and_cover(text in pieces(), (max, overlap) in budget()) {
        let chunker = chunker(max, overlap);
        let document = Document::new("doc.md", text, Format::Markdown);
        let chunks = chunker.chunk(&document);
        check_common(&chunker, &document, &chunks);
        check_exact(&document, &chunks);
    }

    #[test]
    fn text_chunks_are_exact_bounded_and_cover(text in "\\PC{0,600}", (max, overlap) in budget()) {
        let chunker = chunker(max, overlap);
        let document = Document::new("doc.txt", text, Format::Text);
        let chunks = chunker.chunk(&document);
        check_common(&chunker, &document, &chunks);
        check_exact(&document, &chunks);
    }

    #[test]
    fn html_chunks_are_bounded_and_keep_every_word(
        body in prop::collection::vec(
            prop_oneof![
                Just("<p>".to_owned()), Just("</p>".to_owned()), Just("<h2>Part</h2>".to_owned()),
                Just("<br/>".to_owned()), Just("&amp;".to_owned()), Just("<b class=\"x>y\">".to_owned()),
                Just("<script>if (a < b) {}</script>".to_owned()), Just(" ".to_owned()),
                "[a-zé日]{1,10}",
            ],
            0..80,
        ),
        (max, overlap) in budget(),
    ) {
        let html = format!("<html><title>T</title><body>{}</body></html>", body.concat());
        let chunker = chunker(max, overlap);
        let document = Document::new("doc.html", html.clone(), Format::Html);
        let chunks = chunker.chunk(&document);
        check_common(&chunker, &document, &chunks);
        let prepared = html::prepare(&html);
        let visible = prepared.text.clone();
        let spans = prepared.spans.unwrap();
        // Every visible character was read from HTML inside some chunk's range.
        for (position, character) in visible.char_indices() {
            let (start, end) = spans[position];
            prop_assert!(
                character.is_whitespace() || chunks.iter().any(|chunk| chunk.start <= start && end <= chunk.end),
                "{character:?} at {position} lost"
            );
        }
        for chunk in &chunks {
            prop_assert!(visible.contains(&chunk.text));
            prop_assert_eq!(chunk.title.as_deref(), Some("T"));
        }
    }
}

#[test]
fn whitespace_only_documents_have_no_chunks() {
    let chunker = chunker(32, 4);
    for format in [Format::Text, Format::Markdown, Format::Html] {
        assert!(chunker.chunk(&Document::new("x", " \n\n\t ", format)).is_empty());
    }
}

#[test]
fn rejects_budgets_that_cannot_work() {
    let config = |max_tokens, overlap_tokens| ChunkerConfig { max_tokens, overlap_tokens, ..ChunkerConfig::default() };
    assert!(matches!(TokenChunker::new(config(8, 0)), Err(Error::Config(_))));
    assert!(matches!(TokenChunker::new(config(100, 50)), Err(Error::Config(_))));
    assert!(TokenChunker::new(config(100, 49)).is_ok());
}

#[test]
fn markdown_sections_split_at_headings_and_keep_the_heading_path() {
    let text = "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n### On Linux\n\nUse apt.\n\n## Use\n\nCall it.\n";
    let chunks = chunker(64, 8).chunk(&Document::new("guide.md", text, Format::Markdown).with_tag("lang", "en"));
    let summary: Vec<(&str, Vec<&str>)> =
        chunks.iter().map(|chunk| (chunk.text.as_str(), chunk.headings.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        summary,
        vec![
            ("# Guide\n\nIntro.", vec!["Guide"]),
            ("## Install\n\nRun it.", vec!["Guide", "Install"]),
            ("### On Linux\n\nUse apt.", vec!["Guide", "Install", "On Linux"]),
            ("## Use\n\nCall it.", vec!["Guide", "Use"]),
        ]
    );
    assert!(chunks.iter().all(|chunk| chunk.title.as_deref() == Some("Guide")));
    assert!(chunks.iter().all(|chunk| chunk.tags.get("lang").map(String::as_str) == Some("en")));
}

#[test]
fn long_sections_cut_at_paragraphs_then_sentences_with_overlap() {
    let paragraph = "This sentence has some words in it. ".repeat(6);
    let text = format!("{}\n\n{}\n\n{}", paragraph.trim(), paragraph.trim(), paragraph.trim());
    let tokenizer = Tokenizer::new(Encoding::Cl100kBase);
    let per_paragraph = tokenizer.count(paragraph.trim());
    // Room for one paragraph and a half: cuts land on the paragraph breaks.
    let chunks = chunker(per_paragraph * 3 / 2, 0).chunk(&Document::new("a.txt", text.clone(), Format::Text));
    assert_eq!(chunks.len(), 3);
    assert!(chunks.iter().all(|chunk| chunk.text == paragraph.trim()));
    // Room for less than a paragraph: cuts land after sentences; overlap repeats words.
    let chunks = chunker(40, 8).chunk(&Document::new("a.txt", text, Format::Text));
    assert!(chunks.len() > 3);
    for pair in chunks.windows(2) {
        assert!(pair[1].start < pair[0].end, "consecutive chunks overlap: {pair:?}");
    }
    assert!(chunks.iter().filter(|chunk| chunk.text.ends_with('.')).count() >= chunks.len() - 1);
}

#[test]
fn a_single_long_word_is_cut_on_char_boundaries() {
    let text = "é".repeat(500);
    let chunks = chunker(16, 0).chunk(&Document::new("w.txt", text.clone(), Format::Text));
    assert!(chunks.len() > 1);
    assert_eq!(chunks.iter().map(|chunk| chunk.text.as_str()).collect::<String>(), text);
}

#[test]
fn html_offsets_point_into_the_source() {
    let html = "<html><head><title>Doc</title></head><body><h1>Intro</h1><p>Fish &amp; chips.</p>\
        <h2>More</h2><p>Second part.</p></body></html>";
    let chunks = chunker(64, 0).chunk(&Document::new("page.html", html, Format::Html));
    let summary: Vec<(&str, &str, Vec<&str>)> = chunks
        .iter()
        .map(|chunk| {
            (chunk.text.as_str(), &html[chunk.start..chunk.end], chunk.headings.iter().map(String::as_str).collect())
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Intro\n\nFish & chips.", "Intro</h1><p>Fish &amp; chips.", vec!["Intro"]),
            ("More\n\nSecond part.", "More</h2><p>Second part.", vec!["Intro", "More"]),
        ]
    );
    assert!(chunks.iter().all(|chunk| chunk.title.as_deref() == Some("Doc")));
}

#[test]
fn format_from_path() {
    assert_eq!(Format::from_path("docs/Guide.MD"), Format::Markdown);
    assert_eq!(Format::from_path("a.markdown"), Format::Markdown);
    assert_eq!(Format::from_path("site/index.html"), Format::Html);
    assert_eq!(Format::from_path("old.HTM"), Format::Html);
    assert_eq!(Format::from_path("notes.txt"), Format::Text);
    assert_eq!(Format::from_path("README"), Format::Text);
}
