//! RTP port allocation from the configured range: even ports for RTP, the odd port above
//! each kept free for RTCP (RFC 3550 §11).

use std::collections::BTreeSet;

#[derive(Debug)]
pub struct PortPool {
    free: BTreeSet<u16>,
    /// Ports handed out least recently are reused last, so a late packet for an ended call
    /// is unlikely to reach a new one.
    next: u16,
    min: u16,
    max: u16,
}

impl PortPool {
    /// A pool of the even ports in `min..=max`.
    pub fn new(min: u16, max: u16) -> Self {
        let first = min + (min % 2);
        let free: BTreeSet<u16> = (first..max).step_by(2).collect();
        Self {
            free,
            next: first,
            min: first,
            max,
        }
    }

    pub fn allocate(&mut self) -> Option<u16> {
        let port = self
            .free
            .range(self.next..)
            .next()
            .or_else(|| self.free.range(self.min..).next())
            .copied()?;
        self.free.remove(&port);
        self.next = port.saturating_add(2);
        Some(port)
    }

    pub fn release(&mut self, port: u16) {
        if port >= self.min && port < self.max && port.is_multiple_of(2) {
            self.free.insert(port);
        }
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_rotate_through_the_range() {
        let mut pool = PortPool::new(20001, 20007);
        assert_eq!(pool.available(), 3);
        assert_eq!(pool.allocate(), Some(20002));
        assert_eq!(pool.allocate(), Some(20004));
        pool.release(20002);
        assert_eq!(pool.allocate(), Some(20006));
        assert_eq!(pool.allocate(), Some(20002));
        assert_eq!(pool.allocate(), None);
    }
}
