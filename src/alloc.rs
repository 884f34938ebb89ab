//! A global allocator that asks Linux for transparent huge pages on large buffers.
//!
//! Volumes are large, freshly allocated and touched once from end to end. With 4 KiB pages the
//! kernel takes one page fault per 4 KiB on first touch and unmaps page by page on free: for a
//! 64 MiB output that is 16 384 faults and a few milliseconds of freeing, a sizeable share of a
//! fast filter's run. [`HugePageAlloc`] forwards every request to the system allocator and, for
//! blocks of at least [`HUGE_PAGE_THRESHOLD`] bytes, marks the 2 MiB-aligned part of the block with
//! `madvise(MADV_HUGEPAGE)` (the same advice numpy gives its large arrays). On systems whose
//! transparent huge pages are `never`, or on other operating systems, it is the system allocator.
//!
//! The `fibstack` binary and the Python extension install it:
//!
//! ```
//! #[global_allocator]
//! static ALLOC: fibstack::alloc::HugePageAlloc = fibstack::alloc::HugePageAlloc;
//!
//! fn main() {
//!     let v = vec![0u8; 8 << 20];
//!     assert_eq!(v.len(), 8 << 20);
//! }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of at least this many bytes get the huge-page advice (4 MiB, as numpy's).
pub const HUGE_PAGE_THRESHOLD: usize = 4 << 20;

/// The system allocator plus huge-page advice on large blocks (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct HugePageAlloc;

/// `p`, a block of `size` bytes from the system allocator (or null), after the huge-page advice
/// when it is large enough.
fn advised(p: *mut u8, size: usize) -> *mut u8 {
    if !p.is_null() && size >= HUGE_PAGE_THRESHOLD {
        advise(p, size);
    }
    p
}

#[cfg(target_os = "linux")]
fn advise(p: *mut u8, size: usize) {
    const HUGE: usize = 2 << 20;
    let start = (p as usize).div_ceil(HUGE) * HUGE;
    let end = (p as usize + size) / HUGE * HUGE;
    if end > start {
        // SAFETY: [start, end) lies inside the block just returned by the system allocator; the
        // advice changes how the kernel backs the pages, never their contents or their validity.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_p: *mut u8, _size: usize) {}

// SAFETY: every method forwards to `System` with the same arguments and returns its pointer; the
// only addition is advice on the returned block, which does not affect the allocator's contract.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        advised(System.alloc(layout), layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        advised(System.alloc_zeroed(layout), layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        advised(System.realloc(ptr, layout, new_size), new_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_blocks_round_trip_their_contents() {
        let a = HugePageAlloc;
        for size in [
            1usize,
            4096,
            HUGE_PAGE_THRESHOLD - 1,
            HUGE_PAGE_THRESHOLD,
            9 << 20,
        ] {
            let layout = Layout::from_size_align(size, 64).unwrap();
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % 64, 0);
                let s = std::slice::from_raw_parts_mut(p, size);
                assert!(s.iter().all(|&b| b == 0), "alloc_zeroed of {size} bytes");
                for (i, b) in s.iter_mut().enumerate() {
                    *b = (i % 251) as u8;
                }
                let q = a.realloc(p, layout, size * 2);
                let s = std::slice::from_raw_parts(q, size);
                assert!(s.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
                a.dealloc(q, Layout::from_size_align(size * 2, 64).unwrap());
            }
        }
    }
}
