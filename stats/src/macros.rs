//! The one macro that turns the field list in `fields.rs` into code.
//!
//! From a list of `Struct STATIC { Line { kind key: "doc"; … } … }` groups
//! it generates, so that no key can be added to one place and forgotten in
//! another:
//! - a struct per group with one `pub` field per key, named like the key,
//!   typed [`ShardedCounter`](crate::ShardedCounter) for `counter` and
//!   [`MaxCounter`](crate::MaxCounter) for `max`, with a `const fn new`;
//! - the `static` instance of each struct;
//! - `KEYS`, the ordered (line, key, kind, doc) table for docs and the
//!   analyzer;
//! - `Key`, an enum with one variant per key (named like it), its
//!   by-name lookup and the static storage of each key;
//! - `reset_all()`;
//! - `write_line_values(line, buf)`, the dump writer: ` key=value` for every
//!   key of `line`, in declaration order.

/// Field type for a kind token.
macro_rules! stat_field_ty {
    (counter) => {
        $crate::counter::ShardedCounter
    };
    (max) => {
        $crate::counter::MaxCounter
    };
}

/// `Kind` value for a kind token.
macro_rules! stat_kind {
    (counter) => {
        $crate::fields::Kind::Counter
    };
    (max) => {
        $crate::fields::Kind::Max
    };
}

/// `Store` wrapping a static field of the given kind.
macro_rules! stat_store {
    (counter, $e:expr) => {
        $crate::fields::Store::Counter($e)
    };
    (max, $e:expr) => {
        $crate::fields::Store::Max($e)
    };
}

macro_rules! stat_fields {
    (
        $(
            $(#[$smeta:meta])*
            $Struct:ident $STATIC:ident {
                $(
                    $line:ident {
                        $( $kind:ident $key:ident : $doc:literal ; )*
                    }
                )*
            }
        )*
    ) => {
        $(
            $(#[$smeta])*
            pub struct $Struct {
                $( $(
                    #[doc = $doc]
                    pub $key: stat_field_ty!($kind),
                )* )*
            }

            impl $Struct {
                /// All counters at zero.
                pub const fn new() -> Self {
                    Self {
                        $( $( $key: <stat_field_ty!($kind)>::new(), )* )*
                    }
                }

                /// Sets every field of this group back to zero.
                pub fn reset(&self) {
                    $( $( self.$key.reset(); )* )*
                }
            }

            impl Default for $Struct {
                fn default() -> Self {
                    Self::new()
                }
            }

            #[doc = concat!("The process-wide [`", stringify!($Struct), "`].")]
            pub static $STATIC: $Struct = $Struct::new();
        )*

        /// Every key of every line, in dump order: the single source for the
        /// docs table and the analyzer's key list.
        pub const KEYS: &[KeyInfo] = &[
            $( $( $(
                KeyInfo {
                    line: Line::$line,
                    key: stringify!($key),
                    kind: stat_kind!($kind),
                    doc: $doc,
                },
            )* )* )*
        ];

        /// Every key of every line, in dump order. `key as usize` indexes
        /// [`KEYS`] and the counts of an [`OwnerBlock`](crate::OwnerBlock).
        /// Variants are named exactly like the keys they stand for.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Key {
            $( $( $(
                #[doc = $doc]
                $key,
            )* )* )*
        }

        impl Key {
            /// The key with this name (any line); `None` for unknown names.
            pub fn from_name(name: &str) -> Option<Key> {
                match name {
                    $( $( $( stringify!($key) => Some(Key::$key), )* )* )*
                    _ => None,
                }
            }

            /// The key's process-wide storage in the group statics.
            pub fn store(self) -> Store {
                match self {
                    $( $( $( Key::$key => stat_store!($kind, &$STATIC.$key), )* )* )*
                }
            }
        }

        /// Resets every counter and maximum of every group, and every
        /// linked owner block, to zero. Increments racing with it may
        /// survive; meant for tests and between runs.
        pub fn reset_all() {
            $( $STATIC.reset(); )*
            $crate::block::reset_blocks();
        }

        /// Appends ` key=value` for every key of `line` to `buf` (totals:
        /// the static shards plus every linked owner block).
        pub(crate) fn write_line_values<const N: usize>(
            line: Line,
            buf: &mut $crate::linebuf::LineBuf<N>,
        ) {
            $( $(
                if line == Line::$line {
                    $( buf.push_kv(stringify!($key), Key::$key.total()); )*
                }
            )* )*
        }
    };
}
