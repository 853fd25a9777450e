//! Loud failure: one line on stderr naming the function and the reason,
//! then abort. Used when a pointer handed to us is not ours or is already
//! free -- continuing would corrupt the heap. No allocation, no formatting
//! machinery that could re-enter malloc.

/// Write `hz4: <func>: <reason> (ptr=0x...)` to stderr and abort.
#[cold]
#[inline(never)]
pub fn invalid_pointer(func: &str, reason: &str, ptr: usize) -> ! {
    let mut buf = [0u8; 256];
    let mut n = 0;
    for part in [
        b"hz4: ".as_slice(),
        func.as_bytes(),
        b": ",
        reason.as_bytes(),
        b" (ptr=0x",
    ] {
        n += copy_into(&mut buf[n..], part);
    }
    let mut hex = [0u8; 16];
    let mut len = 0;
    let mut v = ptr;
    loop {
        hex[len] = b"0123456789abcdef"[v & 15];
        len += 1;
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    hex[..len].reverse();
    n += copy_into(&mut buf[n..], &hex[..len]);
    n += copy_into(&mut buf[n..], b")\n");
    // SAFETY: writing our own stack buffer to fd 2, then aborting the process.
    unsafe {
        libc::write(2, buf.as_ptr() as *const libc::c_void, n);
        libc::abort();
    }
}

fn copy_into(dst: &mut [u8], src: &[u8]) -> usize {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    n
}
