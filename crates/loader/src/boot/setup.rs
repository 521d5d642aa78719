//! What a boot is given: the trust, configuration and golden content
//! ([`Setup`]), where active content came from ([`Source`]), and the
//! simulator's deliberate protocol bugs ([`Mutation`]).

use changuard_format::{Trust, ValidChannel, validate};
use changuard_release::Roots;

use crate::gate::{Gate, Refusal, Use};

/// Deliberate protocol bugs (feature `mutations`, for the simulator only).
#[cfg(feature = "mutations")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutation {
    /// The trial record is written but not flushed before activation.
    ActivateBeforePersist,
    /// Promotion raises the floor before the LKG copy is durable.
    RaiseFloorBeforeLkgDurable,
    /// Promotion renames the LKG temp copy without flushing its data.
    SkipFlushOnLkgWrite,
    /// An unfinished trial at `MaxTrialBoots` is retried instead of quarantined.
    NoQuarantine,
    /// Promotion overwrites Current in place instead of temp + rename.
    LkgInPlace,
    /// A trial whose last boot ended cleanly (shutdown, reload, promotion I/O
    /// failure) is counted as crashed anyway (the behaviour before issue 11).
    CountCleanEnds,
    /// A full quarantine list drops its oldest version without raising the
    /// quarantine floor (the behaviour before issue 11).
    EvictQuarantine,
    /// The release gate ignores halts (issue 15, G3).
    IgnoreHalt,
    /// The release gate ignores the ring times of a rollout (issue 15, G2).
    IgnoreRing,
}

#[cfg(feature = "mutations")]
impl Mutation {
    /// Every mutation.
    pub const ALL: &'static [Mutation] = &[
        Mutation::ActivateBeforePersist,
        Mutation::RaiseFloorBeforeLkgDurable,
        Mutation::SkipFlushOnLkgWrite,
        Mutation::NoQuarantine,
        Mutation::LkgInPlace,
        Mutation::CountCleanEnds,
        Mutation::EvictQuarantine,
        Mutation::IgnoreHalt,
        Mutation::IgnoreRing,
    ];
}

/// What the loader needs besides the platform.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    /// Trusted signing keys compiled into the driver: they sign golden
    /// content always, and all content while no keyring is in force
    /// ([`crate::gate`]).
    pub trust: Trust<'a>,
    /// Allowed content directory roots ([`crate::config::DEFAULT_ALLOWED_ROOTS`]).
    pub allowed_roots: &'a [&'a str],
    /// Root keys and threshold that sign keyrings ([`Setup::with_roots`]);
    /// `None`: keyrings are ignored and the compiled keys sign content.
    pub roots: Option<Roots<'a>>,
    /// This boot's release gate (set by the boot itself).
    pub(crate) gate: Option<&'a Gate>,
    /// A deliberate bug to inject (simulator only).
    #[cfg(feature = "mutations")]
    pub mutation: Option<Mutation>,
}

impl<'a> Setup<'a> {
    /// A setup without an injected bug. Callers outside the simulator use
    /// this rather than a struct literal: a build that also links the
    /// simulator (Cargo unifies features: the fuzz workspace does) has the
    /// `mutation` field, a kernel build does not.
    #[must_use]
    pub const fn new(trust: Trust<'a>, allowed_roots: &'a [&'a str]) -> Setup<'a> {
        Setup {
            trust,
            allowed_roots,
            roots: None,
            gate: None,
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }

    /// Accept keyrings signed by `roots` (keyring mode, [`crate::gate`]).
    #[must_use]
    pub const fn with_roots(mut self, roots: Roots<'a>) -> Setup<'a> {
        self.roots = Some(roots);
        self
    }

    /// Validate content of `channel` for `use_` with the keys in force:
    /// this boot's gate, or the compiled keys before it exists.
    pub(crate) fn validate_content<B: AsRef<[u8]>>(
        &self,
        buf: B,
        channel: u32,
        use_: Use,
    ) -> Result<ValidChannel<B>, Refusal> {
        match self.gate {
            Some(g) => g.validate(buf, channel, use_),
            None => validate(buf, &self.trust, channel).map_err(Refusal::Rejected),
        }
    }
}

#[cfg(feature = "mutations")]
impl Setup<'_> {
    pub(crate) fn mutated(&self, m: Mutation) -> bool {
        self.mutation == Some(m)
    }
}

/// Where a channel's active content came from (same codes as the control crate's `Source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// No content: the channel is off (the sensor still runs).
    None,
    /// A candidate from the content directory (on trial unless proven).
    Candidate,
    /// The LKG copy.
    Lkg,
    /// Golden content embedded in the driver.
    Golden,
}

impl Source {
    /// Wire code.
    pub const fn code(self) -> u8 {
        match self {
            Source::None => 0,
            Source::Candidate => 1,
            Source::Lkg => 2,
            Source::Golden => 3,
        }
    }
    /// Decodes a wire code.
    pub const fn from_code(code: u8) -> Option<Source> {
        match code {
            0 => Some(Source::None),
            1 => Some(Source::Candidate),
            2 => Some(Source::Lkg),
            3 => Some(Source::Golden),
            _ => None,
        }
    }
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Candidate => "candidate",
            Source::Lkg => "lkg",
            Source::Golden => "golden",
        }
    }
}
