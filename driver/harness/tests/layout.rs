//! The host copies of the WDK bindings have the Windows x64 layouts: `LONG`/`ULONG`
//! are 32-bit (LLP64), pointers 64-bit. Sizes and offsets below are the x64 values
//! of the WDK headers (the driver's byte-level code uses several of these offsets).
use core::mem::{offset_of, size_of};

use wdk_sys::*;

#[test]
fn scalar_widths_are_windows_x64() {
    assert_eq!(size_of::<ULONG>(), 4);
    assert_eq!(size_of::<LONG>(), 4);
    assert_eq!(size_of::<NTSTATUS>(), 4);
    assert_eq!(size_of::<WCHAR>(), 2);
    assert_eq!(size_of::<ULONG_PTR>(), 8);
    assert_eq!(size_of::<SIZE_T>(), 8);
    assert_eq!(size_of::<LARGE_INTEGER>(), 8);
    assert_eq!(size_of::<HANDLE>(), 8);
    assert_eq!(size_of::<ACCESS_MASK>(), 4);
}

#[test]
fn nt_structures() {
    assert_eq!(size_of::<UNICODE_STRING>(), 16);
    assert_eq!(offset_of!(UNICODE_STRING, Buffer), 8);
    assert_eq!(size_of::<OBJECT_ATTRIBUTES>(), 48);
    assert_eq!(offset_of!(OBJECT_ATTRIBUTES, RootDirectory), 8);
    assert_eq!(offset_of!(OBJECT_ATTRIBUTES, ObjectName), 16);
    assert_eq!(offset_of!(OBJECT_ATTRIBUTES, Attributes), 24);
    assert_eq!(size_of::<IO_STATUS_BLOCK>(), 16);
    assert_eq!(offset_of!(IO_STATUS_BLOCK, Information), 8);
    assert_eq!(size_of::<CLIENT_ID>(), 16);
    assert_eq!(size_of::<PS_CREATE_NOTIFY_INFO>(), 72);
    assert_eq!(offset_of!(PS_CREATE_NOTIFY_INFO, ParentProcessId), 16);
    assert_eq!(offset_of!(PS_CREATE_NOTIFY_INFO, CreatingThreadId), 24);
    assert_eq!(offset_of!(PS_CREATE_NOTIFY_INFO, ImageFileName), 48);
    assert_eq!(offset_of!(PS_CREATE_NOTIFY_INFO, CommandLine), 56);
    assert_eq!(offset_of!(PS_CREATE_NOTIFY_INFO, CreationStatus), 64);
}

#[test]
fn registry_and_file_information_classes() {
    // KEY_VALUE_PARTIAL_INFORMATION { TitleIndex, Type, DataLength, Data[1] }: 13 -> 16.
    assert_eq!(size_of::<KEY_VALUE_PARTIAL_INFORMATION>(), 16);
    assert_eq!(offset_of!(KEY_VALUE_PARTIAL_INFORMATION, Type), 4);
    assert_eq!(offset_of!(KEY_VALUE_PARTIAL_INFORMATION, DataLength), 8);
    assert_eq!(offset_of!(KEY_VALUE_PARTIAL_INFORMATION, Data), 12);
    // FILE_NAMES_INFORMATION { NextEntryOffset, FileIndex, FileNameLength, FileName[1] }.
    assert_eq!(size_of::<FILE_NAMES_INFORMATION>(), 16);
    assert_eq!(offset_of!(FILE_NAMES_INFORMATION, FileNameLength), 8);
    assert_eq!(offset_of!(FILE_NAMES_INFORMATION, FileName), 12);
    // FILE_RENAME_INFORMATION { union { BOOLEAN ReplaceIfExists; ULONG Flags }, HANDLE, ULONG, WCHAR[1] }.
    assert_eq!(size_of::<FILE_RENAME_INFORMATION>(), 24);
    assert_eq!(offset_of!(FILE_RENAME_INFORMATION, RootDirectory), 8);
    assert_eq!(offset_of!(FILE_RENAME_INFORMATION, FileNameLength), 16);
    assert_eq!(offset_of!(FILE_RENAME_INFORMATION, FileName), 20);
    assert_eq!(size_of::<FILE_STANDARD_INFORMATION>(), 24);
    assert_eq!(offset_of!(FILE_STANDARD_INFORMATION, EndOfFile), 8);
    assert_eq!(offset_of!(FILE_STANDARD_INFORMATION, Directory), 21);
    assert_eq!(size_of::<FILE_ATTRIBUTE_TAG_INFORMATION>(), 8);
}

#[test]
fn wdf_structures() {
    assert_eq!(size_of::<WDF_DRIVER_CONFIG>(), 32);
    assert_eq!(offset_of!(WDF_DRIVER_CONFIG, EvtDriverUnload), 16);
    assert_eq!(offset_of!(WDF_DRIVER_CONFIG, DriverInitFlags), 24);
    assert_eq!(size_of::<WDF_OBJECT_ATTRIBUTES>(), 56);
    assert_eq!(offset_of!(WDF_OBJECT_ATTRIBUTES, ExecutionLevel), 24);
    assert_eq!(offset_of!(WDF_OBJECT_ATTRIBUTES, ParentObject), 32);
    // WDF_TIMER_CONFIG: Size, EvtTimerFunc, Period, AutomaticSerialization,
    // TolerableDelay, DECLSPEC_ALIGN(8) UseHighResolutionTimer -> 40.
    assert_eq!(size_of::<WDF_TIMER_CONFIG>(), 40);
    assert_eq!(offset_of!(WDF_TIMER_CONFIG, EvtTimerFunc), 8);
    assert_eq!(offset_of!(WDF_TIMER_CONFIG, Period), 16);
    assert_eq!(offset_of!(WDF_TIMER_CONFIG, TolerableDelay), 24);
    assert_eq!(offset_of!(WDF_TIMER_CONFIG, UseHighResolutionTimer), 32);
    assert_eq!(size_of::<WDF_IO_QUEUE_CONFIG>(), 96);
    assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, EvtIoDeviceControl), 40);
    assert_eq!(offset_of!(WDF_IO_QUEUE_CONFIG, Driver), 88);
}

#[test]
fn wdf_function_table_matches_kmdf_1_33() {
    assert_eq!(wdk_sys::__harness::WDF_FUNCTION_TABLE_LEN, _WDFFUNCENUM::WdfFunctionTableNumEntries as usize);
    assert_eq!(wdk_sys::__harness::WDF_FUNCTION_NAMES[_WDFFUNCENUM::WdfDriverCreateTableIndex as usize], "WdfDriverCreate");
    assert_eq!(wdk_sys::__harness::WDF_FUNCTION_NAMES[_WDFFUNCENUM::WdfTimerStopTableIndex as usize], "WdfTimerStop");
}
