//! WDF wrappers (host twin): the promotion timer.
mod timer;
pub use timer::Timer;
