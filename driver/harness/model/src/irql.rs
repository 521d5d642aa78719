//! IRQL: the level each driver entry point runs at, and the highest level at
//! which each Windows call may be made (its documentation's "IRQL" line). A call
//! above its maximum is a verifier finding (Driver Verifier's IRQL checking
//! bugchecks with 0xC4 / 0xA for the same). The model never raises the IRQL
//! itself: the driver takes no spin locks, so only the entry points set it.
//!
//! Entry points: DriverEntry, EvtDriverUnload and the process-notify routine run
//! at PASSIVE_LEVEL; EvtIoDeviceControl and EvtTimerFunc at PASSIVE_LEVEL only when
//! the device/queue (or timer) was created with `WdfExecutionLevelPassive`, else at
//! DISPATCH_LEVEL, the worst case their documentation allows.

/// `PASSIVE_LEVEL`.
pub const PASSIVE: u8 = 0;
/// `APC_LEVEL`.
pub const APC: u8 = 1;
/// `DISPATCH_LEVEL`.
pub const DISPATCH: u8 = 2;
/// Any level (`HIGH_LEVEL`).
pub const ANY: u8 = 31;

/// Name of a level.
pub fn name(l: u8) -> &'static str {
    match l {
        PASSIVE => "PASSIVE_LEVEL",
        APC => "APC_LEVEL",
        DISPATCH => "DISPATCH_LEVEL",
        _ => "HIGH_LEVEL",
    }
}

/// The highest IRQL at which `api` may be called. Unknown names get
/// PASSIVE_LEVEL (the strictest), so a new import is checked until listed here.
pub fn max_for(api: &str) -> u8 {
    match api {
        // Any level.
        "KeBugCheckEx" | "KeQueryUnbiasedInterruptTime" | "KeQuerySystemTimePrecise" | "DbgPrint" => ANY,
        // The error log (System event log entries).
        "IoAllocateErrorLogEntry" | "IoWriteErrorLogEntry" => DISPATCH,
        // Nonpaged pool and its free; the stack expansion callout.
        "ExAllocatePool2" | "ExFreePool" | "KeExpandKernelStackAndCallout" => DISPATCH,
        // Framework object calls documented as IRQL <= DISPATCH_LEVEL.
        "WdfIoQueueCreate"
        | "WdfControlFinishInitializing"
        | "WdfRequestRetrieveInputBuffer"
        | "WdfRequestRetrieveOutputBuffer"
        | "WdfRequestCompleteWithInformation"
        | "WdfRequestComplete"
        | "WdfWaitLockCreate"
        | "WdfWaitLockRelease"
        | "WdfTimerCreate"
        | "WdfTimerStart"
        | "WdfObjectDelete"
        | "WdfRegistryWdmGetHandle" => DISPATCH,
        // WdfTimerStop: DISPATCH_LEVEL when Wait is FALSE (checked in the model with
        // the argument); WdfWaitLockAcquire with a NULL timeout: PASSIVE_LEVEL.
        "WdfTimerStop" => DISPATCH,
        // Zw* file and registry calls, PsSetCreateProcessNotifyRoutineEx, device
        // creation, WdfDriverOpenParametersRegistryKey, WdfRegistryClose,
        // WdfWaitLockAcquire (NULL timeout), and anything not listed.
        _ => PASSIVE,
    }
}
