//! Tickets (工单 at 12345, 警单 at 110) and the closed loop with the other platform.

pub mod calendar;
pub mod outbox;
pub mod peer;
pub mod store;
pub mod supervision;
