//! `wdk::wdf::Timer` (host twin, same API and same WDF calls as wdk 0.5.0).
use wdk_sys::{NTSTATUS, WDF_OBJECT_ATTRIBUTES, WDF_TIMER_CONFIG, WDFTIMER, call_unsafe_wdf_function_binding};

/// A WDF timer object (deleted by WDF with its parent; not on drop).
pub struct Timer {
    wdf_timer: WDFTIMER,
}

impl Timer {
    /// `WdfTimerCreate(config, attributes, &timer)`.
    ///
    /// # Errors
    /// The `WdfTimerCreate` status.
    pub fn try_new(timer_config: &mut WDF_TIMER_CONFIG, attributes: &mut WDF_OBJECT_ATTRIBUTES) -> Result<Self, NTSTATUS> {
        let mut handle: WDFTIMER = core::ptr::null_mut();
        // SAFETY: config and attributes are valid for the call; handle is valid for writes.
        let status: NTSTATUS = unsafe {
            call_unsafe_wdf_function_binding!(WdfTimerCreate, timer_config, attributes, &raw mut handle)
        };
        if crate::nt_success(status) { Ok(Self { wdf_timer: handle }) } else { Err(status) }
    }

    /// Same as [`Timer::try_new`].
    ///
    /// # Errors
    /// The `WdfTimerCreate` status.
    pub fn create(timer_config: &mut WDF_TIMER_CONFIG, attributes: &mut WDF_OBJECT_ATTRIBUTES) -> Result<Self, NTSTATUS> {
        Self::try_new(timer_config, attributes)
    }

    /// `WdfTimerStart(timer, due_time)`: true if the timer was already queued.
    #[must_use]
    pub fn start(&self, due_time: i64) -> bool {
        // SAFETY: wdf_timer came from a successful WdfTimerCreate.
        let queued = unsafe { call_unsafe_wdf_function_binding!(WdfTimerStart, self.wdf_timer, due_time) };
        queued != 0
    }

    /// `WdfTimerStop(timer, wait)`: true if the timer was queued.
    #[must_use]
    pub fn stop(&self, wait: bool) -> bool {
        // SAFETY: wdf_timer came from a successful WdfTimerCreate.
        let queued = unsafe { call_unsafe_wdf_function_binding!(WdfTimerStop, self.wdf_timer, u8::from(wait)) };
        queued != 0
    }
}
