//! The `Platform` trait: the loader's only door to the outside world.
//!
//! The Windows driver implements it over `Zw*` file and registry APIs; the
//! simulator (`crates/sim`) implements it over a fake disk and registry that
//! lose, tear and reorder writes exactly as the fault model there describes.
//!
//! # Design rules
//! - Kernel-implementable: no `std`, no allocating types in signatures. Data the
//!   platform allocates comes back as the associated type [`Platform::Buf`];
//!   data the loader hands over is a borrowed `&[u8]`; registry reads go into a
//!   caller buffer.
//! - Every method is fallible and returns [`IoError`] (the driver carries the
//!   NTSTATUS in [`IoError::status`]). The loader treats every error as
//!   "this step failed" and steps down the fallback chain; no error from the
//!   platform ever stops the driver loading (promise 3).
//! - Names the loader passes are ASCII: a channel file name that
//!   [`crate::names::parse`] accepted, and the content directory from
//!   [`crate::config`] (already checked to be an absolute path under an allowed
//!   root). The platform must not reinterpret them (no environment expansion,
//!   no following of reparse points out of the directory: the driver opens with
//!   `OBJ_DONT_REPARSE` / `FILE_OPEN_REPARSE_POINT` and refuses reparse points).
//! - Nothing here is trusted by the loader: any read may fail or return
//!   arbitrary bytes, which the loader validates (the fuzz target
//!   `loader_platform` drives the loader with exactly that).
//!
//! # Durability vocabulary
//! - *written*: visible to later reads in this boot; may be lost, or torn (a
//!   prefix of the new bytes over the old ones), by a crash or power loss.
//! - *durable*: survives any crash or power loss after the call returned `Ok`.
//!
//! A method documents which one it guarantees. The loader only relies on the
//! guarantees written here; the simulator breaks everything else.

/// What kind of failure a platform call reports. The loader branches only on
/// `NotFound` (a normal absence: no LKG yet, value not set) vs everything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoErrorKind {
    /// The file, registry value or slot does not exist.
    NotFound,
    /// The object is larger than the cap the loader passed (nothing was read).
    TooLarge,
    /// Allocation of the platform buffer failed.
    NoMemory,
    /// The object exists but is not what was asked for (a directory, a reparse
    /// point, a device, a registry key instead of a value, ...).
    WrongKind,
    /// Any other I/O failure (device error, sharing violation, access denied).
    Io,
}

impl IoErrorKind {
    /// Stable kebab-case name.
    pub const fn name(self) -> &'static str {
        match self {
            IoErrorKind::NotFound => "not-found",
            IoErrorKind::TooLarge => "too-large",
            IoErrorKind::NoMemory => "no-memory",
            IoErrorKind::WrongKind => "wrong-kind",
            IoErrorKind::Io => "io",
        }
    }
}

/// A platform failure: a kind the loader branches on, and the native status
/// (NTSTATUS bits in the driver, 0 in the simulator) for telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IoError {
    /// What happened.
    pub kind: IoErrorKind,
    /// Native status code (NTSTATUS as `i32`; 0 when there is none).
    pub status: i32,
    /// For [`IoErrorKind::TooLarge`]: the actual size in bytes (else 0).
    pub size: u64,
}

impl IoError {
    /// An error of `kind` with no native status.
    pub const fn new(kind: IoErrorKind) -> IoError {
        IoError {
            kind,
            status: 0,
            size: 0,
        }
    }
    /// `kind` with native `status`.
    pub const fn with_status(kind: IoErrorKind, status: i32) -> IoError {
        IoError {
            kind,
            status,
            size: 0,
        }
    }
    /// A `TooLarge` error for an object of `size` bytes.
    pub const fn too_large(size: u64) -> IoError {
        IoError {
            kind: IoErrorKind::TooLarge,
            status: 0,
            size,
        }
    }
}

/// The registry value types the loader distinguishes (`REG_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegType {
    /// `REG_SZ` (1): UTF-16LE, should end in a NUL.
    Sz,
    /// `REG_EXPAND_SZ` (2): rejected by the loader (no environment expansion in the kernel).
    ExpandSz,
    /// `REG_BINARY` (3).
    Binary,
    /// `REG_DWORD` (4): 4 bytes little-endian.
    Dword,
    /// `REG_MULTI_SZ` (7).
    MultiSz,
    /// `REG_QWORD` (11): 8 bytes little-endian.
    Qword,
    /// Anything else, with its raw type number.
    Other(u32),
}

impl RegType {
    /// Map a raw `REG_*` type number.
    pub const fn from_raw(raw: u32) -> RegType {
        match raw {
            1 => RegType::Sz,
            2 => RegType::ExpandSz,
            3 => RegType::Binary,
            4 => RegType::Dword,
            7 => RegType::MultiSz,
            11 => RegType::Qword,
            other => RegType::Other(other),
        }
    }
}

/// What [`Platform::read_param`] found: the value's type and its full data
/// length in bytes. When `len > out.len()` only `out.len()` bytes were copied
/// and the loader rejects the value as too large.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegValue {
    /// The registry type.
    pub ty: RegType,
    /// Full length of the value's data in bytes.
    pub len: usize,
}

/// Which LKG store file of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LkgFile {
    /// The committed LKG copy (driver: `<store>\C-<channel>.lkg`).
    Current,
    /// The staging copy written during promotion (driver: `<store>\C-<channel>.tmp`).
    Temp,
}

/// Number of state record slots ([`Platform::state_read`] takes `0..STATE_SLOTS`).
pub const STATE_SLOTS: u8 = 2;

/// Largest state record in bytes: the loader never writes more, and passes a
/// buffer of this size to [`Platform::state_read`].
pub const MAX_STATE_LEN: usize = 4096;

/// The outside world, as the loader sees it. See the module docs for the rules.
///
/// Every method counts as one "platform op" for the bounded-work invariant
/// (the simulator counts them; the loader's own loops are bounded by
/// [`crate::limits`]).
pub trait Platform {
    /// A buffer the platform allocated and filled: the start is 16-byte aligned
    /// (kernel pool is; serialized DFAs require it). The loader validates and
    /// hands it to the caller inside a `ValidChannel<Buf>`; it lives as long as
    /// the content is active.
    type Buf: AsRef<[u8]>;

    // ---- registry: HKLM\SYSTEM\CurrentControlSet\Services\changuard\Parameters ----

    /// Read registry value `name` (ASCII, e.g. `"ContentDirectory"`, `"Pinned.291"`)
    /// from `Parameters` into `out`; returns its type and full length.
    ///
    /// Durability: read-only. `NotFound` when the value does not exist.
    /// The loader treats type, length and content as untrusted.
    fn read_param(&mut self, name: &str, out: &mut [u8]) -> Result<RegValue, IoError>;

    // ---- content directory (untrusted files, written by the update agent) ----

    /// Call `visit` with the name (the last path component, UTF-8) of each entry
    /// of directory `dir`, in any order. Stop as soon as `visit` returns `false`
    /// (the loader stops after [`crate::limits::MAX_DIR_ENTRIES`]). Entries whose
    /// name is not representable as UTF-8 are skipped. Directories, reparse
    /// points and devices may be passed; the loader ignores any name it does not
    /// parse, and `read_content` refuses non-regular files with `WrongKind`.
    ///
    /// Durability: read-only. `NotFound` when `dir` does not exist.
    fn list_content(
        &mut self,
        dir: &str,
        visit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), IoError>;

    /// Read regular file `dir\name` whole, **once**: open it, query its size,
    /// and if the size exceeds `cap` return [`IoError::too_large`] without
    /// allocating; else allocate a 16-byte aligned buffer of exactly that size and
    /// read it. If the file is shorter or longer than its size at open (it is
    /// being written), return `Io` rather than a partial or capped buffer.
    ///
    /// Durability: read-only. The bytes are whatever is on disk now (possibly
    /// torn by a crash while the update agent wrote them): the loader validates.
    fn read_content(&mut self, dir: &str, name: &str, cap: usize) -> Result<Self::Buf, IoError>;

    // ---- golden content (optional, embedded in the driver image) ----

    /// Golden content for `channel`, if the image embeds some, as a 16-byte
    /// aligned buffer (copied, or borrowed from the image section). `Ok(None)`
    /// when there is none. At most `cap` bytes; larger is `TooLarge`.
    ///
    /// Durability: immutable.
    fn golden(&mut self, channel: u32, cap: usize) -> Result<Option<Self::Buf>, IoError>;

    /// The `index`-th channel id that has golden content (`None` past the end).
    /// The loader asks for `index` in `0..MAX_CHANNELS` only.
    fn golden_channel(&mut self, index: usize) -> Option<u32>;

    // ---- state record: the loader's private, framed, 2-slot record ----

    /// Read state slot `slot` (`0..STATE_SLOTS`) into `out`; return the number of
    /// bytes copied (the slot's length, at most `out.len()`: longer slots are
    /// truncated, which the loader's length + CRC framing detects).
    ///
    /// Durability: read-only. `NotFound` for a slot never written. The content may
    /// be torn or rotten; the loader checks length, CRC and generation.
    fn state_read(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, IoError>;

    /// Replace the whole of slot `slot` with `data` (at most [`MAX_STATE_LEN`]).
    ///
    /// Durability: *written* only. Until [`Platform::state_flush`] of the same slot
    /// returns `Ok`, a crash may leave the old bytes, the new bytes, or a torn mix
    /// (a prefix of the new bytes over the old). The loader never writes the slot
    /// holding the newest valid record, so a torn write loses nothing.
    /// Driver: a file `<store>\state<slot>.bin` written with one `ZwWriteFile`
    /// (or a registry value under a private key).
    fn state_write(&mut self, slot: u8, data: &[u8]) -> Result<(), IoError>;

    /// Make the last `state_write` of `slot` *durable*.
    ///
    /// Durability: when this returns `Ok`, the slot holds exactly the bytes of the
    /// last write across any crash or power loss. Driver: `ZwFlushBuffersFile`
    /// (or `ZwFlushKey`). An error means "maybe not durable": the loader does not
    /// activate trial content it could not record.
    fn state_flush(&mut self, slot: u8) -> Result<(), IoError>;

    // ---- LKG store: private directory the update agent cannot write ----

    /// Read LKG store file `which` of `channel` whole, once, with the same cap
    /// and size rules as [`Platform::read_content`].
    ///
    /// Durability: read-only. `NotFound` when absent.
    fn lkg_read(&mut self, channel: u32, which: LkgFile, cap: usize) -> Result<Self::Buf, IoError>;

    /// Create or truncate [`LkgFile::Temp`] of `channel` and write `data` to it.
    ///
    /// Durability: *written* only: a crash before [`Platform::lkg_flush_temp`]
    /// returns may leave it absent, empty, torn or complete. Never touches
    /// [`LkgFile::Current`].
    fn lkg_write_temp(&mut self, channel: u32, data: &[u8]) -> Result<(), IoError>;

    /// Make the temp file's data *durable* (`ZwFlushBuffersFile` on it).
    fn lkg_flush_temp(&mut self, channel: u32) -> Result<(), IoError>;

    /// Rename [`LkgFile::Temp`] over [`LkgFile::Current`] (replace if exists;
    /// `FileRenameInformation` with `ReplaceIfExists`).
    ///
    /// Durability: *written* only. Until [`Platform::lkg_sync`] returns `Ok` a
    /// crash may leave: the rename undone (old Current and Temp both present),
    /// done (new Current, no Temp), or half done (no Current, Temp present). The
    /// loader's recovery reads Temp when Current is missing or invalid, and it only
    /// renames a Temp whose data was flushed.
    fn lkg_rename_temp(&mut self, channel: u32) -> Result<(), IoError>;

    /// Make the LKG store directory's metadata (the last rename) *durable*
    /// (flush the renamed file's handle and the store directory).
    fn lkg_sync(&mut self, channel: u32) -> Result<(), IoError>;

    /// Delete [`LkgFile::Temp`] of `channel` if present (`Ok` if absent).
    ///
    /// Durability: *written* only; a crash may bring the temp file back, which
    /// recovery tolerates.
    fn lkg_delete_temp(&mut self, channel: u32) -> Result<(), IoError>;

    // ---- time and reporting ----

    /// Seconds since this boot started (`KeQueryInterruptTime` / 10^7). Monotonic
    /// within a boot.
    fn uptime_secs(&mut self) -> u64;

    /// Wall-clock time in Unix seconds (`KeQuerySystemTimePrecise`), or
    /// `None` when the platform has no clock. The loader times rollouts and
    /// keyring expiry with it (only when a keyring is in force). Untrusted
    /// like everything else: a clock set back only delays this machine's own
    /// ring and makes an expired keyring look fresh for as long; a clock set
    /// forward makes the keyring stale (no new trials) sooner. Neither can
    /// activate anything the signed records do not allow.
    fn now_unix_secs(&mut self) -> Option<u64> {
        None
    }

    /// Publish one decision (why a channel stepped down, was quarantined, was
    /// promoted, ...). Driver: append to the status reported under
    /// `Parameters\Status` and through `IOCTL_QUERY_STATUS`, and an ETW event.
    ///
    /// Durability: best effort; failures are ignored by the loader.
    fn report(&mut self, decision: &crate::reason::Decision);
}
