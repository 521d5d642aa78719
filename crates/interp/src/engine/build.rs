//! Building an engine: loading each channel's instances, criteria and DFAs
//! (all allocation fallible), then the per-template indexes. Linear in the
//! validated content; see the module docs of `engine`.

use super::*;

impl<'a> Engine<'a> {
    /// Build an engine over `channels` with the default [`EngineConfig`].
    ///
    /// The channels are borrowed for the engine's lifetime: DFAs and needles
    /// are used in place, never copied.
    ///
    /// # Errors
    /// [`EngineError::OutOfMemory`] when a fallible allocation fails,
    /// [`EngineError::DuplicateChannel`], or [`EngineError::Inconsistent`] if
    /// validated content does not decode (a bug; the loader falls back).
    ///
    /// # Panics
    /// Never.
    pub fn new(channels: &'a [ValidChannel<&'a [u8]>]) -> Result<Engine<'a>, EngineError> {
        Engine::with_config(channels, EngineConfig::default())
    }

    /// [`Engine::new`] with explicit settings.
    ///
    /// # Errors
    /// As [`Engine::new`].
    pub fn with_config(
        channels: &'a [ValidChannel<&'a [u8]>],
        config: EngineConfig,
    ) -> Result<Engine<'a>, EngineError> {
        let mut e = Engine {
            insts: Vec::new(),
            crits: Vec::new(),
            unless: Vec::new(),
            kmp: Vec::new(),
            dfas: Vec::new(),
            templates: Vec::new(),
            stats: EngineStats::default(),
            lit_stats: LiteralStats::default(),
            group_slots: [GroupSlots {
                cap: u16::try_from(config.group_slots.min(GROUP_SLOTS)).unwrap_or(0),
                ..GroupSlots::default()
            }; TEMPLATE_TYPES.len()],
            proofs: proofs::Budget::new(config.proof_steps, config.proof_steps_per_dfa_byte),
            set_members: Vec::new(),
            quiet_bits: Vec::new(),
        };
        // Channel order: by channel id (instances are then in (channel, id) order).
        let mut order: Vec<usize> = Vec::new();
        order.try_reserve_exact(channels.len())?;
        order.extend(0..channels.len());
        order.sort_unstable_by_key(|&k| channels.get(k).map(ValidChannel::channel));
        let mut prev: Option<u32> = None;
        let mut anchors: Vec<Anchor> = Vec::new();
        let mut templ_of: Vec<u8> = Vec::new();
        for &k in &order {
            let ch = channels.get(k).ok_or(EngineError::OutOfMemory)?;
            if prev == Some(ch.channel()) {
                return Err(EngineError::DuplicateChannel(ch.channel()));
            }
            prev = Some(ch.channel());
            e.load_channel(ch, &mut anchors, &mut templ_of)?;
            e.stats.channels = e.stats.channels.saturating_add(1);
        }
        e.share_literals()?;
        e.build_indexes(&anchors, &templ_of, config)?;
        e.mark_holding_fields();
        e.split_always()?;
        for ti in &mut e.templates {
            ti.active = active_fields(&ti.fields);
        }
        e.stats.instances = u32::try_from(e.insts.len()).unwrap_or(u32::MAX);
        e.stats.index_bytes = e.heap_bytes();
        e.stats.proofs_skipped = e.proofs.skipped;
        Ok(e)
    }

    /// Load DFA `d` of `ch`, append its record to `dfas` ([`push_dfa`]), then
    /// analyse it there.
    ///
    /// A DFA value is ~700 bytes and every move of it is a stack copy: it is
    /// moved once, into the (reserved) vector, and analysed there by reference
    /// (it used to be copied into a local, then into a record, then pushed). Not
    /// inlined, so none of it sits in `with_config`'s frame while that builds
    /// the indexes.
    ///
    /// A member of a regex group after its first shares the first's DFA: it
    /// copies the first's prefilter classes, adds no analysis allowance (the
    /// bytes are the first's) and gets no literal anchor (a per-pattern proof
    /// over a whole group's DFA would cost DriverEntry the group's size once
    /// per member); its instances are found by the group's one scan per event.
    #[inline(never)]
    fn load_dfa(
        &mut self,
        ch: &'a ValidChannel<&'a [u8]>,
        d: u32,
        dfa_base: u32,
    ) -> Result<(), EngineError> {
        let channel = ch.channel();
        let bad = |index: u32, what: &'static str| EngineError::Inconsistent {
            channel,
            index,
            what,
        };
        // The entry's small parts first; the DFA value never enters this
        // frame (kernel stack: this is the deepest load path).
        let group = ch.dfa_group(d).ok_or(bad(d, "dfa group does not decode"))?;
        let hint = ch
            .dfa_literal(d)
            .ok_or(bad(d, "dfa literal does not decode"))?;
        push_dfa(&mut self.dfas, ch, d).ok_or(bad(d, "dfa does not load"))?;
        self.stats.dfas = self.stats.dfas.saturating_add(1);
        match group {
            Some(g) => {
                let set = if g.pattern == 0 && hint.is_some_and(|h| h.set) {
                    self.stage_set(ch, d)?
                } else {
                    None
                };
                self.load_group_member(g, dfa_base, hint, set, bad(d, "dfa group"))
            }
            None => self.analyse_single(hint, bad(d, "dfa does not load")),
        }
    }

    /// Stage, at the end of `set_members`, the union of the literal hints of
    /// the regex group entry `d` opens (each member's set or single
    /// literal), sorted and without duplicates: every match of any pattern
    /// of the group's DFA contains one of them if the writer's hints are
    /// sound (the caller proves it). Returns the staged range and whether any
    /// hint is folded, or `None` (nothing staged) when a member has no hint,
    /// a literal under [`LIT_MIN`] bytes, or the union is over
    /// [`SET_MEMBERS_MAX`] distinct members or [`SET_BYTES_MAX`] bytes.
    #[inline(never)]
    fn stage_set(
        &mut self,
        ch: &'a ValidChannel<&'a [u8]>,
        d: u32,
    ) -> Result<Option<(u32, u32, bool)>, EngineError> {
        let mut union: Vec<&'a [u8]> = Vec::new();
        let mut folded = false;
        let mut j = d;
        // Bounded: a group has at most MAX_GROUP_PATTERNS entries.
        for _ in 0..changuard_format::limits::MAX_GROUP_PATTERNS {
            match ch.dfa_group(j) {
                Some(Some(g)) if g.first == d => {}
                _ => break,
            }
            let Some(Some(h)) = ch.dfa_literal(j) else {
                return Ok(None);
            };
            folded |= h.folded;
            for m in h.members() {
                // Deduplicated as it grows: members of one family repeat
                // each other's sets (at most SET_MEMBERS_MAX compares each).
                if m.len() < LIT_MIN {
                    return Ok(None);
                }
                if union.contains(&m) {
                    continue;
                }
                if union.len() >= SET_MEMBERS_MAX {
                    return Ok(None);
                }
                try_push(&mut union, m)?;
            }
            j = j.saturating_add(1);
        }
        union.sort_unstable();
        let bytes: usize = union.iter().map(|m| m.len()).sum();
        if union.len() > SET_MEMBERS_MAX || bytes > SET_BYTES_MAX {
            return Ok(None);
        }
        let (Ok(start), Ok(len)) = (
            u32::try_from(self.set_members.len()),
            u32::try_from(union.len()),
        ) else {
            return Ok(None);
        };
        self.set_members.try_reserve(union.len())?;
        self.set_members.extend(union);
        Ok(Some((start, len, folded)))
    }

    /// Prove the literal set staged at `set_members[start..start + len]`
    /// (members compared ASCII case-insensitively when `folded`) over the
    /// last loaded DFA: proven, its record is anchored on the set (`lit` its
    /// shortest member); otherwise the members are unstaged. Counts the hint
    /// proven or unproven; an empty set is unproven.
    fn prove_staged_set(
        &mut self,
        start: usize,
        len: usize,
        folded: bool,
        bad: EngineError,
    ) -> Result<bool, EngineError> {
        let rec = self.dfas.last_mut().ok_or(bad)?;
        let members = start
            .checked_add(len)
            .and_then(|end| self.set_members.get(start..end))
            .unwrap_or(&[]);
        let proven = !members.is_empty()
            && any_literal_required(&rec.dfa, members, folded, &mut self.proofs, None)?;
        let ls = &mut self.lit_stats;
        match (u32::try_from(start), u32::try_from(len)) {
            (Ok(s), Ok(n)) if proven => {
                ls.proven = ls.proven.saturating_add(1);
                rec.set = Some((s, n));
                rec.lit = members.iter().copied().min_by_key(|m| m.len());
                rec.lit_folded = folded;
                Ok(true)
            }
            _ => {
                ls.unproven = ls.unproven.saturating_add(1);
                self.set_members.truncate(start);
                Ok(false)
            }
        }
    }

    /// The last loaded DFA's size (stats, analysis allowance) and byte-class
    /// prefilter ([`required_classes`]); its number of required classes.
    #[inline]
    fn prefilter_last(&mut self, bad: EngineError) -> Result<usize, EngineError> {
        let rec = self.dfas.last_mut().ok_or(bad)?;
        let stats = &mut self.stats;
        let bytes = len64(rec.dfa.write_to_len());
        stats.dfa_bytes = stats.dfa_bytes.saturating_add(bytes);
        self.proofs.grant(bytes);
        let DfaRec { dfa, req, .. } = rec;
        let nreq = required_classes(dfa, req, &mut self.proofs)?;
        rec.nreq = nreq;
        if nreq > 0 {
            stats.dfas_prefiltered = stats.dfas_prefiltered.saturating_add(1);
        }
        Ok(nreq)
    }

    /// The rest of [`Engine::load_dfa`] for a DFA of its own (the record just
    /// pushed): prefilter classes and literal proof. Not inlined, like
    /// [`Engine::load_group_member`]: the caller's frame holds the DFA value
    /// on its way into the vector, this one only a reference.
    #[inline(never)]
    fn analyse_single(
        &mut self,
        hint: Option<changuard_format::RequiredLiteral<'a>>,
        bad: EngineError,
    ) -> Result<(), EngineError> {
        self.prefilter_last(bad)?;
        let rec = self.dfas.last_mut().ok_or(bad)?;
        if let Some(h) = hint {
            let ls = &mut self.lit_stats;
            ls.hints = ls.hints.saturating_add(1);
            let text = h.text.as_bytes();
            if h.set {
                // Every member at least LIT_MIN bytes (the validator caps
                // their number at MAX_LITERAL_SET); none staged otherwise.
                let start = self.set_members.len();
                if h.members().all(|m| m.len() >= LIT_MIN) {
                    self.set_members.try_reserve(h.members().count())?;
                    self.set_members.extend(h.members());
                }
                let len = self.set_members.len().saturating_sub(start);
                if self.prove_staged_set(start, len, h.folded, bad)? {
                    self.lit_stats.single_sets = self.lit_stats.single_sets.saturating_add(1);
                }
            } else if text.len() >= LIT_MIN {
                let q0 = self.quiet_bits.len();
                let q = Some(&mut self.quiet_bits);
                if literal_required(&rec.dfa, text, h.folded, &mut self.proofs, q)? {
                    ls.proven = ls.proven.saturating_add(1);
                    rec.lit = Some(text);
                    rec.lit_folded = h.folded;
                    rec.quiet = quiet_range(q0, self.quiet_bits.len());
                } else {
                    ls.unproven = ls.unproven.saturating_add(1);
                }
            }
        }
        Ok(())
    }

    /// The rest of [`Engine::load_dfa`] for a group member (the record just
    /// pushed): the first member analyses the shared DFA (prefilter classes;
    /// its literal hint, proven for every pattern of the DFA at once) and
    /// takes a slot of its template type; the others copy all three (the
    /// proof is about every pattern of the DFA, so it holds for each member,
    /// whatever its own hint; the writer groups regexes by literal anyway).
    #[inline(never)]
    fn load_group_member(
        &mut self,
        g: changuard_format::DfaGroup,
        dfa_base: u32,
        hint: Option<changuard_format::RequiredLiteral<'a>>,
        set: Option<(u32, u32, bool)>,
        bad: EngineError,
    ) -> Result<(), EngineError> {
        if hint.is_some() {
            self.lit_stats.hints = self.lit_stats.hints.saturating_add(1);
        }
        let bit = 1u64.checked_shl(u32::from(g.pattern)).ok_or(bad)?;
        self.stats.dfas_grouped = self.stats.dfas_grouped.saturating_add(1);
        if g.pattern > 0 {
            let first = dfa_base
                .checked_add(g.first)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| self.dfas.get(i))
                .ok_or(bad)?;
            let (req, nreq, lit, lit_folded, set, quiet) = (
                first.req,
                first.nreq,
                first.lit,
                first.lit_folded,
                first.set,
                first.quiet,
            );
            let first = first.group.ok_or(bad)?;
            // The proof covered every pattern of the DFA, this one too.
            if lit.is_some() {
                self.lit_stats.proven = self.lit_stats.proven.saturating_add(1);
            }
            if nreq > 0 {
                self.stats.dfas_prefiltered = self.stats.dfas_prefiltered.saturating_add(1);
            }
            let rec = self.dfas.last_mut().ok_or(bad)?;
            rec.req = req;
            rec.nreq = nreq;
            rec.lit = lit;
            rec.lit_folded = lit_folded;
            rec.set = set;
            rec.quiet = quiet;
            rec.group = Some(GroupRef {
                bit,
                pattern: g.pattern,
                ..first
            });
            return Ok(());
        }
        let k = TEMPLATE_TYPES
            .iter()
            .position(|t| t.id == g.template)
            .ok_or(bad)?;
        let here = u32::try_from(self.dfas.len().saturating_sub(1)).map_err(|_| bad)?;
        self.stats.groups = self.stats.groups.saturating_add(1);
        let nreq = self.prefilter_last(bad)?;
        if let Some((start, len, folded)) = set {
            // The union of the members' hints: "every match of any pattern
            // contains one of them", over the whole group's DFA.
            let (start, len) = (
                usize::try_from(start).map_err(|_| bad)?,
                usize::try_from(len).map_err(|_| bad)?,
            );
            if self.prove_staged_set(start, len, folded, bad)? {
                self.lit_stats.sets = self.lit_stats.sets.saturating_add(1);
            }
        } else if let Some(h) = hint.filter(|h| !h.set) {
            let text = h.text.as_bytes();
            let rec = self.dfas.last_mut().ok_or(bad)?;
            // "Every match of any pattern contains it": the single-DFA proof,
            // over the whole group's DFA.
            if text.len() >= LIT_MIN {
                let q0 = self.quiet_bits.len();
                let q = Some(&mut self.quiet_bits);
                if literal_required(&rec.dfa, text, h.folded, &mut self.proofs, q)? {
                    self.lit_stats.proven = self.lit_stats.proven.saturating_add(1);
                    rec.lit = Some(text);
                    rec.lit_folded = h.folded;
                    rec.quiet = quiet_range(q0, self.quiet_bits.len());
                } else {
                    self.lit_stats.unproven = self.lit_stats.unproven.saturating_add(1);
                }
            }
        }
        let slots = self.group_slots.get_mut(k).ok_or(bad)?;
        let slot = (slots.used < slots.cap).then_some(slots.used);
        if slot.is_some() {
            slots.used = slots.used.saturating_add(1);
            if nreq > 0 {
                slots.prefiltered = slots.prefiltered.saturating_add(1);
            }
        }
        self.dfas.last_mut().ok_or(bad)?.group = Some(GroupRef {
            slot,
            bit,
            pattern: g.pattern,
            first: here,
        });
        Ok(())
    }

    fn load_channel(
        &mut self,
        ch: &'a ValidChannel<&'a [u8]>,
        anchors: &mut Vec<Anchor>,
        templ_of: &mut Vec<u8>,
    ) -> Result<(), EngineError> {
        let channel = ch.channel();
        let bad = |index: u32, what: &'static str| EngineError::Inconsistent {
            channel,
            index,
            what,
        };
        let dfa_base = u32::try_from(self.dfas.len()).map_err(|_| bad(NONE, "dfa count"))?;
        let ndfa = ch.dfa_count();
        self.dfas
            .try_reserve(usize::try_from(ndfa).map_err(|_| bad(NONE, "dfa count"))?)?;
        for d in 0..ndfa {
            self.load_dfa(ch, d, dfa_base)?;
        }
        let n = ch.instance_count();
        let n_us = usize::try_from(n).map_err(|_| bad(NONE, "instance count"))?;
        self.insts.try_reserve(n_us)?;
        anchors.try_reserve(n_us)?;
        templ_of.try_reserve(n_us)?;
        for i in 0..n {
            let inst = ch.instance(i).ok_or(bad(i, "instance does not decode"))?;
            let t = TEMPLATE_TYPES
                .iter()
                .position(|t| t.id == inst.template.id)
                .and_then(|p| u8::try_from(p).ok())
                .ok_or(bad(i, "unknown template"))?;
            // The AND rows (row 0 and the AND rows) are one conjunction: their
            // criteria go in one list, so the anchor and the cheapest-first
            // order are chosen over all of them.
            let and_rows = usize::from(inst.and_rows).saturating_add(1);
            let (crit_start, crit_len) = self.load_rows(ch, &inst, 0..and_rows, dfa_base)?;
            let end = usize::try_from(crit_start.saturating_add(crit_len))
                .map_err(|_| bad(i, "criteria"))?;
            // Anchor: the most selective indexable criterion (first on ties).
            let mut best = Anchor::None;
            let mut best_score = 0u64;
            if let Some(own) = usize::try_from(crit_start)
                .ok()
                .and_then(|s| self.crits.get(s..end))
            {
                for (p, c) in own.iter().enumerate() {
                    let idx = u32::try_from(p)
                        .ok()
                        .and_then(|p| crit_start.checked_add(p))
                        .ok_or(bad(i, "criteria"))?;
                    let (score, anchor) = anchor_of(c.field, idx, &c.test, |d| {
                        let rec = usize::try_from(d).ok().and_then(|d| self.dfas.get(d));
                        let slotted = rec.and_then(|r| r.group).is_some_and(|g| g.slot.is_some());
                        (rec.and_then(|r| r.lit), slotted)
                    });
                    if score > best_score {
                        best_score = score;
                        best = anchor;
                    }
                }
            }
            if let Anchor::Contains { crit, .. } = best {
                if matches!(
                    self.crit(crit),
                    Some(Crit {
                        test: Test::Regex(_),
                        ..
                    })
                ) {
                    let ls = &mut self.lit_stats;
                    ls.anchors = ls.anchors.saturating_add(1);
                }
            }
            // UNLESS rows: each its own conjunction, cheapest first; checked
            // only after the AND rows matched.
            let unless_start =
                u32::try_from(self.unless.len()).map_err(|_| bad(i, "too many rows"))?;
            for r in and_rows..inst.row_count() {
                let row = self.load_rows(ch, &inst, r..r.saturating_add(1), dfa_base)?;
                try_push(&mut self.unless, row)?;
            }
            let unless_len = u32::try_from(self.unless.len())
                .ok()
                .and_then(|e| e.checked_sub(unless_start))
                .ok_or(bad(i, "rows"))?;
            self.insts.push(Inst {
                channel,
                id: inst.id,
                action: inst.action,
                crit_start,
                crit_len,
                unless_start,
                unless_len,
            });
            anchors.push(best);
            templ_of.push(t);
        }
        Ok(())
    }

    /// Decode `rows` of instance `inst` of `ch` as one conjunction: their
    /// non-`Any` criteria appended to `crits`, cheapest first (integers, then
    /// affixes/equals, contains, regex last). Returns `(start, len)` in `crits`.
    fn load_rows(
        &mut self,
        ch: &'a ValidChannel<&'a [u8]>,
        inst: &changuard_format::Instance<'a>,
        rows: core::ops::Range<usize>,
        dfa_base: u32,
    ) -> Result<(u32, u32), EngineError> {
        let too_many = EngineError::Inconsistent {
            channel: ch.channel(),
            index: inst.index,
            what: "too many criteria",
        };
        let start = self.crits.len();
        for r in rows {
            self.load_row(ch, inst, r, dfa_base)?;
        }
        let end = self.crits.len();
        if let Some(own) = self.crits.get_mut(start..end) {
            own.sort_unstable_by_key(|c| (test_rank(&c.test), c.field));
        }
        let s = u32::try_from(start).map_err(|_| too_many)?;
        let len = u32::try_from(end.saturating_sub(start)).map_err(|_| too_many)?;
        Ok((s, len))
    }

    /// Decode row `r` of instance `inst` of `ch`, appending its non-`Any`
    /// criteria to `crits` (and their KMP tables to `kmp`).
    fn load_row(
        &mut self,
        ch: &'a ValidChannel<&'a [u8]>,
        inst: &changuard_format::Instance<'a>,
        r: usize,
        dfa_base: u32,
    ) -> Result<(), EngineError> {
        let channel = ch.channel();
        let i = inst.index;
        let bad = |index: u32, what: &'static str| EngineError::Inconsistent {
            channel,
            index,
            what,
        };
        let ndfa = ch.dfa_count();
        for k in 0..inst.criteria_len() {
            let c = inst
                .row_criterion(r, k)
                .ok_or(bad(i, "criterion does not decode"))?;
            let field = u8::try_from(k).map_err(|_| bad(i, "field index"))?;
            let fty = inst
                .template
                .fields
                .get(k)
                .map(|f| f.ty)
                .ok_or(bad(i, "criterion past the template's inputs"))?;
            let test = match c {
                Criterion::Any => continue,
                Criterion::Str {
                    op,
                    needle,
                    case_insensitive,
                } => {
                    if fty != FieldType::Str {
                        return Err(bad(i, "string criterion on an integer field"));
                    }
                    let needle = needle.as_bytes();
                    if case_insensitive && needle.iter().any(u8::is_ascii_uppercase) {
                        return Err(bad(i, "case-insensitive needle not folded"));
                    }
                    let mut kmp = NONE;
                    if op == StrOp::Contains {
                        let t = strops::kmp_table(needle).ok_or(EngineError::OutOfMemory)?;
                        kmp = u32::try_from(self.kmp.len())
                            .map_err(|_| bad(i, "kmp tables too large"))?;
                        self.kmp.try_reserve(t.len())?;
                        self.kmp.extend_from_slice(&t);
                    }
                    Test::Str {
                        op,
                        needle,
                        ci: case_insensitive,
                        kmp,
                    }
                }
                Criterion::IntEquals(v) => Test::IntEq(v),
                Criterion::IntRange { lo, hi } => Test::IntRange(lo, hi),
                Criterion::IntMask { mask, value } => Test::IntMask(mask, value),
                Criterion::Regex { dfa } => {
                    if fty != FieldType::Str {
                        return Err(bad(i, "regex criterion on an integer field"));
                    }
                    if dfa >= ndfa {
                        return Err(bad(i, "dfa index out of range"));
                    }
                    Test::Regex(dfa_base.checked_add(dfa).ok_or(bad(i, "dfa index"))?)
                }
            };
            if matches!(
                test,
                Test::IntEq(_) | Test::IntRange(..) | Test::IntMask(..)
            ) && fty != FieldType::Int
            {
                return Err(bad(i, "integer criterion on a string field"));
            }
            try_push(&mut self.crits, Crit { field, test })?;
        }
        Ok(())
    }

    fn build_indexes(
        &mut self,
        anchors: &[Anchor],
        templ_of: &[u8],
        config: EngineConfig,
    ) -> Result<(), EngineError> {
        let cap = config.field_cap;
        self.templates.try_reserve_exact(TEMPLATE_TYPES.len())?;
        for (t, tt) in TEMPLATE_TYPES.iter().enumerate() {
            let mut ti = TemplateIndex::default();
            ti.fields.try_reserve_exact(tt.input_count())?;
            for _ in 0..tt.input_count() {
                ti.fields.push(FieldIndex::default());
            }
            for (f, fi) in ti.fields.iter_mut().enumerate() {
                self.index_field((t, f), anchors, templ_of, fi, &mut ti.always)?;
            }
            for (g, (a, &tp)) in anchors.iter().zip(templ_of).enumerate() {
                if usize::from(tp) == t && *a == Anchor::None {
                    try_push(
                        &mut ti.always,
                        u32::try_from(g).map_err(|_| EngineError::OutOfMemory)?,
                    )?;
                }
            }
            ti.always.sort_unstable();
            ti.slot_words = self
                .group_slots
                .get(t)
                .map_or(0, |g| usize::from(g.used).div_ceil(64));
            ti.cost = self.cost_of(tt, &ti, cap);
            ti.fuel_limit = config.fuel_limit.unwrap_or(ti.cost.total);
            self.templates.push(ti);
        }
        for a in anchors {
            let s = &mut self.stats;
            match a {
                Anchor::None => s.always = s.always.saturating_add(1),
                Anchor::Contains { .. } => {
                    s.anchored_contains = s.anchored_contains.saturating_add(1)
                }
                Anchor::Affix { .. } => s.anchored_affix = s.anchored_affix.saturating_add(1),
                Anchor::StrEq { .. } => s.anchored_equals = s.anchored_equals.saturating_add(1),
                Anchor::IntEq { .. } => s.anchored_int = s.anchored_int.saturating_add(1),
                Anchor::Group { .. } => s.anchored_group = s.anchored_group.saturating_add(1),
            }
        }
        // Gram overflow moved some contains-anchored instances to `always`.
        let always: usize = self.templates.iter().map(|t| t.always.len()).sum();
        let moved = u32::try_from(always)
            .unwrap_or(u32::MAX)
            .saturating_sub(self.stats.always);
        self.stats.anchored_contains = self.stats.anchored_contains.saturating_sub(moved);
        self.stats.always = u32::try_from(always).unwrap_or(u32::MAX);
        Ok(())
    }
}

/// The group anchors of one field from `(group's first record, pattern,
/// instance)` entries: per group, its instances ordered by pattern, with
/// each pattern's range (so an event visits only the patterns that matched).
fn build_group_anchors(entries: &mut [(u32, u8, u32)]) -> Result<Vec<GroupAnchor>, EngineError> {
    entries.sort_unstable();
    let mut out: Vec<GroupAnchor> = Vec::new();
    for &(first, pattern, g) in entries.iter() {
        if out.last().is_none_or(|a| a.first != first) {
            let mut starts: Vec<u32> = Vec::new();
            starts.try_reserve_exact(65)?;
            starts.resize(65, 0);
            try_push(
                &mut out,
                GroupAnchor {
                    first,
                    insts: Vec::new(),
                    starts,
                    multi: false,
                },
            )?;
        }
        let a = out.last_mut().ok_or(EngineError::OutOfMemory)?;
        try_push(&mut a.insts, g)?;
        // starts[p + 1] counts pattern p's instances, prefix-summed below.
        if let Some(n) = a.starts.get_mut(usize::from(pattern).saturating_add(1)) {
            *n = n.saturating_add(1);
        }
    }
    for a in &mut out {
        let mut sum = 0u32;
        for n in &mut a.starts {
            sum = sum.saturating_add(*n);
            *n = sum;
        }
    }
    Ok(out)
}

impl<'a> Engine<'a> {
    /// Field `f` of template `t`: its indexes into `fi` (built in place: a
    /// field index is 512 bytes of stack otherwise), from the anchors of the
    /// template's instances (`templ_of`). Instances no index can hold go to
    /// `always`. Not inlined: its locals stay out of the frame of
    /// `with_config`, which is on the path that loads every DFA.
    #[inline(never)]
    fn index_field(
        &self,
        (t, f): (usize, usize),
        anchors: &[Anchor],
        templ_of: &[u8],
        fi: &mut FieldIndex<'a>,
        always: &mut Vec<u32>,
    ) -> Result<(), EngineError> {
        let fu8 = u8::try_from(f).map_err(|_| EngineError::OutOfMemory)?;
        let mut fwd: [Vec<(&'a [u8], bool, u32)>; 2] = [Vec::new(), Vec::new()];
        let mut rev: [Vec<(&'a [u8], bool, u32)>; 2] = [Vec::new(), Vec::new()];
        let mut contains: Vec<GramNeedle<'a>> = Vec::new();
        let mut ints: Vec<(u64, u32)> = Vec::new();
        // (group's first record, pattern id, instance): group anchors
        // scanned every event, and those reached through a literal.
        let mut grouped: Vec<(u32, u8, u32)> = Vec::new();
        let mut lit_grouped: Vec<(u32, u8, u32)> = Vec::new();
        let mut group_lits: Vec<(u32, &'a [u8], bool)> = Vec::new();
        let mut fi_singles: Vec<u32> = Vec::new();
        for (g, (a, &tp)) in anchors.iter().zip(templ_of).enumerate() {
            if usize::from(tp) != t {
                continue;
            }
            let g = u32::try_from(g).map_err(|_| EngineError::OutOfMemory)?;
            match *a {
                Anchor::IntEq { field, value } if field == fu8 => {
                    try_push(&mut ints, (value, g))?;
                }
                Anchor::StrEq { field, crit } | Anchor::Affix { field, crit } if field == fu8 => {
                    if let Some(Crit {
                        test: Test::Str { op, needle, ci, .. },
                        ..
                    }) = self.crit(crit)
                    {
                        let m = usize::from(ci);
                        let (list, is_eq) = match op {
                            StrOp::Equals => (&mut fwd, true),
                            StrOp::Prefix => (&mut fwd, false),
                            _ => (&mut rev, false),
                        };
                        if let Some(l) = list.get_mut(m) {
                            try_push(l, (needle, is_eq, g))?;
                        }
                    }
                }
                Anchor::Contains { field, crit } if field == fu8 => {
                    // A contains needle, or a regex's proven required
                    // literal: the gram index only selects candidates;
                    // every criterion (the DFA too) is still checked.
                    let rec = match self.crit(crit) {
                        Some(Crit {
                            test: Test::Regex(d),
                            ..
                        }) => usize::try_from(d).ok().and_then(|d| self.dfas.get(d)),
                        _ => None,
                    };
                    let needle = match self.crit(crit) {
                        Some(Crit {
                            test: Test::Str { needle, ci, .. },
                            ..
                        }) => Some((needle, ci)),
                        _ => rec.and_then(|r| Some((r.lit?, r.lit_folded))),
                    };
                    match (needle, rec.and_then(|r| r.group)) {
                        // A regex group's proven literal: the group
                        // is the gram's candidate (below), not each
                        // member's instance.
                        (Some((n, ci)), Some(r)) if r.slot.is_some() => {
                            try_push(&mut lit_grouped, (r.first, r.pattern, g))?;
                            match rec.and_then(|r| r.set) {
                                // A literal set: a gram entry per member.
                                Some(set) => {
                                    for &m in self.set_of(set) {
                                        try_push(&mut group_lits, (r.first, m, ci))?;
                                    }
                                }
                                None => try_push(&mut group_lits, (r.first, n, ci))?,
                            }
                        }
                        // A literal set of a regex scanned on its
                        // own (or of a group without a cache slot):
                        // a gram entry per member naming the
                        // instance, evaluated once per event.
                        (Some((_, ci)), _) if rec.and_then(|r| r.set).is_some() => {
                            let set = rec.and_then(|r| r.set).unwrap_or((0, 0));
                            if !self.index_set_single(set, ci, g, &mut fi_singles, &mut contains)? {
                                try_push(always, g)?;
                            }
                        }
                        (Some((text, ci)), _) => {
                            try_push(&mut contains, GramNeedle { text, entry: g, ci })?
                        }
                        // Cannot happen (anchor_of saw it); fail safe.
                        (None, _) => try_push(always, g)?,
                    }
                }
                Anchor::Group { field, crit } if field == fu8 => {
                    let g_ref = match self.crit(crit) {
                        Some(Crit {
                            test: Test::Regex(d),
                            ..
                        }) => usize::try_from(d)
                            .ok()
                            .and_then(|d| self.dfas.get(d))
                            .and_then(|r| r.group),
                        _ => None,
                    };
                    match g_ref {
                        Some(r) => try_push(&mut grouped, (r.first, r.pattern, g))?,
                        // Cannot happen (anchor_of saw it); fail safe.
                        None => try_push(always, g)?,
                    }
                }
                _ => {}
            }
        }
        fi.groups = build_group_anchors(&mut grouped)?;
        // One gram entry per literal group (per member of its literal
        // set), its id marked virtual.
        fi.lit_groups = build_group_anchors(&mut lit_grouped)?;
        fi.set_singles = fi_singles;
        group_lits.sort_unstable();
        group_lits.dedup();
        for (k, a) in fi.lit_groups.iter_mut().enumerate() {
            let id = u32::try_from(k)
                .ok()
                .filter(|&k| k < VIRTUAL)
                .ok_or(EngineError::OutOfMemory)?;
            let lo = group_lits.partition_point(|e| e.0 < a.first);
            let hi = group_lits.partition_point(|e| e.0 <= a.first);
            let lits = group_lits.get(lo..hi).unwrap_or(&[]);
            if lits.is_empty() {
                return Err(EngineError::OutOfMemory);
            }
            a.multi = lits.len() > 1;
            for &(_, text, ci) in lits {
                try_push(
                    &mut contains,
                    GramNeedle {
                        text,
                        entry: VIRTUAL | id,
                        ci,
                    },
                )?;
            }
        }
        for m in 0..2 {
            if let (Some(dst), Some(src)) = (fi.fwd.get_mut(m), fwd.get_mut(m)) {
                *dst = build_table(src, Dir::Fwd)?;
            }
            if let (Some(dst), Some(src)) = (fi.rev.get_mut(m), rev.get_mut(m)) {
                *dst = build_table(src, Dir::Rev)?;
            }
        }
        ints.sort_unstable();
        fi.ints = ints;
        let mut leftover = Vec::new();
        let mut grams = choose_grams(&contains, &mut leftover)?;
        grams.sort_unstable();
        grams.dedup();
        let overflow = build_grams(&mut fi.grams, &grams)?;
        hash_keys(&mut fi.grams)?;
        for g in overflow.into_iter().chain(leftover) {
            if g & (VIRTUAL | SINGLE) == VIRTUAL | SINGLE {
                // A set single's member did not fit: checked always
                // (once: its other members' entries find it gone).
                let k = usize::try_from(g & !(VIRTUAL | SINGLE)).unwrap_or(usize::MAX);
                let slot = fi.set_singles.get_mut(k).ok_or(EngineError::OutOfMemory)?;
                if *slot != NONE {
                    try_push(always, core::mem::replace(slot, NONE))?;
                }
            } else if g & VIRTUAL != 0 {
                // A literal group the gram table has no room for:
                // scanned every event instead.
                // (Once: a literal set's other members may overflow
                // too, and their entries that fit find it empty.)
                let k = usize::try_from(g & !VIRTUAL).unwrap_or(usize::MAX);
                let a = fi
                    .lit_groups
                    .get_mut(k)
                    .map(core::mem::take)
                    .ok_or(EngineError::OutOfMemory)?;
                if !a.insts.is_empty() {
                    try_push(&mut fi.groups, a)?;
                }
            } else {
                try_push(always, g)?;
            }
        }
        Ok(())
    }

    /// Index instance `g`, anchored on a single regex's literal set `set`:
    /// one gram needle per member naming its `singles` slot. False when the
    /// field has [`SET_SINGLES_MAX`] already (the caller checks it always).
    /// Not inlined: it keeps these locals out of `build_indexes`' frame.
    #[inline(never)]
    fn index_set_single(
        &self,
        set: (u32, u32),
        ci: bool,
        g: u32,
        singles: &mut Vec<u32>,
        needles: &mut Vec<GramNeedle<'a>>,
    ) -> Result<bool, EngineError> {
        let k = singles.len();
        let Some(id) = u32::try_from(k).ok().filter(|_| k < SET_SINGLES_MAX) else {
            return Ok(false);
        };
        try_push(singles, g)?;
        for &text in self.set_of(set) {
            try_push(
                needles,
                GramNeedle {
                    text,
                    entry: VIRTUAL | SINGLE | id,
                    ci,
                },
            )?;
        }
        Ok(true)
    }
}

/// `Engine::quiet_bits[start..end]` as a `DfaRec::quiet` range ((0, 0),
/// none, if it does not fit).
fn quiet_range(start: usize, end: usize) -> (u32, u32) {
    match (
        u32::try_from(start),
        u32::try_from(end.saturating_sub(start)),
    ) {
        (Ok(s), Ok(n)) => (s, n),
        _ => (0, 0),
    }
}

/// Load DFA `d` of `ch` and append its record to `dfas` (reserved by the
/// caller). Not inlined: the ~800-byte DFA value and the record it moves
/// into live in this frame, which has returned before the load-time
/// analyses run, so the deepest kernel load path holds no DFA by value.
#[inline(never)]
fn push_dfa<'a>(dfas: &mut Vec<DfaRec<'a>>, ch: &'a ValidChannel<&'a [u8]>, d: u32) -> Option<()> {
    let dfa = ch.dfa(d)?;
    dfas.push(DfaRec {
        dfa,
        // Exact until set below: every state watched.
        watch: StateID::MAX,
        req: [[0; 4]; REQ_MAX],
        nreq: 0,
        lit: None,
        lit_folded: false,
        set: None,
        quiet: (0, 0),
        group: None,
    });
    // Read from the record in place: a copy of the DFA value in this frame
    // would put 752 more bytes on the load path at its call into Windows.
    let rec = dfas.last_mut()?;
    rec.watch = scan::watch_limit(&rec.dfa);
    Some(())
}
