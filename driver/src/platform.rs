//! `changuard_loader::platform::Platform` over `Zw*` registry and file APIs.
//!
//! Everything here runs at `PASSIVE_LEVEL` (`DriverEntry`, the passive-level
//! promotion timer, the RELOAD IOCTL on a passive-level queue, and the end of
//! boot: `EvtDriverUnload` and the shutdown notification) and outside any
//! lock but the control lock: synchronous file I/O completes through APCs, so
//! it must never run in a guarded region. A `KernelPlatform` exists only
//! inside those loader runs (lifecycle.rs: `load_content`, `promote_here`,
//! `end_of_boot`), so `Platform::report`, which records decisions in the
//! status ring and writes operator events to the System event log
//! (eventlog.rs), never runs on the event path.
//!
//! Layout on the machine:
//! - `HKLM\SYSTEM\CurrentControlSet\Services\changuard\Parameters`: operator
//!   configuration (read through [`Platform::read_param`]).
//! - `Parameters\State` values `Slot0`/`Slot1` (`REG_BINARY)`: the loader's state
//!   record, written with `ZwSetValueKey` and made durable with `ZwFlushKey`.
//! - `\SystemRoot\changuard\lkg\C-<channel>.lkg|.tmp`: the LKG store.

use changuard_loader::platform::{IoError, IoErrorKind, LkgFile, Platform, RegType, RegValue, STATE_SLOTS};
use changuard_loader::reason::{Decision, Reason};
use wdk_sys::{
    BOOLEAN, DELETE, FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_REPARSE_POINT, FILE_ATTRIBUTE_TAG_INFORMATION,
    FILE_DIRECTORY_FILE, FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_LIST_DIRECTORY,
    FILE_NAMES_INFORMATION, FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_OPEN_IF, FILE_OPEN_REPARSE_POINT,
    FILE_OVERWRITE_IF, FILE_RENAME_INFORMATION, FILE_SHARE_READ, FILE_STANDARD_INFORMATION,
    FILE_SYNCHRONOUS_IO_NONALERT, FILE_TRAVERSE, FILE_WRITE_THROUGH, HANDLE, IO_STATUS_BLOCK, KEY_READ,
    KEY_VALUE_PARTIAL_INFORMATION, KEY_WRITE, LARGE_INTEGER, REG_BINARY, REG_DWORD,
    NTSTATUS, REG_OPTION_NON_VOLATILE, REG_SZ, SYNCHRONIZE, ULONG, UNICODE_STRING, WRITE_DAC,
    _FILE_INFORMATION_CLASS::{
        FileAttributeTagInformation, FileNamesInformation, FileRenameInformation, FileRenameInformationEx,
        FileStandardInformation,
    },
    _KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation,
    ntddk::{
        KeQueryUnbiasedInterruptTime, ZwCreateFile, ZwCreateKey, ZwDeleteFile, ZwFlushBuffersFile, ZwFlushKey,
        ZwQueryDirectoryFile, ZwQueryInformationFile, ZwQueryValueKey, ZwReadFile, ZwSetInformationFile,
        ZwSetValueKey, ZwWriteFile,
    },
};

use crate::eventlog;
use crate::nt::{io_error, nt_success, object_attributes, KernelHandle, NtPath, PoolBuf};
use crate::security::Dacl;
use crate::status::DecisionRing;
use changuard_control::status::{DecisionRecord, DECISION_FLAG_LOGGED, DECISION_FLAG_OPERATOR_EVENT};

unsafe extern "system" {
    /// `KeQuerySystemTimePrecise` (wdm.h; ntoskrnl export since Windows 8, so within
    /// the Windows 10 2004 floor): the system time, 100 ns units since 1601-01-01 UTC,
    /// at any IRQL. Declared here because mingw-w64's headers (the Linux type-check's)
    /// lack it; the real WDK declares it with this signature.
    fn KeQuerySystemTimePrecise(current_time: *mut LARGE_INTEGER);
}

/// 100 ns units from 1601-01-01 to 1970-01-01.
const UNIX_EPOCH_AS_FILETIME: i64 = 116_444_736_000_000_000;

/// Unix seconds of a system time (100 ns units since 1601), `None` before 1970.
#[must_use]
pub fn unix_secs_from_system_time(t: i64) -> Option<u64> {
    let since = t.checked_sub(UNIX_EPOCH_AS_FILETIME)?;
    u64::try_from(since.checked_div(10_000_000)?).ok()
}

/// The LKG store directory (driver-private; see docs/DRIVER.md for its ACL).
pub const LKG_PARENT: &str = "\\SystemRoot\\changuard";
/// The LKG store directory.
pub const LKG_DIR: &str = "\\SystemRoot\\changuard\\lkg";

/// Sizes passed to `ZwQuery*`/`ZwSet*` are `ULONG`.
fn ulong(n: usize) -> Result<ULONG, IoError> {
    ULONG::try_from(n).map_err(|_| IoError::new(IoErrorKind::TooLarge))
}

/// Reads a little-endian u32 at `at` of `b` (portable, no pointer casts).
fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([*s.first()?, *s.get(1)?, *s.get(2)?, *s.get(3)?]))
}

/// Registry key opened by this module (an owned kernel handle).
pub struct RegKey(KernelHandle);

impl RegKey {
    /// `ZwCreateKey(root\name)` (opens if it exists), non-volatile.
    fn create(root: HANDLE, name: &str, access: u32) -> Result<Self, IoError> {
        let mut path = NtPath::from_str(name).map_err(io_error)?;
        let mut us = path.as_unicode();
        let mut oa = object_attributes(&mut us, root);
        let mut h: HANDLE = core::ptr::null_mut();
        let mut disposition: ULONG = 0;
        // SAFETY:
        // 1. h, oa, disposition are valid for writes/reads for the call; oa.ObjectName
        //    points to `us`, whose buffer is `path`, both alive until after the call.
        // 2. root is a valid key handle (the Parameters key) or null with an absolute name.
        // 3. Class is null (allowed); PASSIVE_LEVEL (module rule).
        let status = unsafe {
            ZwCreateKey(&raw mut h, access, &raw mut oa, 0, core::ptr::null_mut(), REG_OPTION_NON_VOLATILE, &raw mut disposition)
        };
        if !nt_success(status) {
            return Err(io_error(status));
        }
        // SAFETY:
        // 1. ZwCreateKey succeeded, so h is a valid kernel handle (OBJ_KERNEL_HANDLE).
        // 2. It is owned only by the returned RegKey.
        Ok(Self(unsafe { KernelHandle::from_raw(h) }))
    }

    /// Wraps an already-open key handle.
    pub const fn from_handle(h: KernelHandle) -> Self {
        Self(h)
    }

    /// `ZwCreateKey(root\name)` for read/write, non-volatile, then the key's DACL becomes SYSTEM (all) and
    /// Administrators (read) only: the loader's record and the status mirror are
    /// nobody else's business. A failure to protect is reported, not fatal (the key
    /// still works; the service key's ACL already keeps Users from writing).
    pub fn create_private(root: HANDLE, name: &str) -> Result<Self, IoError> {
        let key = Self::create(root, name, KEY_READ | KEY_WRITE | WRITE_DAC)?;
        if let Err(s) = Dacl::private_key().and_then(|d| d.apply(key.raw())) {
            wdk::println!("changuard: could not restrict Parameters\\{name}: {s:#x}");
        }
        Ok(key)
    }

    /// The raw handle.
    pub fn raw(&self) -> HANDLE {
        self.0.raw()
    }

    /// `ZwQueryValueKey(KeyValuePartialInformation)`: copies at most `out.len()`
    /// bytes and returns the value's type and full length. Every length the
    /// kernel returns is checked against the buffer before use.
    pub fn query(&self, name: &str, out: &mut [u8]) -> Result<RegValue, IoError> {
        const DATA_AT: usize = core::mem::offset_of!(KEY_VALUE_PARTIAL_INFORMATION, Data);
        const TYPE_AT: usize = core::mem::offset_of!(KEY_VALUE_PARTIAL_INFORMATION, Type);
        const LEN_AT: usize = core::mem::offset_of!(KEY_VALUE_PARTIAL_INFORMATION, DataLength);
        let mut path = NtPath::from_str(name).map_err(io_error)?;
        let mut us: UNICODE_STRING = path.as_unicode();
        let cap = DATA_AT.checked_add(out.len()).ok_or(IoError::new(IoErrorKind::TooLarge))?;
        let mut buf = PoolBuf::alloc(cap.max(DATA_AT.saturating_add(4)))?;
        let buf_len = ulong(buf.capacity())?;
        let mut result_len: ULONG = 0;
        // SAFETY:
        // 1. self.raw() is a valid key handle (RegKey invariant); `us` points to `path`'s buffer.
        // 2. buf is valid for writes of buf_len bytes and outlives the call.
        // 3. result_len is valid for writes; PASSIVE_LEVEL (module rule).
        let status = unsafe {
            ZwQueryValueKey(self.raw(), &raw mut us, KeyValuePartialInformation, buf.as_mut_ptr().cast(), buf_len, &raw mut result_len)
        };
        // STATUS_BUFFER_OVERFLOW: partial data, header complete (value longer than `out`).
        if !nt_success(status) && status != wdk_sys::STATUS_BUFFER_OVERFLOW {
            return Err(io_error(status));
        }
        let written = usize::try_from(result_len).unwrap_or(0).min(buf.capacity());
        buf.set_filled(written);
        let bytes = buf.as_ref();
        let ty = le_u32(bytes, TYPE_AT).ok_or(IoError::new(IoErrorKind::Io))?;
        let full = usize::try_from(le_u32(bytes, LEN_AT).ok_or(IoError::new(IoErrorKind::Io))?)
            .map_err(|_| IoError::new(IoErrorKind::TooLarge))?;
        let avail = bytes.get(DATA_AT..).unwrap_or(&[]);
        let n = full.min(out.len()).min(avail.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(RegValue { ty: RegType::from_raw(ty), len: full })
    }

    /// `ZwSetValueKey` (atomic per value in the registry hive).
    pub fn set(&self, name: &str, ty: u32, data: &[u8]) -> Result<(), IoError> {
        let mut path = NtPath::from_str(name).map_err(io_error)?;
        let mut us = path.as_unicode();
        let len = ulong(data.len())?;
        // SAFETY:
        // 1. self.raw() is a valid key handle; `us` points to `path`'s live buffer.
        // 2. data is valid for reads of len bytes (ZwSetValueKey only reads it).
        // 3. PASSIVE_LEVEL (module rule).
        let status = unsafe { ZwSetValueKey(self.raw(), &raw mut us, 0, ty, data.as_ptr().cast_mut().cast(), len) };
        if nt_success(status) { Ok(()) } else { Err(io_error(status)) }
    }

    /// `ZwFlushKey`: the key's changes are on disk when this returns `Ok`.
    pub fn flush(&self) -> Result<(), IoError> {
        // SAFETY: 1. self.raw() is a valid key handle. 2. PASSIVE_LEVEL (module rule).
        let status = unsafe { ZwFlushKey(self.raw()) };
        if nt_success(status) { Ok(()) } else { Err(io_error(status)) }
    }

    /// Writes a `REG_DWORD`.
    pub fn set_dword(&self, name: &str, v: u32) -> Result<(), IoError> {
        self.set(name, REG_DWORD, &v.to_le_bytes())
    }

    /// Writes an ASCII string as `REG_SZ` (NUL-terminated UTF-16).
    pub fn set_sz(&self, name: &str, s: &str) -> Result<(), IoError> {
        let mut buf = [0u8; 1024];
        let mut n = 0usize;
        for u in s.encode_utf16().chain(core::iter::once(0)) {
            let dst = buf.get_mut(n..n.saturating_add(2)).ok_or(IoError::new(IoErrorKind::TooLarge))?;
            dst.copy_from_slice(&u.to_le_bytes());
            n = n.saturating_add(2);
        }
        self.set(name, REG_SZ, buf.get(..n).unwrap_or(&[]))
    }
}

/// An open file (owned kernel handle).
struct File(KernelHandle);

/// Create options shared by every open: never follow a reparse point
/// (`FILE_OPEN_REPARSE_POINT` opens the point itself, which we then refuse),
/// synchronous non-alertable I/O.
const OPEN_OPTS: ULONG = FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT;

impl File {
    fn open(path: &mut NtPath, access: u32, disposition: u32, options: u32, share: u32) -> Result<Self, IoError> {
        let mut us = path.as_unicode();
        let mut oa = object_attributes(&mut us, core::ptr::null_mut());
        let mut iosb = IO_STATUS_BLOCK::default();
        let mut h: HANDLE = core::ptr::null_mut();
        // SAFETY:
        // 1. h, oa, iosb are valid for the call; oa.ObjectName -> us -> path's buffer, all alive.
        // 2. AllocationSize and EaBuffer are null with EaLength 0 (allowed).
        // 3. OBJ_KERNEL_HANDLE is set by object_attributes, so the handle is not
        //    usable from user mode; PASSIVE_LEVEL (module rule).
        let status = unsafe {
            ZwCreateFile(
                &raw mut h,
                access | SYNCHRONIZE,
                &raw mut oa,
                &raw mut iosb,
                core::ptr::null_mut(),
                FILE_ATTRIBUTE_NORMAL,
                share,
                disposition,
                options | OPEN_OPTS,
                core::ptr::null_mut(),
                0,
            )
        };
        if !nt_success(status) {
            return Err(io_error(status));
        }
        // SAFETY: 1. ZwCreateFile succeeded: h is a valid kernel handle. 2. Owned only here.
        Ok(Self(unsafe { KernelHandle::from_raw(h) }))
    }

    fn query<T: Default>(&self, class: wdk_sys::FILE_INFORMATION_CLASS) -> Result<T, IoError> {
        let mut info = T::default();
        let mut iosb = IO_STATUS_BLOCK::default();
        let len = ulong(core::mem::size_of::<T>())?;
        // SAFETY:
        // 1. self.0 is a valid file handle; info is valid for writes of size_of::<T>() bytes.
        // 2. Callers pair each class with its matching WDK structure T.
        // 3. PASSIVE_LEVEL (module rule).
        let status = unsafe { ZwQueryInformationFile(self.0.raw(), &raw mut iosb, (&raw mut info).cast(), len, class) };
        if nt_success(status) { Ok(info) } else { Err(io_error(status)) }
    }

    /// Regular-file check and size: refuses reparse points and directories.
    fn regular_size(&self) -> Result<u64, IoError> {
        let tag: FILE_ATTRIBUTE_TAG_INFORMATION = self.query(FileAttributeTagInformation)?;
        if tag.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
            return Err(IoError::with_status(IoErrorKind::WrongKind, wdk_sys::STATUS_REPARSE_POINT_ENCOUNTERED));
        }
        let std: FILE_STANDARD_INFORMATION = self.query(FileStandardInformation)?;
        if std.Directory != 0 {
            return Err(IoError::with_status(IoErrorKind::WrongKind, wdk_sys::STATUS_FILE_IS_A_DIRECTORY));
        }
        // SAFETY: 1. LARGE_INTEGER is a union of plain integers; every bit pattern is a valid i64.
        let size = unsafe { std.EndOfFile.QuadPart };
        u64::try_from(size).map_err(|_| IoError::new(IoErrorKind::Io))
    }

    /// The one read: size -> cap check -> one allocation -> one `ZwReadFile`.
    fn read_whole(&self, cap: usize) -> Result<PoolBuf, IoError> {
        let size = self.regular_size()?;
        let len = usize::try_from(size).map_err(|_| IoError::too_large(size))?;
        if len > cap {
            return Err(IoError::too_large(size)); // checked before any allocation
        }
        let mut buf = PoolBuf::alloc(len).map_err(|e| if len == 0 { IoError::new(IoErrorKind::Io) } else { e })?;
        let ulen = ulong(len)?;
        let mut iosb = IO_STATUS_BLOCK::default();
        let mut offset = LARGE_INTEGER { QuadPart: 0 };
        // SAFETY:
        // 1. self.0 is a valid file handle opened for FILE_READ_DATA with synchronous I/O,
        //    so the call completes before returning (no event/APC needed: all null).
        // 2. buf is valid for writes of ulen == capacity bytes and outlives the call.
        // 3. offset and iosb are valid; Key is null; PASSIVE_LEVEL (module rule).
        let status = unsafe {
            ZwReadFile(
                self.0.raw(),
                core::ptr::null_mut(),
                None,
                core::ptr::null_mut(),
                &raw mut iosb,
                buf.as_mut_ptr().cast(),
                ulen,
                &raw mut offset,
                core::ptr::null_mut(),
            )
        };
        if !nt_success(status) {
            return Err(io_error(status));
        }
        if usize::try_from(iosb.Information).ok() != Some(len) || self.regular_size()? != size {
            // Shorter than at open, or it grew while we read: being written, refuse. (The open
            // shares read access only, so this is a second guard; wdk-sys has no
            // STATUS_FILE_CHANGED, and STATUS_FILE_INVALID says "no longer valid".)
            return Err(IoError::with_status(IoErrorKind::Io, wdk_sys::STATUS_FILE_INVALID));
        }
        buf.set_filled(len);
        Ok(buf)
    }

    fn write_all(&self, data: &[u8]) -> Result<(), IoError> {
        let len = ulong(data.len())?;
        let mut iosb = IO_STATUS_BLOCK::default();
        let mut offset = LARGE_INTEGER { QuadPart: 0 };
        // SAFETY:
        // 1. self.0 is a valid file handle opened for write with synchronous I/O.
        // 2. data is valid for reads of len bytes (ZwWriteFile only reads the buffer).
        // 3. offset/iosb valid; event, APC and key null; PASSIVE_LEVEL.
        let status = unsafe {
            ZwWriteFile(
                self.0.raw(),
                core::ptr::null_mut(),
                None,
                core::ptr::null_mut(),
                &raw mut iosb,
                data.as_ptr().cast_mut().cast(),
                len,
                &raw mut offset,
                core::ptr::null_mut(),
            )
        };
        if !nt_success(status) {
            return Err(io_error(status));
        }
        if usize::try_from(iosb.Information).ok() != Some(data.len()) {
            return Err(IoError::with_status(IoErrorKind::Io, wdk_sys::STATUS_DISK_FULL));
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), IoError> {
        let mut iosb = IO_STATUS_BLOCK::default();
        // SAFETY: 1. self.0 is a valid handle opened with write access. 2. iosb valid. 3. PASSIVE_LEVEL.
        let status = unsafe { ZwFlushBuffersFile(self.0.raw(), &raw mut iosb) };
        if nt_success(status) { Ok(()) } else { Err(io_error(status)) }
    }
}

/// `FILE_RENAME_REPLACE_IF_EXISTS` (ntifs.h; not in the generated bindings).
const FILE_RENAME_REPLACE_IF_EXISTS: u32 = 0x1;
/// `FILE_RENAME_POSIX_SEMANTICS` (ntifs.h): replace the target even while
/// others hold it open (with delete sharing); their handles keep the old file.
const FILE_RENAME_POSIX_SEMANTICS: u32 = 0x2;

/// `FILE_RENAME_INFORMATION` for `target` with the leading union set to
/// `flags` (a ULONG for `FileRenameInformationEx`; for `FileRenameInformation`
/// pass 1: its first byte is then `ReplaceIfExists = TRUE`, the rest of the
/// union zero), built in a pool buffer (variable-length structure). Offsets
/// come from the bindings.
fn rename_info(target: &NtPath, flags: u32) -> Result<PoolBuf, IoError> {
    const NAME_AT: usize = core::mem::offset_of!(FILE_RENAME_INFORMATION, FileName);
    const LEN_AT: usize = core::mem::offset_of!(FILE_RENAME_INFORMATION, FileNameLength);
    let name_bytes = target.units().len().checked_mul(2).ok_or(IoError::new(IoErrorKind::TooLarge))?;
    let total = NAME_AT.checked_add(name_bytes).ok_or(IoError::new(IoErrorKind::TooLarge))?;
    let total = total.max(core::mem::size_of::<FILE_RENAME_INFORMATION>());
    // Built in place in the pool buffer (a stack image would be 2 KiB of frame).
    let mut buf = PoolBuf::alloc(total)?;
    let img = buf.bytes_mut();
    // RootDirectory stays NULL (absolute target).
    img.get_mut(..4).ok_or(IoError::new(IoErrorKind::Io))?.copy_from_slice(&flags.to_le_bytes());
    img.get_mut(LEN_AT..LEN_AT.saturating_add(4))
        .ok_or(IoError::new(IoErrorKind::Io))?
        .copy_from_slice(&ulong(name_bytes)?.to_le_bytes());
    for (i, u) in target.units().iter().enumerate() {
        let at = NAME_AT.saturating_add(i.saturating_mul(2));
        img.get_mut(at..at.saturating_add(2)).ok_or(IoError::new(IoErrorKind::Io))?.copy_from_slice(&u.to_le_bytes());
    }
    Ok(buf)
}

/// One `ZwSetInformationFile` rename of `f` to `target` with `class` and the
/// union set to `flags`; the status (or the pool failure building the request).
fn rename(f: &File, target: &NtPath, flags: u32, class: wdk_sys::FILE_INFORMATION_CLASS) -> Result<NTSTATUS, IoError> {
    let mut info = rename_info(target, flags)?;
    let len = ulong(info.capacity())?;
    let mut iosb = IO_STATUS_BLOCK::default();
    // SAFETY:
    // 1. f is a valid file handle opened with DELETE access (required for rename).
    // 2. info holds a FILE_RENAME_INFORMATION of len bytes (rename_info) and outlives the call.
    // 3. iosb valid; PASSIVE_LEVEL.
    Ok(unsafe { ZwSetInformationFile(f.0.raw(), &raw mut iosb, info.as_mut_ptr().cast(), len, class) })
}

/// The statuses that mean "no `FileRenameInformationEx` here" (before Windows 10
/// 1709, or a file system without it): retry with the legacy class.
fn ex_unsupported(status: NTSTATUS) -> bool {
    matches!(
        status,
        wdk_sys::STATUS_INVALID_INFO_CLASS
            | wdk_sys::STATUS_INVALID_PARAMETER
            | wdk_sys::STATUS_NOT_SUPPORTED
            | wdk_sys::STATUS_NOT_IMPLEMENTED
    )
}

/// The wall clock of one loader run.
#[derive(Clone, Copy)]
enum Clock {
    /// Not read yet.
    Unread,
    /// Read: Unix seconds, or `None` (before 1970).
    Read(Option<u64>),
}

/// The kernel platform for one loader run (boot/reload, or one promotion).
/// The status itself comes from the loader's `ChannelOutcome`s (status.rs);
/// `report` only logs and notes what the outcomes do not carry.
pub struct KernelPlatform<'a> {
    params: &'a RegKey,
    /// Where decisions are recorded for `IOCTL_QUERY_STATUS` (None: the end of
    /// boot, when nothing reads the status any more).
    ring: Option<&'a mut DecisionRing>,
    /// The wall clock, read once per loader run (a run takes milliseconds to
    /// seconds; one `KeQuerySystemTimePrecise` per run, not per decision).
    now: Clock,
    state: Option<RegKey>,
    temp: Option<(u32, File)>,
    renamed: Option<(u32, File)>,
    config_defaulted: bool,
    /// The LKG store's DACL was set by this platform (once is enough).
    store_protected: bool,
}

impl<'a> KernelPlatform<'a> {
    /// A platform over the open `Parameters` key, recording decisions in `ring`.
    pub fn new(params: &'a RegKey, ring: Option<&'a mut DecisionRing>) -> Self {
        Self { params, ring, now: Clock::Unread, state: None, temp: None, renamed: None, config_defaulted: false, store_protected: false }
    }

    /// Whether the loader reported an unusable `Parameters` value (defaults used):
    /// `DRIVER_FLAG_CONFIG_DEFAULTED`.
    #[must_use]
    pub const fn config_defaulted(&self) -> bool {
        self.config_defaulted
    }

    fn state_key(&mut self) -> Result<&RegKey, IoError> {
        if self.state.is_none() {
            self.state = Some(RegKey::create_private(self.params.raw(), "State")?);
        }
        self.state.as_ref().ok_or(IoError::new(IoErrorKind::Io))
    }

    fn lkg_path(channel: u32, which: LkgFile) -> Result<NtPath, IoError> {
        let mut name = wdk::fmt::FormatBuffer::<32>::new();
        let ext = match which {
            LkgFile::Current => "lkg",
            LkgFile::Temp => "tmp",
        };
        core::fmt::Write::write_fmt(&mut name, format_args!("C-{channel}.{ext}")).map_err(|_| IoError::new(IoErrorKind::Io))?;
        NtPath::join(LKG_DIR, name.as_str()).map_err(io_error)
    }

    /// Opens (creating if needed) the LKG store; the first time per platform, makes
    /// its DACL SYSTEM-only, inherited by the files in it (security.rs).
    fn ensure_lkg_dir(&mut self) -> Result<File, IoError> {
        for dir in [LKG_PARENT, LKG_DIR] {
            let mut p = NtPath::from_str(dir).map_err(io_error)?;
            let protect = dir == LKG_DIR && !self.store_protected;
            let dac = if protect { WRITE_DAC } else { 0 };
            let access = FILE_LIST_DIRECTORY | FILE_TRAVERSE | wdk_sys::FILE_ADD_FILE | dac;
            let f = File::open(&mut p, access, FILE_OPEN_IF, FILE_DIRECTORY_FILE, FILE_SHARE_READ | wdk_sys::FILE_SHARE_WRITE)?;
            if dir == LKG_DIR {
                if protect {
                    match Dacl::store().and_then(|d| d.apply(f.0.raw())) {
                        Ok(()) => self.store_protected = true,
                        // Not fatal: an unprotected store still works; a user holding a
                        // file open can only delay a promotion.
                        Err(s) => wdk::println!("changuard: could not restrict the LKG store: {s:#x}"),
                    }
                }
                return Ok(f);
            }
        }
        Err(IoError::new(IoErrorKind::Io))
    }
}

impl Platform for KernelPlatform<'_> {
    type Buf = PoolBuf;

    fn read_param(&mut self, name: &str, out: &mut [u8]) -> Result<RegValue, IoError> {
        self.params.query(name, out)
    }

    fn list_content(&mut self, dir: &str, visit: &mut dyn FnMut(&str) -> bool) -> Result<(), IoError> {
        const NEXT_AT: usize = core::mem::offset_of!(FILE_NAMES_INFORMATION, NextEntryOffset);
        const NLEN_AT: usize = core::mem::offset_of!(FILE_NAMES_INFORMATION, FileNameLength);
        const NAME_AT: usize = core::mem::offset_of!(FILE_NAMES_INFORMATION, FileName);
        let mut p = NtPath::directory(dir).map_err(io_error)?;
        let d = File::open(&mut p, FILE_LIST_DIRECTORY | FILE_TRAVERSE, FILE_OPEN, FILE_DIRECTORY_FILE, FILE_SHARE_READ | wdk_sys::FILE_SHARE_WRITE)?;
        let mut buf = PoolBuf::alloc(8192)?;
        let cap = ulong(buf.capacity())?;
        let mut restart: BOOLEAN = 1;
        // Bounded: every call returns >= 1 entry or ends the loop; the loader stops
        // visiting after MAX_DIR_ENTRIES, and we never make more calls than that.
        for _ in 0..changuard_loader::limits::MAX_DIR_ENTRIES {
            let mut iosb = IO_STATUS_BLOCK::default();
            // SAFETY:
            // 1. d is a valid directory handle opened for FILE_LIST_DIRECTORY, synchronous I/O.
            // 2. buf is valid for writes of cap bytes; iosb valid; event/APC null.
            // 3. FileName filter null (all entries); PASSIVE_LEVEL.
            let status = unsafe {
                ZwQueryDirectoryFile(
                    d.0.raw(),
                    core::ptr::null_mut(),
                    None,
                    core::ptr::null_mut(),
                    &raw mut iosb,
                    buf.as_mut_ptr().cast(),
                    cap,
                    FileNamesInformation,
                    0,
                    core::ptr::null_mut(),
                    restart,
                )
            };
            restart = 0;
            if status == wdk_sys::STATUS_NO_MORE_FILES {
                return Ok(());
            }
            if !nt_success(status) {
                return Err(io_error(status));
            }
            buf.set_filled(usize::try_from(iosb.Information).unwrap_or(0));
            let bytes = buf.as_ref();
            let mut at = 0usize;
            // Each entry is checked against the filled length before it is read.
            for _ in 0..bytes.len() {
                let next = le_u32(bytes, at.saturating_add(NEXT_AT)).ok_or(IoError::new(IoErrorKind::Io))?;
                let nlen = le_u32(bytes, at.saturating_add(NLEN_AT)).ok_or(IoError::new(IoErrorKind::Io))?;
                let start = at.saturating_add(NAME_AT);
                let raw = bytes
                    .get(start..start.saturating_add(usize::try_from(nlen).unwrap_or(usize::MAX)))
                    .ok_or(IoError::new(IoErrorKind::Io))?;
                let mut utf8 = [0u8; 256];
                let mut n = 0usize;
                let mut ok = raw.len() % 2 == 0;
                for ch in char::decode_utf16(raw.chunks_exact(2).map(|c| u16::from_le_bytes([*c.first().unwrap_or(&0), *c.get(1).unwrap_or(&0)]))) {
                    let Ok(ch) = ch else { ok = false; break };
                    let Some(dst) = utf8.get_mut(n..) else { ok = false; break };
                    if dst.len() < ch.len_utf8() {
                        ok = false;
                        break;
                    }
                    n = n.saturating_add(ch.encode_utf8(dst).len());
                }
                if ok
                    && let Ok(name) = core::str::from_utf8(utf8.get(..n).unwrap_or(&[]))
                        && !visit(name) {
                            return Ok(());
                        }
                if next == 0 {
                    break;
                }
                at = at.saturating_add(usize::try_from(next).unwrap_or(usize::MAX));
            }
        }
        Ok(())
    }

    fn read_content(&mut self, dir: &str, name: &str, cap: usize) -> Result<PoolBuf, IoError> {
        let mut p = NtPath::join(dir, name).map_err(io_error)?;
        File::open(&mut p, FILE_GENERIC_READ, FILE_OPEN, FILE_NON_DIRECTORY_FILE, FILE_SHARE_READ)?.read_whole(cap)
    }

    fn golden(&mut self, _channel: u32, _cap: usize) -> Result<Option<PoolBuf>, IoError> {
        Ok(None) // No golden content is embedded in this build (docs/DRIVER.md).
    }

    fn golden_channel(&mut self, _index: usize) -> Option<u32> {
        None
    }

    fn state_read(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, IoError> {
        if slot >= STATE_SLOTS {
            return Err(IoError::new(IoErrorKind::NotFound));
        }
        let name = if slot == 0 { "Slot0" } else { "Slot1" };
        let v = self.state_key()?.query(name, out)?;
        if v.ty != RegType::Binary {
            return Err(IoError::new(IoErrorKind::WrongKind));
        }
        Ok(v.len.min(out.len()))
    }

    fn state_write(&mut self, slot: u8, data: &[u8]) -> Result<(), IoError> {
        if slot >= STATE_SLOTS || data.len() > changuard_loader::platform::MAX_STATE_LEN {
            return Err(IoError::new(IoErrorKind::TooLarge));
        }
        let name = if slot == 0 { "Slot0" } else { "Slot1" };
        self.state_key()?.set(name, REG_BINARY, data)
    }

    fn state_flush(&mut self, _slot: u8) -> Result<(), IoError> {
        self.state_key()?.flush()
    }

    fn lkg_read(&mut self, channel: u32, which: LkgFile, cap: usize) -> Result<PoolBuf, IoError> {
        let mut p = Self::lkg_path(channel, which)?;
        File::open(&mut p, FILE_GENERIC_READ, FILE_OPEN, FILE_NON_DIRECTORY_FILE, FILE_SHARE_READ)?.read_whole(cap)
    }

    fn lkg_write_temp(&mut self, channel: u32, data: &[u8]) -> Result<(), IoError> {
        self.temp = None;
        let _dir = self.ensure_lkg_dir()?;
        let mut p = Self::lkg_path(channel, LkgFile::Temp)?;
        let f = File::open(&mut p, FILE_GENERIC_WRITE | DELETE, FILE_OVERWRITE_IF, FILE_NON_DIRECTORY_FILE | FILE_WRITE_THROUGH, 0)?;
        f.write_all(data)?;
        self.temp = Some((channel, f));
        Ok(())
    }

    fn lkg_flush_temp(&mut self, channel: u32) -> Result<(), IoError> {
        match &self.temp {
            Some((c, f)) if *c == channel => f.flush(),
            _ => Err(IoError::new(IoErrorKind::Io)),
        }
    }

    fn lkg_rename_temp(&mut self, channel: u32) -> Result<(), IoError> {
        let f = match self.temp.take() {
            Some((c, f)) if c == channel => f,
            _ => {
                let mut p = Self::lkg_path(channel, LkgFile::Temp)?;
                File::open(&mut p, FILE_GENERIC_WRITE | DELETE, FILE_OPEN, FILE_NON_DIRECTORY_FILE, 0)?
            }
        };
        let target = Self::lkg_path(channel, LkgFile::Current)?;
        // POSIX semantics first (issue 11 finding 2): a scanner holding the old
        // LKG copy open with delete sharing cannot fail the promotion. A file
        // system or Windows version without FileRenameInformationEx says so,
        // and the legacy rename runs instead.
        let status = rename(&f, &target, FILE_RENAME_REPLACE_IF_EXISTS | FILE_RENAME_POSIX_SEMANTICS, FileRenameInformationEx)?;
        let status = if ex_unsupported(status) { rename(&f, &target, 1, FileRenameInformation)? } else { status };
        if !nt_success(status) {
            return Err(io_error(status));
        }
        self.renamed = Some((channel, f));
        Ok(())
    }

    fn lkg_sync(&mut self, channel: u32) -> Result<(), IoError> {
        if let Some((c, f)) = self.renamed.take()
            && c == channel {
                f.flush()?;
            }
        self.ensure_lkg_dir()?.flush()
    }

    fn lkg_delete_temp(&mut self, channel: u32) -> Result<(), IoError> {
        if matches!(&self.temp, Some((c, _)) if *c == channel) {
            self.temp = None;
        }
        let mut p = Self::lkg_path(channel, LkgFile::Temp)?;
        let mut us = p.as_unicode();
        let mut oa = object_attributes(&mut us, core::ptr::null_mut());
        // SAFETY: 1. oa is valid, its name points to p's live buffer. 2. PASSIVE_LEVEL.
        let status = unsafe { ZwDeleteFile(&raw mut oa) };
        match io_error(status).kind {
            _ if nt_success(status) => Ok(()),
            IoErrorKind::NotFound => Ok(()),
            _ => Err(io_error(status)),
        }
    }

    fn uptime_secs(&mut self) -> u64 {
        // SAFETY: 1. KeQueryUnbiasedInterruptTime has no preconditions (any IRQL).
        let t = unsafe { KeQueryUnbiasedInterruptTime() };
        t / 10_000_000
    }

    /// The wall clock in Unix seconds (`None` before 1970), read once per
    /// platform (one loader run).
    fn now_unix_secs(&mut self) -> Option<u64> {
        if let Clock::Read(now) = self.now {
            return now;
        }
        let mut t = LARGE_INTEGER { QuadPart: 0 };
        // SAFETY: 1. t is valid for writes. 2. Any IRQL (documented); PASSIVE_LEVEL here.
        unsafe { KeQuerySystemTimePrecise(&raw mut t) };
        // SAFETY: 1. LARGE_INTEGER is a union of plain integers; every bit pattern is a valid i64.
        let t = unsafe { t.QuadPart };
        let now = unix_secs_from_system_time(t);
        self.now = Clock::Read(now);
        now
    }

    /// Records the decision in the status ring and, when it is an operator
    /// event (eventlog.rs), writes it to the System event log. `PASSIVE_LEVEL`,
    /// inside a loader run only (module docs).
    fn report(&mut self, decision: &Decision) {
        if matches!(decision.reason, Reason::Config(..)) {
            self.config_defaulted = true;
        }
        let level = eventlog::operator_event(decision.reason);
        let seq = self.ring.as_deref().map_or(0, DecisionRing::next_seq);
        let logged = level.is_some_and(|l| eventlog::write(decision, l, seq));
        let time = self.now_unix_secs().unwrap_or(0);
        if let Some(ring) = self.ring.as_deref_mut() {
            let mut flags = 0u8;
            if level.is_some() {
                flags |= DECISION_FLAG_OPERATOR_EVENT;
            }
            if logged {
                flags |= DECISION_FLAG_LOGGED;
            }
            ring.push(DecisionRecord {
                time,
                channel: decision.channel,
                version: decision.version,
                attempt: decision.attempt,
                reason: decision.reason.code(),
                detail: decision.reason.detail(),
                offset: decision.reason.offset(),
                seq: 0,
                flags,
            });
        }
        if decision.reason.is_problem() {
            wdk::println!(
                "changuard: channel {} v{} attempt {}: {} ({})",
                decision.channel,
                decision.version,
                decision.attempt,
                decision.reason.name(),
                decision.reason.code()
            );
        }
    }
}

