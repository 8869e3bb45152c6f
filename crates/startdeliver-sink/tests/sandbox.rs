//! Integration tests: the real client and driver against the sandbox on loopback.

mod sandbox {
    pub mod bounds;
    pub mod faults;
    pub mod fixtures;
    pub mod flows;
    pub mod logs;
    pub mod skips;
    pub mod support;
}
