//! Layout-noise builds: `HZ4_DEBUG_LAYOUT_PAD=N` puts N bytes of padding
//! (int3) in a text section of its own ahead of the library's code. With
//! one codegen unit and fat LTO the whole library is one object, whose
//! module-level assembly comes before its functions, so every function
//! moves by N bytes (rounded to their alignment) and nothing else changes.
//! An A/B of two such builds (an "A/A′") measures how much a lane moves
//! from code placement alone — the floor under which a box that does not
//! touch a lane's path cannot claim an effect on it. With N = 0 nothing is
//! emitted.

core::arch::global_asm!(
    ".pushsection .text.hz4_layout_pad,\"axR\",@progbits",
    ".skip {pad}, 0xcc",
    ".popsection",
    pad = const crate::config::knobs::HZ4_DEBUG_LAYOUT_PAD,
);
