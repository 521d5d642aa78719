//! IOCTL codes and device names.
//!
//! `CTL_CODE` is a C macro in `devioctl.h`/`winioctl.h`, so neither `wdk-sys`
//! nor `windows-sys` can bind it; it is written here once as a `const fn` and
//! both sides use the same constants.

/// `FILE_DEVICE_*` value for the changuard control device. Values 0x8000 and
/// above are reserved for vendors ("custom" device types).
pub const FILE_DEVICE_CHANGUARD: u32 = 0x8CA6;

/// `METHOD_BUFFERED`: the I/O manager copies input and output through one
/// system buffer, so the driver never touches user addresses.
pub const METHOD_BUFFERED: u32 = 0;
/// `FILE_ANY_ACCESS`.
pub const FILE_ANY_ACCESS: u32 = 0;
/// `FILE_READ_ACCESS` (= `FILE_READ_DATA`).
pub const FILE_READ_ACCESS: u32 = 1;
/// `FILE_WRITE_ACCESS` (= `FILE_WRITE_DATA`).
pub const FILE_WRITE_ACCESS: u32 = 2;

/// `CTL_CODE(DeviceType, Function, Method, Access)` from `devioctl.h`:
/// `(DeviceType << 16) | (Access << 14) | (Function << 2) | Method`.
///
/// Out-of-range arguments are masked to their field width (the C macro would
/// let them spill into neighbouring fields); the tests check known WDK codes
/// and round-trip every field through [`ctl_code_fields`].
#[must_use]
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    ((device_type & 0xFFFF) << 16)
        | ((access & 0x3) << 14)
        | ((function & 0xFFF) << 2)
        | (method & 0x3)
}

/// The inverse of [`ctl_code`]: `(device_type, function, method, access)`.
#[must_use]
pub const fn ctl_code_fields(code: u32) -> (u32, u32, u32, u32) {
    (
        code >> 16,
        (code >> 2) & 0xFFF,
        code & 0x3,
        (code >> 14) & 0x3,
    )
}

/// Function numbers below 0x800 are reserved for Microsoft.
const FUNCTION_BASE: u32 = 0x800;

/// Read the per-channel status ([`crate::status`]). Input: empty. Output: a
/// status reply of at most [`crate::status::MAX_REPLY_LEN`] bytes.
/// Read access is enough: it changes nothing.
pub const IOCTL_QUERY_STATUS: u32 = ctl_code(
    FILE_DEVICE_CHANGUARD,
    FUNCTION_BASE,
    METHOD_BUFFERED,
    FILE_READ_ACCESS,
);

/// Run the load path again without a reboot. Input: a [`crate::reload`]
/// request. Output: empty. Needs write access.
pub const IOCTL_RELOAD: u32 = ctl_code(
    FILE_DEVICE_CHANGUARD,
    FUNCTION_BASE + 1,
    METHOD_BUFFERED,
    FILE_WRITE_ACCESS,
);

/// Evaluate a synthetic event (tests). Input: a [`crate::submit`] request.
/// Output: a [`crate::submit::SubmitReply`]. Needs write access.
pub const IOCTL_SUBMIT_EVENT: u32 = ctl_code(
    FILE_DEVICE_CHANGUARD,
    FUNCTION_BASE + 2,
    METHOD_BUFFERED,
    FILE_READ_ACCESS | FILE_WRITE_ACCESS,
);

/// NT name of the control device (`WdfDeviceInitAssignName`).
pub const DEVICE_NT_NAME: &str = "\\Device\\Changuard";
/// NT name of the symbolic link (`WdfDeviceCreateSymbolicLink`).
pub const DEVICE_SYMLINK_NT_NAME: &str = "\\DosDevices\\Changuard";
/// Win32 path the CLI opens with `CreateFileW`.
pub const DEVICE_WIN32_PATH: &str = "\\\\.\\Changuard";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctl_code_matches_the_c_macro_on_known_values() {
        // FSCTL_GET_REPARSE_POINT = CTL_CODE(FILE_DEVICE_FILE_SYSTEM=9, 42, METHOD_BUFFERED, FILE_ANY_ACCESS)
        assert_eq!(
            ctl_code(9, 42, METHOD_BUFFERED, FILE_ANY_ACCESS),
            0x0009_00A8
        );
        // IOCTL_DISK_GET_DRIVE_GEOMETRY = CTL_CODE(FILE_DEVICE_DISK=7, 0, METHOD_BUFFERED, FILE_ANY_ACCESS)
        assert_eq!(
            ctl_code(7, 0, METHOD_BUFFERED, FILE_ANY_ACCESS),
            0x0007_0000
        );
        // IOCTL_STORAGE_QUERY_PROPERTY = CTL_CODE(0x2D, 0x500, METHOD_BUFFERED, FILE_ANY_ACCESS)
        assert_eq!(
            ctl_code(0x2D, 0x500, METHOD_BUFFERED, FILE_ANY_ACCESS),
            0x002D_1400
        );
    }

    #[test]
    fn our_codes_are_distinct_buffered_and_in_the_vendor_ranges() {
        let codes = [IOCTL_QUERY_STATUS, IOCTL_RELOAD, IOCTL_SUBMIT_EVENT];
        for (i, a) in codes.iter().enumerate() {
            let (dev, func, method, _) = ctl_code_fields(*a);
            assert_eq!(dev, FILE_DEVICE_CHANGUARD);
            assert!(dev >= 0x8000);
            assert!(func >= 0x800);
            assert_eq!(method, METHOD_BUFFERED);
            for b in codes.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
        assert_eq!(IOCTL_QUERY_STATUS, 0x8CA6_6000);
        assert_eq!(ctl_code_fields(IOCTL_RELOAD).3, FILE_WRITE_ACCESS);
    }

    proptest::proptest! {
        #[test]
        fn ctl_code_round_trips(dev in 0u32..=0xFFFF, func in 0u32..=0xFFF, method in 0u32..=3, access in 0u32..=3) {
            proptest::prop_assert_eq!(ctl_code_fields(ctl_code(dev, func, method, access)), (dev, func, method, access));
        }
    }
}
