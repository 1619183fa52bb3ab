//! Braze Currents email events: typed events and Avro Object Container File decoding.

mod events;

pub use events::{
    Abort, Bounce, Click, Deferral, Delivery, Event, EventType, FieldDef, FieldKind, MarkAsSpam,
    Open, Retry, Send, SoftBounce, Unsubscribe,
};
