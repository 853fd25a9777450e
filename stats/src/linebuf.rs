//! A fixed-size, stack-allocated line buffer with a decimal formatter.
//!
//! Used by the dump, which may run inside `malloc`/`free` or at `exit`: no
//! heap, no `core::fmt` machinery, no panics. Writes that do not fit are
//! dropped and remembered in [`LineBuf::truncated`]; the dump lines are sized
//! at compile time so that this cannot happen for them (see
//! `fields::MAX_LINE_LEN`).

/// Capacity of the dump's line buffer. The longest generated line
/// (`[HZ4_MID_STATS_B1]` line 1 with every value at 20 digits) is checked
/// against it at compile time.
pub const LINE_CAP: usize = 4096;

/// Longest decimal rendering of a u64 (`18446744073709551615`).
pub const U64_MAX_DIGITS: usize = 20;

/// Bytes accumulated for one output line.
pub struct LineBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> LineBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// Appends `bytes` whole, or nothing if they do not fit.
    pub fn push(&mut self, bytes: &[u8]) {
        let dst = self
            .len
            .checked_add(bytes.len())
            .and_then(|end| self.buf.get_mut(self.len..end));
        match dst {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.truncated = true,
        }
    }

    /// Appends as much of `bytes` as fits.
    pub fn push_clipped(&mut self, bytes: &[u8]) {
        let room = N.saturating_sub(self.len);
        if bytes.len() > room {
            self.truncated = true;
        }
        self.push(bytes.get(..room).unwrap_or(bytes));
    }

    /// Appends `v` in decimal, without leading zeros.
    pub fn push_u64(&mut self, v: u64) {
        let mut digits = [0u8; U64_MAX_DIGITS];
        let start = format_u64(v, &mut digits);
        self.push(digits.get(start..).unwrap_or(&[]));
    }

    /// Appends ` key=value` (or `key=value` right after nothing).
    pub fn push_kv(&mut self, key: &str, v: u64) {
        if self.len != 0 {
            self.push(b" ");
        }
        self.push(key.as_bytes());
        self.push(b"=");
        self.push_u64(v);
    }

    /// The bytes so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Bytes used.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was pushed.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if any push did not fit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }
}

impl<const N: usize> Default for LineBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `v` right-aligned into `out` and returns the index of its first
/// digit.
fn format_u64(mut v: u64, out: &mut [u8; U64_MAX_DIGITS]) -> usize {
    let mut i = U64_MAX_DIGITS;
    loop {
        // A u64 has at most 20 digits, so `i` never underflows; `get_mut`
        // keeps the code panic-free regardless.
        i = i.saturating_sub(1);
        if let Some(d) = out.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            return i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(v: u64) -> Vec<u8> {
        let mut b = LineBuf::<32>::new();
        b.push_u64(v);
        b.as_bytes().to_vec()
    }

    #[test]
    fn formats_u64_like_std() {
        let mut v = 1u64;
        for probe in [0, 1, 9, 10, 99, 100, 12345, u64::MAX - 1, u64::MAX] {
            assert_eq!(fmt(probe), probe.to_string().into_bytes());
        }
        // Every power of ten and its neighbours.
        while let Some(next) = v.checked_mul(10) {
            for p in [v - 1, v, v + 1] {
                assert_eq!(fmt(p), p.to_string().into_bytes());
            }
            v = next;
        }
        assert_eq!(u64::MAX.to_string().len(), U64_MAX_DIGITS);
    }

    #[test]
    fn key_values_are_space_separated() {
        let mut b = LineBuf::<64>::new();
        b.push(b"[T]");
        b.push_kv("a", 1);
        b.push_kv("bb", 0);
        assert_eq!(b.as_bytes(), b"[T] a=1 bb=0");
        let mut e = LineBuf::<64>::new();
        e.push_kv("k", 7);
        assert_eq!(e.as_bytes(), b"k=7");
    }

    #[test]
    fn overflow_is_dropped_not_panicking() {
        let mut b = LineBuf::<8>::new();
        b.push(b"12345");
        b.push(b"6789");
        assert_eq!(b.as_bytes(), b"12345");
        assert!(b.truncated());
        b.push_clipped(b"abcdef");
        assert_eq!(b.as_bytes(), b"12345abc");
        b.push_u64(u64::MAX);
        assert_eq!(b.len(), 8);
        b.clear();
        assert!(b.is_empty() && !b.truncated());
        let mut z = LineBuf::<0>::new();
        z.push_u64(1);
        z.push_clipped(b"x");
        assert!(z.is_empty() && z.truncated());
    }
}
