#!/usr/bin/env python3
"""Freezes chapters of The Rust Programming Language as Markdown for
aoai-rag's retrieval evaluation (crates/aoai-rag/tests/data/eval/).

Reads the book's HTML as shipped in the `rust-docs` component of a Rust
toolchain (rustup: share/doc/rust/html/book/), keeps the page's <main>
element, and writes Markdown: headings as ATX headings, paragraphs, lists,
block quotes, code blocks fenced (lines mdBook hides, class "boring", are
dropped), inline code in backticks. Images, anchors and page chrome are
dropped. Redirect pages are refused.

    python3 scripts/book_to_markdown.py BOOK_HTML_DIR OUT_DIR CHAPTER.html...
"""

import html
import html.parser
import pathlib
import re
import sys

BLOCKS = {"p", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "figure", "table", "tr", "ul", "ol", "dt", "dd", "div", "section"}


class Converter(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.in_main = False
        self.out = []  # finished blocks
        self.line = []  # current inline text
        self.stack = []  # open tags inside main
        self.pre = False
        self.pre_lang = ""
        self.boring_depth = 0
        self.list_depth = 0
        self.quote_depth = 0
        self.heading = None
        self.skip_depth = 0

    def flush(self):
        text = "".join(self.line)
        self.line = []
        text = re.sub(r"[ \t\r\n]+", " ", text).strip()
        if not text:
            return
        if self.heading:
            text = "#" * self.heading + " " + text
        elif self.list_depth and self.stack_has("li"):
            text = "  " * (self.list_depth - 1) + "- " + text
        if self.quote_depth:
            text = "> " + text
        self.out.append(text)

    def stack_has(self, tag):
        return tag in self.stack

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "main":
            self.in_main = True
            return
        if not self.in_main:
            return
        if tag in ("img", "br", "hr", "input"):
            if tag == "br":
                self.line.append("\n")
            return
        self.stack.append(tag)
        if self.skip_depth:
            self.skip_depth += 1
            return
        if tag in ("script", "style", "button"):
            self.skip_depth = 1
            return
        if self.pre:
            if tag == "span" and "boring" in (attrs.get("class") or ""):
                self.boring_depth += 1
            elif self.boring_depth:
                self.boring_depth += 1
            if tag == "code":
                classes = (attrs.get("class") or "").split()
                langs = [c[len("language-"):] for c in classes if c.startswith("language-")]
                self.pre_lang = langs[0] if langs else ""
            return
        if tag == "pre":
            self.flush()
            self.pre = True
            self.pre_lang = ""
            self.line = []
            return
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.flush()
            self.heading = int(tag[1])
            return
        if tag in ("ul", "ol"):
            self.flush()
            self.list_depth += 1
            return
        if tag == "blockquote":
            self.flush()
            self.quote_depth += 1
            return
        if tag in BLOCKS:
            self.flush()
            return
        if tag == "code":
            self.line.append("`")
        elif tag == "em":
            self.line.append("*")
        elif tag == "strong":
            self.line.append("**")
        elif tag in ("td", "th"):
            self.line.append(" | ")

    def handle_endtag(self, tag):
        if not self.in_main:
            return
        if tag == "main":
            self.flush()
            self.in_main = False
            return
        if tag in ("img", "br", "hr", "input"):
            return
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        elif tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass
        if self.skip_depth:
            self.skip_depth -= 1
            return
        if self.pre:
            if self.boring_depth:
                self.boring_depth -= 1
                return
            if tag == "pre":
                code = "".join(self.line).strip("\n")
                code = "\n".join(l for l in code.split("\n"))
                self.line = []
                self.pre = False
                lang = "rust" if self.pre_lang.startswith("rust") else (self.pre_lang or "text")
                self.out.append("```" + lang + "\n" + code + "\n```")
            return
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.flush()
            self.heading = None
            return
        if tag in ("ul", "ol"):
            self.flush()
            self.list_depth -= 1
            return
        if tag == "blockquote":
            self.flush()
            self.quote_depth -= 1
            return
        if tag in BLOCKS:
            self.flush()
            return
        if tag == "code":
            self.line.append("`")
        elif tag == "em":
            self.line.append("*")
        elif tag == "strong":
            self.line.append("**")

    def handle_data(self, data):
        if not self.in_main or self.skip_depth:
            return
        if self.pre:
            if not self.boring_depth:
                self.line.append(data)
            return
        self.line.append(data)


def convert(page: str) -> str:
    if "<title>Redirecting" in page:
        raise ValueError("a redirect page")
    converter = Converter()
    converter.feed(page)
    converter.close()
    text = "\n\n".join(converter.out) + "\n"
    # mdBook's hidden lines leave blank runs in code; keep at most one blank line.
    return re.sub(r"\n{3,}(?=[^`])", "\n\n", text)


def main():
    source = pathlib.Path(sys.argv[1])
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[3:]:
        page = (source / name).read_text(encoding="utf-8")
        markdown = convert(page)
        (out / (name[: -len(".html")] + ".md")).write_text(markdown, encoding="utf-8")
        print(f"{name}: {len(markdown)} bytes")


if __name__ == "__main__":
    main()
