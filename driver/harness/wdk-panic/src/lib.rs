//! Host twin of `wdk-panic`: nothing. std's panic handler is used on the host.
#![no_std]
