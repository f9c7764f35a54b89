//! Fewer, larger data segments in a snapshot. Wizer writes one active data segment per run of
//! non-zero bytes of the instance's memory: thousands for a JS heap (7,754 for the seed's
//! orchestrator). The orchestrator engine initialises memory by copying segments one by one
//! (no copy-on-write image: see `runtime::orchestrator`), so each instance paid for thousands of
//! small copies. Here runs separated by fewer than [`MERGE_GAP`] zero bytes become one segment
//! (the seed's: 4 segments, 412 KiB instead of 311 KiB of data).

use std::ops::Range;

use wasm_encoder::{ConstExpr, DataSection, Encode};
use wasmparser::{BinaryReader, BinaryReaderError, DataKind, DataSectionReader, Operator};

/// Zero runs shorter than this are written out rather than starting a new segment.
const MERGE_GAP: u32 = 1024;

const MODULE_SECTION: u8 = 1;
const COMPONENT_SECTION: u8 = 4;
const DATA_SECTION: u8 = 11;
const DATA_COUNT_SECTION: u8 = 12;

/// Why a binary could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{0}")]
    Parse(#[from] BinaryReaderError),
    #[error("a section of {0} bytes is over the format's limit")]
    TooLarge(usize),
}

/// `component` (or a core module) with the data segments of every core module in it merged.
/// A module whose segments are not the plain shape wizer writes (memory 0, constant offsets in
/// bounds, none empty or overlapping, every passive one before the active ones) is left as it
/// is.
pub fn merge_data_segments(binary: &[u8]) -> Result<Vec<u8>, MergeError> {
    let mut reader = BinaryReader::new(binary, 0);
    let header = reader.read_bytes(8)?;
    let is_component = header[6] == 1;
    let mut out = header.to_vec();
    let mut sections = Vec::new();
    while !reader.eof() {
        let id = reader.read_u8()?;
        let size = reader.read_var_u32()?;
        let start = reader.original_position();
        let body = reader.read_bytes(size as usize)?;
        sections.push((id, start, body));
    }
    let merged = if is_component {
        None
    } else {
        sections
            .iter()
            .find(|(id, ..)| *id == DATA_SECTION)
            .map(|(_, start, body)| merged_data(body, *start))
            .transpose()?
            .flatten()
    };
    for (id, _, body) in sections {
        let replaced = match (is_component, id) {
            (true, MODULE_SECTION | COMPONENT_SECTION) => Some(merge_data_segments(body)?),
            (false, DATA_SECTION) => merged.as_ref().map(|(section, _)| section.clone()),
            (false, DATA_COUNT_SECTION) => merged.as_ref().map(|(_, count)| {
                let mut bytes = Vec::new();
                count.encode(&mut bytes);
                bytes
            }),
            _ => None,
        };
        out.push(id);
        let body = replaced.as_deref().unwrap_or(body);
        u32::try_from(body.len())
            .map_err(|_| MergeError::TooLarge(body.len()))?
            .encode(&mut out);
        out.extend_from_slice(body);
    }
    Ok(out)
}

/// One active segment as wizer writes it: memory 0, a constant i32 offset.
struct Active<'a> {
    offset: u32,
    data: &'a [u8],
}

/// The data section with its trailing active segments merged, and its new segment count;
/// `None` when there is nothing to merge or a segment has another shape. Only segments after
/// the last passive one are merged, so every passive segment keeps its index.
fn merged_data(body: &[u8], start: usize) -> Result<Option<(Vec<u8>, u32)>, BinaryReaderError> {
    let reader = DataSectionReader::new(BinaryReader::new(body, start))?;
    let mut kept = Vec::new();
    let mut tail = Vec::new();
    for segment in reader {
        let segment = segment?;
        match &segment.kind {
            DataKind::Passive => {
                if !tail.is_empty() {
                    return Ok(None);
                }
                kept.push(segment.range.clone());
            }
            DataKind::Active {
                memory_index: 0,
                offset_expr,
            } => {
                let mut ops = offset_expr.get_operators_reader();
                let offset = match (ops.read()?, ops.read()?) {
                    (Operator::I32Const { value }, Operator::End) => u32::try_from(value).ok(),
                    _ => None,
                };
                let fits = |at: u32| at.checked_add(u32::try_from(segment.data.len()).ok()?);
                match offset {
                    Some(offset) if !segment.data.is_empty() && fits(offset).is_some() => tail
                        .push(Active {
                            offset,
                            data: segment.data,
                        }),
                    _ => return Ok(None),
                }
            }
            DataKind::Active { .. } => return Ok(None),
        }
    }
    if tail.len() < 2 {
        return Ok(None);
    }
    // Segments apply in index order, a later one over an earlier one: in address order that is
    // the same only if none overlaps another.
    tail.sort_by_key(|s| s.offset);
    let overlaps = tail
        .windows(2)
        .any(|w| w[0].offset + w[0].data.len() as u32 > w[1].offset);
    if overlaps {
        return Ok(None);
    }
    let mut section = DataSection::new();
    for range in &kept {
        section.raw(&body[range.start - start..range.end - start]);
    }
    let runs = runs(&tail);
    let mut segments = tail.iter().peekable();
    for run in &runs {
        let mut bytes = vec![0u8; (run.end - run.start) as usize];
        while let Some(s) = segments.next_if(|s| run.contains(&s.offset)) {
            let at = (s.offset - run.start) as usize;
            bytes[at..at + s.data.len()].copy_from_slice(s.data);
        }
        section.active(0, &ConstExpr::i32_const(run.start as i32), bytes);
    }
    let count = (kept.len() + runs.len()) as u32;
    let mut out = Vec::new();
    section.encode(&mut out);
    // `DataSection::encode` writes the section's size first; the caller writes its own.
    let mut size = BinaryReader::new(&out, 0);
    size.read_var_u32()?;
    Ok(Some((out[size.original_position()..].to_vec(), count)))
}

/// The address ranges the sorted segments cover once gaps under [`MERGE_GAP`] are filled.
fn runs(sorted: &[Active<'_>]) -> Vec<Range<u32>> {
    let mut runs: Vec<Range<u32>> = Vec::new();
    for s in sorted {
        let end = s.offset + s.data.len() as u32;
        match runs.last_mut() {
            Some(last) if s.offset <= last.end.saturating_add(MERGE_GAP) => {
                last.end = last.end.max(end)
            }
            _ => runs.push(s.offset..end),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with one memory, a passive segment and active segments at `offsets`.
    fn module(offsets: &[(u32, &[u8])]) -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        module.section(&wasm_encoder::DataCountSection {
            count: 1 + offsets.len() as u32,
        });
        let mut data = DataSection::new();
        data.passive([7u8, 7]);
        for (offset, bytes) in offsets {
            data.active(
                0,
                &ConstExpr::i32_const(*offset as i32),
                bytes.iter().copied(),
            );
        }
        module.section(&data);
        module.finish()
    }

    /// What memory looks like after the module's active segments are applied.
    fn memory_after(module: &[u8]) -> (Vec<u8>, usize) {
        let mut memory = vec![0u8; 65536];
        let mut count = 0;
        for payload in wasmparser::Parser::new(0).parse_all(module) {
            if let wasmparser::Payload::DataSection(reader) = payload.unwrap() {
                for segment in reader {
                    let segment = segment.unwrap();
                    count += 1;
                    if let DataKind::Active { offset_expr, .. } = segment.kind {
                        let Operator::I32Const { value } =
                            offset_expr.get_operators_reader().read().unwrap()
                        else {
                            panic!("not a constant offset");
                        };
                        let at = value as usize;
                        memory[at..at + segment.data.len()].copy_from_slice(segment.data);
                    }
                }
            }
        }
        (memory, count)
    }

    #[test]
    fn near_segments_merge_and_memory_is_unchanged() {
        let before = module(&[(5000, b"far"), (100, b"abc"), (110, b"de"), (900, b"x")]);
        let after = merge_data_segments(&before).unwrap();
        wasmparser::Validator::new().validate_all(&after).unwrap();
        let (old, old_count) = memory_after(&before);
        let (new, new_count) = memory_after(&after);
        assert_eq!(old, new);
        assert_eq!(old_count, 5);
        // The passive one, 100..901 (gaps under 1 KiB), and 5000..5003.
        assert_eq!(new_count, 3);
    }

    #[test]
    fn a_module_with_nothing_to_merge_is_unchanged() {
        let before = module(&[(100, b"abc")]);
        assert_eq!(merge_data_segments(&before).unwrap(), before);
    }

    #[test]
    fn shapes_wizer_does_not_write_are_left_as_they_are() {
        // An empty segment, overlapping segments (the later one wins, by index), an offset
        // past the end of the address space.
        for segments in [
            &[(100, &b"abc"[..]), (110, b""), (120, b"x")][..],
            &[(100, b"abcd"), (102, b"XY")],
            &[(100, b"ab"), (u32::MAX - 1, b"xyz")],
        ] {
            let before = module(segments);
            assert_eq!(merge_data_segments(&before).unwrap(), before);
        }
    }

    #[test]
    fn a_passive_segment_after_active_ones_keeps_the_module_as_it_is() {
        let mut module = wasm_encoder::Module::new();
        let mut data = DataSection::new();
        data.active(0, &ConstExpr::i32_const(0), [1u8]);
        data.active(0, &ConstExpr::i32_const(8), [2u8]);
        data.passive([3u8]);
        module.section(&data);
        let before = module.finish();
        assert_eq!(merge_data_segments(&before).unwrap(), before);
    }

    #[test]
    fn modules_nested_in_components_are_merged() {
        let inner = module(&[(100, b"abc"), (110, b"de")]);
        let component = |module: &[u8]| {
            // A component (layer 1) whose one section is a core module (section id 1), inside
            // another component (section id 4).
            let wrap = |id: u8, body: &[u8]| {
                let mut c = b"\0asm\x0d\x00\x01\x00".to_vec();
                c.push(id);
                (body.len() as u32).encode(&mut c);
                c.extend_from_slice(body);
                c
            };
            wrap(4, &wrap(1, module))
        };
        let merged = merge_data_segments(&component(&inner)).unwrap();
        let expected = component(&merge_data_segments(&inner).unwrap());
        assert_eq!(merged, expected);
        assert_ne!(merged, component(&inner));
        assert_eq!(memory_after(&inner).1, 3);
        assert_eq!(memory_after(&merge_data_segments(&inner).unwrap()).1, 2);
    }
}
