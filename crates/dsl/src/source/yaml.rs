//! Reads a YAML stream with `saphyr-parser`'s event API and builds the JSON value tree from the
//! events, so that every value keeps its position and every limit is checked as events arrive.
//!
//! Aliases are expanded by replaying the anchored node's recorded events, after checking that
//! the expansion fits the value budget, an alias allowance proportional to the document's own
//! size, and the depth limit, so a "billion laughs" document fails at the first alias that
//! would cross them, before anything big is built. This module does not resolve scalar types
//! (see `schema`) and does not support YAML features JSON cannot represent: non-scalar or null
//! keys, custom tags, several documents in one stream.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, StrInput};
use serde_json::Value;

use super::builder::Builder;
use super::schema::{self, TagKind, Unplaced};
use super::spans::SpanMap;
use super::{Limits, ParseError, ParseErrorKind, Span, to_u32};

/// However small a document, its aliases may add this many values in total.
const ALIAS_FLOOR: usize = 10_000;

/// Beyond the floor, aliases may add this many values per value written out in the document.
///
/// Together with the floor this stops "billion laughs" documents after about ten thousand
/// values, long before `Limits::max_nodes`, while real flows (which alias a few defaults a few
/// times) stay far below it.
const ALIAS_FACTOR: usize = 10;

/// The scanner's own message when flow collections nest past its fixed limit of 255 levels.
const SCANNER_DEPTH_MESSAGE: &str = "recursion limit exceeded";

/// Reads `text` (the input after any byte-order mark, which was `base` bytes long).
pub(super) fn parse(
    text: &str,
    base: usize,
    limits: &Limits,
) -> Result<(Value, SpanMap), ParseError> {
    let mut loader = Loader {
        text,
        base,
        max_depth: limits.max_depth,
        max_nodes: limits.max_nodes,
        parser: Parser::new_from_str(text),
        offsets: Offsets::new(text),
        builder: Builder::new(limits),
        recorded: Vec::new(),
        recording: 0,
        anchors: HashMap::new(),
        open: Vec::new(),
        replay: Vec::new(),
        aliased: 0,
    };
    loader.stream()?;
    loader.builder.finish()
}

/// A finished anchored node: where its events are in the recording, and what expanding it costs.
#[derive(Clone, Copy, Debug)]
struct Anchor {
    start: usize,
    end: usize,
    /// How many values one expansion produces.
    count: usize,
    /// How many collection levels one expansion adds.
    height: usize,
}

/// A collection being read, with what is needed to register it as an anchor when it ends.
#[derive(Debug)]
struct Open {
    anchor: Option<OpenAnchor>,
    /// The deepest nesting among the children read so far (0 for scalars only).
    height: usize,
}

#[derive(Debug)]
struct OpenAnchor {
    id: usize,
    start: usize,
    produced_before: usize,
}

/// A position in the recording that an alias is being expanded from.
#[derive(Debug)]
struct Cursor {
    pos: usize,
    end: usize,
    /// The alias's span, which replaces the first replayed event's span so that the alias's
    /// value points at the alias rather than at the anchor.
    alias: Option<Span>,
}

struct Loader<'a> {
    text: &'a str,
    base: usize,
    max_depth: usize,
    max_nodes: usize,
    parser: Parser<'a, StrInput<'a>>,
    offsets: Offsets<'a>,
    builder: Builder,
    /// Events of anchored nodes, kept so that aliases can replay them. Only events read while
    /// an anchored node is open are kept, so documents without anchors record nothing.
    recorded: Vec<(Event<'a>, Span)>,
    /// How many anchored collections read from the parser are open.
    recording: usize,
    /// Finished anchors by the parser's anchor id (a redefined name gets a new id).
    anchors: HashMap<usize, Anchor>,
    open: Vec<Open>,
    /// Alias expansions in progress, innermost last.
    replay: Vec<Cursor>,
    /// Values added by aliases read from the parser (nested expansions are included in these).
    aliased: usize,
}

impl<'a> Loader<'a> {
    /// Reads the whole stream: exactly one document.
    fn stream(&mut self) -> Result<(), ParseError> {
        let (event, span) = self.next_live()?;
        if event != Event::StreamStart {
            return Err(unexpected(&event, span));
        }
        let (event, span) = self.next_live()?;
        match event {
            Event::DocumentStart(_) => {}
            Event::StreamEnd => {
                return Err(ParseError::new(
                    ParseErrorKind::Empty,
                    None,
                    "the document is empty (it holds no YAML document)",
                ));
            }
            other => return Err(unexpected(&other, span)),
        }
        self.document()?;
        let (event, span) = self.next_live()?;
        if event != Event::DocumentEnd {
            return Err(unexpected(&event, span));
        }
        let (event, span) = self.next_live()?;
        match event {
            Event::StreamEnd => Ok(()),
            Event::DocumentStart(_) => Err(ParseError::new(
                ParseErrorKind::MultipleDocuments,
                Some(span),
                "a second YAML document starts here; a flow file holds exactly one document",
            )),
            other => Err(unexpected(&other, span)),
        }
    }

    /// Reads events until the document's root value is complete.
    fn document(&mut self) -> Result<(), ParseError> {
        while !self.builder.is_done() {
            let (event, span, live) = self.next_event()?;
            self.event(event, span, live)?;
        }
        Ok(())
    }

    /// The next node event: from the innermost alias being expanded, else from the parser.
    /// `live` is false for replayed events, which must not register anchors again.
    fn next_event(&mut self) -> Result<(Event<'a>, Span, bool), ParseError> {
        while let Some(cursor) = self.replay.last_mut() {
            let recorded = (cursor.pos < cursor.end)
                .then(|| self.recorded.get(cursor.pos))
                .flatten();
            if let Some((event, span)) = recorded {
                cursor.pos += 1;
                let span = cursor.alias.take().unwrap_or(*span);
                return Ok((event.clone(), span, false));
            }
            // This expansion is finished; carry on with the enclosing one, or the parser.
            self.replay.pop();
        }
        let (event, span) = self.next_live()?;
        let anchored = matches!(
            event,
            Event::Scalar(_, _, id, _) | Event::SequenceStart(id, _) | Event::MappingStart(id, _) if id > 0
        );
        if self.recording > 0 || anchored {
            self.recorded.push((event.clone(), span));
        }
        Ok((event, span, true))
    }

    /// Handles one node event.
    fn event(&mut self, event: Event<'a>, span: Span, live: bool) -> Result<(), ParseError> {
        match event {
            Event::Alias(id) => self.alias(id, span, live),
            Event::Scalar(text, style, anchor, tag) => {
                let tag = TagKind::of(tag.as_deref());
                if self.builder.expects_key() {
                    self.key(&text, style, &tag, span)?;
                } else {
                    let value = schema::resolve(&text, style, &tag).map_err(|e| place(e, span))?;
                    self.builder.scalar(value, span)?;
                }
                if live && anchor > 0 {
                    let start = self.recorded.len().saturating_sub(1);
                    self.anchors.insert(
                        anchor,
                        Anchor {
                            start,
                            end: start + 1,
                            count: 1,
                            height: 0,
                        },
                    );
                }
                Ok(())
            }
            Event::SequenceStart(anchor, tag) => {
                self.begin(false, anchor, &TagKind::of(tag.as_deref()), span, live)
            }
            Event::MappingStart(anchor, tag) => {
                self.begin(true, anchor, &TagKind::of(tag.as_deref()), span, live)
            }
            Event::SequenceEnd | Event::MappingEnd => self.end(span),
            other => Err(unexpected(&other, span)),
        }
    }

    /// Reads a scalar in key position.
    fn key(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: &TagKind,
        span: Span,
    ) -> Result<(), ParseError> {
        let value = schema::resolve(text, style, tag).map_err(|e| place(e, span))?;
        let name = schema::key_string(value).map_err(|e| place(e, span))?;
        // Only an untagged plain `<<` is a merge key; quoted, it is an ordinary key.
        let merge = style == ScalarStyle::Plain && *tag == TagKind::None && text == "<<";
        self.builder.key(name, span, merge)
    }

    /// Opens a sequence or mapping.
    fn begin(
        &mut self,
        mapping: bool,
        anchor: usize,
        tag: &TagKind,
        span: Span,
        live: bool,
    ) -> Result<(), ParseError> {
        if self.builder.expects_key() {
            let what = if mapping { "mapping" } else { "sequence" };
            return Err(ParseError::new(
                ParseErrorKind::UnsupportedKey,
                Some(span),
                format!("a mapping key must be a scalar, not a {what}"),
            ));
        }
        schema::check_collection_tag(tag, mapping).map_err(|e| place(e, span))?;
        let produced_before = self.builder.produced();
        if mapping {
            self.builder.begin_object(span)?;
        } else {
            self.builder.begin_array(span)?;
        }
        let anchor = (live && anchor > 0).then(|| {
            self.recording += 1;
            OpenAnchor {
                id: anchor,
                start: self.recorded.len().saturating_sub(1),
                produced_before,
            }
        });
        self.open.push(Open { anchor, height: 0 });
        Ok(())
    }

    /// Closes the innermost sequence or mapping, registering it if it was anchored.
    fn end(&mut self, span: Span) -> Result<(), ParseError> {
        self.builder.end(span)?;
        let Some(open) = self.open.pop() else {
            return Err(unexpected(&Event::MappingEnd, span));
        };
        let height = open.height + 1;
        if let Some(parent) = self.open.last_mut() {
            parent.height = parent.height.max(height);
        }
        if let Some(anchor) = open.anchor {
            self.recording = self.recording.saturating_sub(1);
            let count = self.builder.produced() - anchor.produced_before;
            self.anchors.insert(
                anchor.id,
                Anchor {
                    start: anchor.start,
                    end: self.recorded.len(),
                    count,
                    height,
                },
            );
        }
        Ok(())
    }

    /// Expands an alias, after checking that the expansion fits the budget and the depth limit.
    /// `live` is false for an alias met while replaying another one, whose cost was already
    /// counted as part of the outer expansion.
    fn alias(&mut self, id: usize, span: Span, live: bool) -> Result<(), ParseError> {
        let name = self.alias_name(span);
        let Some(anchor) = self.anchors.get(&id).copied() else {
            // The parser resolves names, so a missing id is an alias inside its own anchor.
            return Err(ParseError::new(
                ParseErrorKind::Syntax,
                Some(span),
                format!("the alias *{name} refers to the node that contains it (recursive alias)"),
            ));
        };
        let total = self.builder.produced().saturating_add(anchor.count);
        if total > self.max_nodes {
            return Err(ParseError::new(
                ParseErrorKind::TooManyNodes,
                Some(span),
                format!(
                    "the alias *{name} expands to {} values, which takes the document past the limit of {} values (aliases expanded)",
                    anchor.count, self.max_nodes
                ),
            ));
        }
        if live {
            let written = self.builder.produced().saturating_sub(self.aliased);
            let allowance = ALIAS_FLOOR.max(ALIAS_FACTOR.saturating_mul(written));
            let aliased = self.aliased.saturating_add(anchor.count);
            if aliased > allowance {
                return Err(ParseError::new(
                    ParseErrorKind::TooManyNodes,
                    Some(span),
                    format!(
                        "the alias *{name} expands to {} values, which takes the values added by aliases past {allowance}, the most allowed for a document that writes out {written} values (is this an alias bomb?)",
                        anchor.count
                    ),
                ));
            }
            self.aliased = aliased;
        }
        if self.builder.depth() + anchor.height > self.max_depth {
            return Err(ParseError::new(
                ParseErrorKind::TooDeep,
                Some(span),
                format!(
                    "the alias *{name} takes the document deeper than the limit of {} levels",
                    self.max_depth
                ),
            ));
        }
        self.replay.push(Cursor {
            pos: anchor.start,
            end: anchor.end,
            alias: Some(span),
        });
        Ok(())
    }

    /// The anchor name written after `*` at `span`, for messages.
    fn alias_name(&self, span: Span) -> &'a str {
        let text = self.text;
        let after_star = span.offset.saturating_sub(self.base) + 1;
        let rest = text.get(after_star..).unwrap_or_default();
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
            .unwrap_or(rest.len());
        rest.get(..end).unwrap_or_default()
    }

    /// The next event from the parser, with its span converted.
    ///
    /// A panic inside the third-party parser is turned into a syntax error: a flow file comes
    /// from users, and no input may crash the process that reads it.
    fn next_live(&mut self) -> Result<(Event<'a>, Span), ParseError> {
        let parser = &mut self.parser;
        let next = catch_unwind(AssertUnwindSafe(|| parser.next_event()));
        match next {
            Ok(Some(Ok((event, yspan)))) => {
                let span = self.span(yspan.start);
                Ok((event, span))
            }
            Ok(Some(Err(error))) => Err(self.scan_error(&error)),
            Ok(None) => Err(ParseError::new(
                ParseErrorKind::Syntax,
                None,
                "unexpected end of the YAML stream",
            )),
            Err(_) => Err(ParseError::new(
                ParseErrorKind::Syntax,
                None,
                "the YAML parser failed on this document",
            )),
        }
    }

    fn scan_error(&mut self, error: &ScanError) -> ParseError {
        let span = self.span(*error.marker());
        if error.info() == SCANNER_DEPTH_MESSAGE {
            return ParseError::new(
                ParseErrorKind::TooDeep,
                Some(span),
                format!(
                    "the document nests deeper than the limit of {} levels",
                    self.max_depth.min(255)
                ),
            );
        }
        ParseError::new(ParseErrorKind::Syntax, Some(span), error.info())
    }

    /// Converts a parser marker (0-based char column, char index) to a span.
    fn span(&mut self, marker: saphyr_parser::Marker) -> Span {
        Span {
            line: to_u32(marker.line()),
            column: to_u32(marker.col() + 1),
            offset: self.base + self.offsets.byte(marker.index()),
        }
    }
}

/// Pins a position-less error to `span`.
fn place((kind, message): Unplaced, span: Span) -> ParseError {
    ParseError::new(kind, Some(span), message)
}

/// An event the parser should not produce at this point; reported, never panicked on.
fn unexpected(event: &Event<'_>, span: Span) -> ParseError {
    ParseError::new(
        ParseErrorKind::Syntax,
        Some(span),
        format!("internal parser error: unexpected YAML event {event:?}"),
    )
}

/// Converts the parser's char indexes to byte offsets.
///
/// Events arrive in source order, so a cursor that walks from the last answer keeps the total
/// work linear in the input; pure-ASCII input needs no walking at all.
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            ascii: text.is_ascii(),
            chars: 0,
            bytes: 0,
        }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        while self.chars > char_index {
            let Some(c) = self
                .text
                .get(..self.bytes)
                .and_then(|s| s.chars().next_back())
            else {
                break;
            };
            self.bytes -= c.len_utf8();
            self.chars -= 1;
        }
        if self.chars < char_index {
            for c in self.text.get(self.bytes..).unwrap_or_default().chars() {
                if self.chars == char_index {
                    break;
                }
                self.bytes += c.len_utf8();
                self.chars += 1;
            }
        }
        self.bytes
    }
}
