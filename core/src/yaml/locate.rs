//! Finding where a node sits, by re-reading the event stream. Used only for
//! error messages, so simplicity beats speed here.

use super::reader::{is_merge_key, key_string, resolve_scalar, tag_kind};
use super::{PathSegment, Pos};
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use std::borrow::Cow;
use std::collections::HashMap;

/// The key string of a scalar key, or `None` for a merge key (`<<`) or a key
/// the reader would reject.
fn scalar_key(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
    pos: Pos,
) -> Option<String> {
    let tag = tag_kind(tag);
    if is_merge_key(&text, style, tag) {
        return None;
    }
    let r = resolve_scalar(&text, style, tag, pos).ok()?;
    key_string(r, text, pos).ok()
}

/// Walks the events of one document: yields `(event, pos)` for document
/// `doc_index` only, recording anchored scalars' key strings on the way.
struct DocEvents<'t> {
    parser: Parser<'t, saphyr_parser::StrInput<'t>>,
    doc_index: usize,
    docs_seen: usize,
    /// Key strings of anchored scalars, for aliases used as keys.
    anchors: HashMap<usize, String>,
}

impl<'t> DocEvents<'t> {
    fn new(text: &'t str, doc_index: usize) -> Self {
        DocEvents {
            parser: Parser::new_from_str(text),
            doc_index,
            docs_seen: 0,
            anchors: HashMap::new(),
        }
    }

    /// The next event of the wanted document; `None` once it (or the stream) ends.
    fn next(&mut self) -> Option<(Event<'t>, Pos)> {
        loop {
            let (ev, span) = self.parser.next_event()?.ok()?;
            let pos = Pos::from_marker(&span.start);
            match ev {
                Event::StreamEnd => return None,
                Event::DocumentStart(_) => {
                    self.docs_seen += 1;
                    self.anchors.clear();
                    continue;
                }
                Event::DocumentEnd if self.docs_seen == self.doc_index + 1 => return None,
                _ if self.docs_seen != self.doc_index + 1 => continue,
                Event::Scalar(ref text, style, anchor, ref tag) if anchor != 0 => {
                    if let Some(k) = scalar_key(Cow::Borrowed(text), style, tag.as_deref(), pos) {
                        self.anchors.insert(anchor, k);
                    }
                }
                _ => {}
            }
            return Some((ev, pos));
        }
    }

    /// The key string of a key node, if it is a scalar or an alias of one.
    fn key_of(&self, ev: Event<'t>, pos: Pos) -> Option<String> {
        match ev {
            Event::Scalar(text, style, _, tag) => scalar_key(text, style, tag.as_deref(), pos),
            Event::Alias(id) => self.anchors.get(&id).cloned(),
            _ => None,
        }
    }
}

fn is_start(ev: &Event<'_>) -> bool {
    matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..))
}

fn is_end(ev: &Event<'_>) -> bool {
    matches!(ev, Event::SequenceEnd | Event::MappingEnd)
}

/// Where the first key `key` of the mapping that starts at `map_pos` is.
pub(crate) fn first_key_pos(text: &str, doc_index: usize, map_pos: Pos, key: &str) -> Option<Pos> {
    let mut events = DocEvents::new(text, doc_index);
    loop {
        let (ev, pos) = events.next()?;
        if matches!(ev, Event::MappingStart(..)) && pos == map_pos {
            break;
        }
    }
    let mut depth = 1usize;
    let mut expect_key = true;
    loop {
        let (ev, pos) = events.next()?;
        if is_end(&ev) {
            depth -= 1;
            if depth == 0 {
                return None;
            }
            continue;
        }
        let start = is_start(&ev);
        if depth == 1 {
            if expect_key && events.key_of(ev, pos).as_deref() == Some(key) {
                return Some(pos);
            }
            expect_key = !expect_key;
        }
        if start {
            depth += 1;
        }
    }
}

struct Frame {
    map: bool,
    expect_key: bool,
    index: usize,
    key: Option<(String, Pos)>,
    merge_pos: Option<Pos>,
}

impl Frame {
    /// A value (or a key) of this container is complete.
    fn advance(&mut self, was_key: bool) {
        if self.map {
            self.expect_key = !was_key;
        } else {
            self.index += 1;
        }
    }
}

pub(crate) fn locate(text: &str, doc_index: usize, path: &[PathSegment]) -> Option<Pos> {
    let mut events = DocEvents::new(text, doc_index);
    let mut frames: Vec<Frame> = Vec::new();
    // Depth inside a subtree that is off the path (0: on the path).
    let mut skip = 0usize;
    // Whether the subtree being skipped is a mapping key.
    let mut skipping_key = false;
    loop {
        let (ev, pos) = events.next()?;
        if skip > 0 {
            if is_start(&ev) {
                skip += 1;
            } else if is_end(&ev) {
                skip -= 1;
                if skip == 0 {
                    frames.last_mut()?.advance(skipping_key);
                }
            }
            continue;
        }
        if is_end(&ev) {
            let frame = frames.pop()?;
            // The wanted child was not in this container; a merged key is
            // the best we can point at.
            return match path.get(frames.len()) {
                Some(PathSegment::Key(_)) if frame.map => frame.merge_pos,
                _ => None,
            };
        }
        let start = is_start(&ev);
        let Some(top) = frames.last_mut() else {
            // The root node.
            if path.is_empty() {
                return Some(pos);
            }
            if !start {
                return None;
            }
            frames.push(Frame {
                map: matches!(ev, Event::MappingStart(..)),
                expect_key: true,
                index: 0,
                key: None,
                merge_pos: None,
            });
            continue;
        };
        if top.map && top.expect_key {
            top.key = None;
            if let Event::Scalar(ref t, style, _, ref tag) = ev
                && is_merge_key(t, style, tag_kind(tag.as_deref()))
            {
                top.merge_pos = Some(pos);
                top.advance(true);
                continue;
            }
            if start {
                skip = 1;
                skipping_key = true;
                continue;
            }
            top.key = events.key_of(ev, pos).map(|k| (k, pos));
            top.advance(true);
            continue;
        }
        let depth = frames.len() - 1;
        let top = frames.last_mut()?;
        let (matched, at) = match path.get(depth) {
            Some(PathSegment::Key(want)) if top.map => match &top.key {
                Some((k, kpos)) if k == want => (true, *kpos),
                _ => (false, pos),
            },
            Some(PathSegment::Index(i)) if !top.map => (*i == top.index, pos),
            _ => (false, pos),
        };
        if !matched {
            if start {
                skip = 1;
                skipping_key = false;
            } else {
                top.advance(false);
            }
            continue;
        }
        if depth + 1 == path.len() {
            return Some(at);
        }
        match ev {
            Event::Alias(_) => return Some(pos),
            Event::SequenceStart(..) | Event::MappingStart(..) => frames.push(Frame {
                map: matches!(ev, Event::MappingStart(..)),
                expect_key: true,
                index: 0,
                key: None,
                merge_pos: None,
            }),
            _ => return None,
        }
    }
}
