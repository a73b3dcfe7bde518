//! Bounds on the CPU-heavy document work (stamping and verification): a fixed number of slots
//! per instance, refused with 503 and `Retry-After` when all are taken, and a cancellation flag
//! that the blocking work checks between its steps, raised when the request is dropped (it
//! timed out, or the client went away). The slot is held by the blocking work itself, so work
//! that is still finishing after its request was dropped still counts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The instance's document-work slots.
#[derive(Debug, Clone)]
pub struct Slots {
    semaphore: Arc<Semaphore>,
}

impl Slots {
    pub fn new(n: usize) -> Slots {
        Slots {
            semaphore: Arc::new(Semaphore::new(n.max(1))),
        }
    }

    /// A slot and the request's cancellation guard, or `None` when every slot is taken.
    pub fn try_take(&self) -> Option<(Ticket, CancelOnDrop)> {
        let permit = self.semaphore.clone().try_acquire_owned().ok()?;
        let flag = Arc::new(AtomicBool::new(false));
        Some((
            Ticket {
                _permit: Some(permit),
                cancelled: flag.clone(),
            },
            CancelOnDrop { flag, armed: true },
        ))
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }
}

/// What the blocking work holds: its slot, and a way to learn that nobody waits for it.
#[derive(Debug)]
pub struct Ticket {
    _permit: Option<OwnedSemaphorePermit>,
    cancelled: Arc<AtomicBool>,
}

impl Ticket {
    /// A ticket that holds no slot and is never cancelled (the command line, tests).
    pub fn unbounded() -> Ticket {
        Ticket {
            _permit: None,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Held by the request's future: dropping it (the request ends, times out, or its client goes
/// away) tells the blocking work to stop at its next step. Disarmed when the work's result is
/// used.
#[derive(Debug)]
pub struct CancelOnDrop {
    flag: Arc<AtomicBool>,
    armed: bool,
}

impl CancelOnDrop {
    /// The request is answered: nothing to cancel.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_freed_with_the_ticket() {
        let slots = Slots::new(2);
        let a = slots.try_take().unwrap();
        let _b = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        drop(a);
        assert!(slots.try_take().is_some());
    }

    #[test]
    fn dropping_the_guard_cancels_the_ticket() {
        let slots = Slots::new(1);
        let (ticket, guard) = slots.try_take().unwrap();
        assert!(!ticket.cancelled());
        drop(guard);
        assert!(ticket.cancelled());
        let (ticket, guard) = Slots::new(1).try_take().unwrap();
        guard.disarm();
        assert!(!ticket.cancelled());
    }
}
