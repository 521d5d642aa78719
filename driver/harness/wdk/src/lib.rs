//! Host twin of `wdk` 0.5.0 (our own code, not the real crate's): the API surface
//! the changuard driver uses, over the same calls as the real crate.
//! - `print!`/`println!`: format into a 512-byte stack buffer (as the real
//!   `_print`'s `FlushableFormatBuffer<_, 512>`), flushed chunk by chunk to
//!   `DbgPrint("%s", chunk)`. DbgPrint is variadic, which stable Rust cannot define,
//!   so the model provides it as the non-variadic `HarnessDbgPrint(chunk)`.
//! - `fmt::FormatBuffer<N>`: fixed-size `fmt::Write` buffer (N - 1 bytes of text).
//! - `wdf::Timer`: `create`/`try_new`/`start`/`stop` over `WdfTimerCreate`/
//!   `WdfTimerStart`/`WdfTimerStop` through `call_unsafe_wdf_function_binding!`.
#![no_std]

// The same minimal FormatBuffer as driver/hostcheck's stand-in (one copy).
#[path = "../../../hostcheck/wdk-stub/src/fmt.rs"]
pub mod fmt;
pub mod wdf;

pub use wdk_sys::NT_SUCCESS as nt_success;
pub use wdk_sys::PAGED_CODE as paged_code;

unsafe extern "C" {
    /// The model's `DbgPrint("%s", text)`: `text` is NUL-terminated.
    fn HarnessDbgPrint(text: *const u8) -> u32;
}

/// 512 bytes, as the real crate's print buffer; the last byte is the NUL.
const PRINT_BUFFER: usize = 512;

struct Flushing {
    buf: [u8; PRINT_BUFFER],
    len: usize,
}

impl Flushing {
    fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        self.buf[self.len] = 0;
        // SAFETY: buf[..=len] is a NUL-terminated byte string that outlives the call.
        unsafe { HarnessDbgPrint(self.buf.as_ptr()) };
        self.len = 0;
    }
}

impl core::fmt::Write for Flushing {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let mut rest = s.as_bytes();
        while !rest.is_empty() {
            let room = PRINT_BUFFER - 1 - self.len;
            if room == 0 {
                self.flush();
                continue;
            }
            let n = room.min(rest.len());
            self.buf[self.len..self.len + n].copy_from_slice(&rest[..n]);
            self.len += n;
            rest = &rest[n..];
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: core::fmt::Arguments) {
    let mut w = Flushing { buf: [0; PRINT_BUFFER], len: 0 };
    let _ = core::fmt::write(&mut w, args);
    w.flush();
}

/// Prints to the debugger (the model's DbgPrint log).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        ($crate::_print(format_args!($($arg)*)))
    };
}

/// Prints to the debugger with a newline.
#[macro_export]
macro_rules! println {
    () => {
        ($crate::print!("\n"))
    };
    ($($arg:tt)*) => {
        ($crate::print!("{}\n", format_args!($($arg)*)))
    };
}
