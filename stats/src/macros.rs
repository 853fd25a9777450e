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
//! - `field(key)`, a by-name lookup (tests, replays);
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

/// `FieldRef` wrapping a field of the given kind.
macro_rules! stat_field_ref {
    (counter, $e:expr) => {
        $crate::fields::FieldRef::Counter($e)
    };
    (max, $e:expr) => {
        $crate::fields::FieldRef::Max($e)
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

        /// Looks a key up by name (any line). `None` for unknown keys.
        pub fn field(key: &str) -> Option<FieldRef<'static>> {
            match key {
                $( $( $(
                    stringify!($key) => Some(stat_field_ref!($kind, &$STATIC.$key)),
                )* )* )*
                _ => None,
            }
        }

        /// Resets every counter and maximum of every group to zero.
        pub fn reset_all() {
            $( $STATIC.reset(); )*
        }

        /// Appends ` key=value` for every key of `line` to `buf`.
        pub(crate) fn write_line_values<const N: usize>(
            line: Line,
            buf: &mut $crate::linebuf::LineBuf<N>,
        ) {
            $( $(
                if line == Line::$line {
                    $( buf.push_kv(stringify!($key), $STATIC.$key.get()); )*
                }
            )* )*
        }
    };
}
