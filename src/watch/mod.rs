//! Sources → snapshot → diff → events: polling HAProxy and turning what it
//! says into events.

pub mod diff;
pub mod poller;
pub mod snapshot;
pub mod source;
