//! Instances, their rows of criteria, and METADATA.

use super::channel::Layout;
use super::dfas::check_group_owner;
use super::{R, ck, internal, rej};
use crate::content::Action;
use crate::error::{Rejection, Rule};
use crate::layout::{self, kind};
use crate::limits;
use crate::schema::FieldType;
use crate::wire;

/// METADATA, when present: one record per instance, each field a string
/// index in range or [`layout::NO_STRING`], and at least one string named (a
/// section of nothing but NO_STRING is the same content as no section).
pub(super) fn check_metadata(b: &[u8], l: &Layout) -> R<()> {
    let m = l.metadata;
    if m.off == 0 {
        return Ok(());
    }
    // The METADATA entry is the fifth (it can only come after the four).
    let entry = layout::HEADER_LEN.saturating_add(4 * layout::SECTION_ENTRY_LEN);
    if m.count != l.instances.count {
        return Err(rej(Rule::MetadataMismatch, entry.saturating_add(12))
            .values(l.instances.count.into(), m.count.into()));
    }
    let mut named = false;
    for i in 0..m.count as usize {
        let e = ck(wire::record(m.off, i, layout::METADATA_LEN), m.off)?;
        for r in layout::metadata::ALL {
            let index = wire::u32_at(b, e, r.clone(), "metadata string").map_err(internal)?;
            if index == layout::NO_STRING {
                continue;
            }
            if index >= l.strings.count {
                return Err(rej(Rule::StringOutOfRange, e.saturating_add(r.start))
                    .values(l.strings.count.into(), index.into())
                    .at_instance(None, i as u32));
            }
            named = true;
        }
    }
    if !named {
        return Err(rej(Rule::MetadataMismatch, entry));
    }
    Ok(())
}

pub(super) fn check_instances(b: &[u8], l: &Layout, test_key: bool) -> R<()> {
    use layout::instance as f;
    let mut next_criterion: u32 = 0;
    let mut prev_id: Option<u32> = None;
    for i in 0..l.instances.count {
        let base = ck(
            wire::record(l.instances.off, i as usize, layout::INSTANCE_LEN),
            l.instances.off,
        )?;
        let at = |r: core::ops::Range<usize>| base.saturating_add(r.start);
        let t = wire::u16_at(b, base, f::TEMPLATE, "template").map_err(internal)?;
        let here = |r: Rejection| r.at_instance(Some(t), i);
        let Some(tt) = crate::schema::template_type(t) else {
            return Err(here(
                rej(Rule::UnknownTemplate, at(f::TEMPLATE)).values(0, t.into()),
            ));
        };
        let cc = wire::u16_at(b, base, f::CRITERIA_COUNT, "criteria count").map_err(internal)?;
        if usize::from(cc) != tt.input_count() {
            return Err(here(
                rej(Rule::CriteriaCountMismatch, at(f::CRITERIA_COUNT))
                    .values(tt.input_count() as u64, cc.into()),
            ));
        }
        let first =
            wire::u32_at(b, base, f::FIRST_CRITERION, "first criterion").map_err(internal)?;
        if first != next_criterion {
            return Err(here(
                rej(Rule::CriteriaOutOfRange, at(f::FIRST_CRITERION))
                    .values(next_criterion.into(), first.into()),
            ));
        }
        let and_rows = wire::u8_at(b, base, f::AND_ROWS, "and rows").map_err(internal)?;
        if and_rows > limits::MAX_AND_ROWS {
            return Err(here(
                rej(Rule::TooManyRows, at(f::AND_ROWS))
                    .values(limits::MAX_AND_ROWS.into(), and_rows.into()),
            ));
        }
        let unless_rows = wire::u16_at(b, base, f::UNLESS_ROWS, "unless rows").map_err(internal)?;
        if unless_rows > limits::MAX_UNLESS_ROWS {
            return Err(here(
                rej(Rule::TooManyRows, at(f::UNLESS_ROWS))
                    .values(limits::MAX_UNLESS_ROWS.into(), unless_rows.into()),
            ));
        }
        let rows = u32::from(and_rows)
            .saturating_add(u32::from(unless_rows))
            .saturating_add(1);
        let end = first.saturating_add(u32::from(cc).saturating_mul(rows));
        if end > l.criteria.count {
            return Err(here(
                rej(Rule::CriteriaOutOfRange, at(f::CRITERIA_COUNT))
                    .values(l.criteria.count.into(), end.into()),
            ));
        }
        let id = wire::u32_at(b, base, f::ID, "instance id").map_err(internal)?;
        if let Some(p) = prev_id {
            if id <= p {
                return Err(here(
                    rej(Rule::InstanceIdOrder, at(f::ID)).values(p.into(), id.into()),
                ));
            }
        }
        let action = wire::u8_at(b, base, f::ACTION, "action").map_err(internal)?;
        match Action::from_code(action) {
            None => {
                return Err(here(
                    rej(Rule::UnknownAction, at(f::ACTION)).values(0, action.into()),
                ));
            }
            // Only a key marked test-only may ship a crash (issue 11 finding 10).
            Some(Action::TestCrash) if !test_key => {
                return Err(here(
                    rej(Rule::TestActionNeedsTestKey, at(f::ACTION)).values(0, action.into()),
                ));
            }
            Some(_) => {}
        }
        // Row r of the instance: criteria `first + r * cc ..`. Rows after the
        // first must test something, and an AND row may test a field only if
        // the row above tests it too (ANDed tests of a field fill rows top
        // down): otherwise the same content would have several encodings.
        let mut above_tests: u64 = 0;
        for r in 0..rows {
            let mut tests: u64 = 0;
            for (k, field) in tt.fields.iter().enumerate() {
                let idx = (r as usize)
                    .checked_mul(tt.input_count())
                    .and_then(|x| x.checked_add(first as usize)?.checked_add(k));
                let c = ck(
                    idx.and_then(|i| wire::record(l.criteria.off, i, layout::CRITERION_LEN)),
                    base,
                )?;
                check_criterion(b, l, c, field.ty, (tt.id, k))
                    .map_err(|r| here(r).at_field(k as u16))?;
                let kind = wire::u8_at(b, c, layout::criterion::KIND, "criterion kind")
                    .map_err(internal)?;
                if kind != kind::ANY {
                    let bit = 1u64.checked_shl(k as u32).unwrap_or(0);
                    tests |= bit;
                    let and_row = r >= 1 && r <= u32::from(and_rows);
                    if and_row && above_tests & bit == 0 {
                        return Err(here(rej(Rule::RowNotCanonical, c).values(0, r.into()))
                            .at_field(k as u16));
                    }
                }
            }
            if r >= 1 && tests == 0 {
                let c = wire::record(
                    l.criteria.off,
                    (first as usize).saturating_add((r as usize).saturating_mul(tt.input_count())),
                    layout::CRITERION_LEN,
                )
                .unwrap_or(base);
                return Err(here(rej(Rule::RowNotCanonical, c).values(0, r.into())));
            }
            above_tests = tests;
        }
        prev_id = Some(id);
        next_criterion = end;
    }
    if next_criterion != l.criteria.count {
        let at = wire::record(
            l.criteria.off,
            next_criterion as usize,
            layout::CRITERION_LEN,
        )
        .unwrap_or(l.criteria.off);
        return Err(
            rej(Rule::UnaccountedBytes, at).values(l.criteria.count.into(), next_criterion.into())
        );
    }
    Ok(())
}

/// One criterion record at file offset `c` on a field of type `ty`; `owner`
/// is its (template id, field index), which a regex group must declare.
fn check_criterion(b: &[u8], l: &Layout, c: usize, ty: FieldType, owner: (u16, usize)) -> R<()> {
    use layout::criterion as f;
    let at = |r: core::ops::Range<usize>| c.saturating_add(r.start);
    let k = wire::u8_at(b, c, f::KIND, "criterion kind").map_err(internal)?;
    let flags = wire::u8_at(b, c, f::FLAGS, "criterion flags").map_err(internal)?;
    let reserved = wire::u16_at(b, c, f::RESERVED, "criterion reserved").map_err(internal)?;
    let index = wire::u32_at(b, c, f::INDEX, "criterion index").map_err(internal)?;
    let a = wire::u64_at(b, c, f::A, "operand a").map_err(internal)?;
    let bb = wire::u64_at(b, c, f::B, "operand b").map_err(internal)?;

    // (field type it applies to: None = any, uses index, uses a, uses b, may fold)
    let (want, uses_index, uses_a, uses_b, may_fold) = match k {
        kind::ANY => (None, false, false, false, false),
        kind::EQUALS | kind::PREFIX | kind::SUFFIX | kind::CONTAINS => {
            (Some(FieldType::Str), true, false, false, true)
        }
        kind::REGEX => (Some(FieldType::Str), true, false, false, false),
        kind::INT_EQUALS => (Some(FieldType::Int), false, true, false, false),
        kind::INT_RANGE | kind::INT_MASK => (Some(FieldType::Int), false, true, true, false),
        _ => return Err(rej(Rule::UnknownCriterionKind, at(f::KIND)).values(0, k.into())),
    };
    if let Some(want) = want {
        if want != ty {
            return Err(
                rej(Rule::CriterionTypeMismatch, at(f::KIND)).values(ty.code().into(), k.into())
            );
        }
    }
    let allowed_flags = if may_fold {
        layout::CRITERION_FLAG_CASE_INSENSITIVE
    } else {
        0
    };
    if flags & !allowed_flags != 0 {
        return Err(
            rej(Rule::ReservedNonZero, at(f::FLAGS)).values(allowed_flags.into(), flags.into())
        );
    }
    if reserved != 0 {
        return Err(rej(Rule::ReservedNonZero, at(f::RESERVED)).values(0, reserved.into()));
    }
    if !uses_index && index != 0 {
        return Err(rej(Rule::ReservedNonZero, at(f::INDEX)).values(0, index.into()));
    }
    if !uses_a && a != 0 {
        return Err(rej(Rule::ReservedNonZero, at(f::A)).values(0, a));
    }
    if !uses_b && bb != 0 {
        return Err(rej(Rule::ReservedNonZero, at(f::B)).values(0, bb));
    }
    match k {
        kind::INT_RANGE if a > bb => Err(rej(Rule::BadIntOperands, at(f::B)).values(a, bb)),
        kind::INT_MASK if bb & !a != 0 => {
            Err(rej(Rule::BadIntOperands, at(f::B)).values(bb & a, bb))
        }
        kind::REGEX if index >= l.dfas.count => {
            Err(rej(Rule::DfaOutOfRange, at(f::INDEX)).values(l.dfas.count.into(), index.into()))
        }
        kind::REGEX => check_group_owner(b, l, index, owner, at(f::INDEX)),
        kind::EQUALS | kind::PREFIX | kind::SUFFIX | kind::CONTAINS => {
            if index >= l.strings.count {
                return Err(rej(Rule::StringOutOfRange, at(f::INDEX))
                    .values(l.strings.count.into(), index.into()));
            }
            if flags & layout::CRITERION_FLAG_CASE_INSENSITIVE != 0 {
                // The string pass proves the FOLDED flag true; here we need it set.
                let e = ck(
                    wire::record(l.strings.off, index as usize, layout::STRING_ENTRY_LEN),
                    c,
                )?;
                let sflags = wire::u16_at(b, e, layout::string_entry::FLAGS, "string flags")
                    .map_err(internal)?;
                if sflags & layout::STRING_FLAG_FOLDED == 0 {
                    return Err(rej(Rule::NeedleNotFolded, at(f::FLAGS)).values(1, sflags.into()));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
