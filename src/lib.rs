//! hotline-bridge: a SIP back-to-back user agent linking the 12345 government-service hotline
//! with the 110 police call desk.

pub mod api;
pub mod audit;
pub mod b2bua;
pub mod cli;
pub mod config;
pub mod control;
pub mod handoff_log;
pub mod media;
pub mod rules;
pub mod server;
pub mod sip;
pub mod tickets;
pub mod timer;
