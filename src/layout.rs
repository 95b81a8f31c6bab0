//! The bytes of a segment: `#[repr(C)]` header, endpoint table and the
//! constants that describe them.
//!
//! ```text
//! offset 0                 Header            (HEADER_SIZE bytes, fixed)
//! endpoints_offset         [EndpointEntry; endpoint_count]   (128 B each)
//! control_offset           ring-specific control block (cache-padded words)
//! data_offset              ring-specific data area (slots or byte records)
//! total_len                end of the segment
//! ```
//!
//! Every region starts on a 128-byte boundary. Every field offset is asserted
//! at compile time below and mirrored as a constant in the C header
//! (`ffi/include/shmlane.h`), so a C program can read a segment without
//! guessing. This module is pure data: no system calls.
//!
//! The header is written once by the creator before `magic` is published
//! and never changed afterwards; an opener copies it out with volatile
//! reads, validates the copy ([`HeaderSnapshot::validate`]) and uses only the
//! copy, so a peer that scribbles on the header later cannot change what an
//! open handle believes about the layout.

use crate::sync::{AtomicU32, AtomicU64};
use core::mem::size_of;

/// `b"SHMLANE\0"` read as a little-endian u64; stored last, with Release.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHMLANE\0");
/// Version of the segment layout. A segment of another version is refused.
/// 2: MPMC endpoints use entry words 5 (fence) and 6 (finish), and commit
/// and release by plain store (see `mpmc`); a version-1 peer would not
/// fence before skipping; the SPSC control block carries the mailbox
/// beside `tail` (a version-1 producer would not clear its stamp).
/// 3: MPMC receivers defer releases in entry words 7 and 8, and producers
/// complete them (see "Deferred releases" in `mpmc`); a version-2 producer
/// would wait for slots already read, or free them as lost.
pub const ABI_VERSION: u32 = 3;
/// Size of the fixed header at offset 0.
pub const HEADER_SIZE: usize = 512;
/// Alignment of every region in the segment (two cache lines: adjacent-line
/// prefetch on x86 pulls pairs of 64-byte lines).
pub const REGION_ALIGN: usize = 128;
/// Size of one endpoint table entry.
pub const ENDPOINT_SIZE: usize = 128;
/// Number of endpoint entries when the creator does not say.
pub const DEFAULT_ENDPOINTS: u32 = 64;
/// Largest endpoint table a segment may declare.
pub const MAX_ENDPOINTS: u32 = 4096;
/// Largest segment this library creates or maps (1 TiB): bounds every size
/// computed from header fields.
pub const MAX_SEGMENT_LEN: u64 = 1 << 40;
/// Number of kind-specific 64-bit words in each endpoint entry.
pub const ENDPOINT_WORDS: usize = 14;

/// What kind of channel a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Kind {
    /// Single-producer single-consumer ring of fixed-size elements.
    Spsc = 1,
    /// Multi-producer multi-consumer ring of fixed-size elements.
    Mpmc = 2,
    /// Single-producer single-consumer ring of variable-length byte records.
    Bytes = 3,
    /// Multi-producer single-consumer ring of byte records.
    BytesMpsc = 4,
    /// Multi-producer multi-consumer ring of byte records.
    BytesMpmc = 5,
    /// Broadcast of fixed-size elements.
    Broadcast = 6,
    /// Broadcast of variable-length byte records.
    BroadcastBytes = 7,
}

impl Kind {
    /// Decodes a kind word read from a segment.
    pub fn from_u32(v: u32) -> Option<Kind> {
        Some(match v {
            1 => Kind::Spsc,
            2 => Kind::Mpmc,
            3 => Kind::Bytes,
            4 => Kind::BytesMpsc,
            5 => Kind::BytesMpmc,
            6 => Kind::Broadcast,
            7 => Kind::BroadcastBytes,
            _ => return None,
        })
    }

    /// The name used by the CLI and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::Bytes => "bytes",
            Kind::BytesMpsc => "bytes-mpsc",
            Kind::BytesMpmc => "bytes-mpmc",
            Kind::Broadcast => "broadcast",
            Kind::BroadcastBytes => "broadcast-bytes",
        }
    }
}

impl core::fmt::Display for Kind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The fixed header at offset 0 of every segment.
///
/// All fields but `magic` are plain integers written once before `magic` is
/// published; readers copy them with [`HeaderSnapshot::read`].
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// [`MAGIC`] once the segment is fully initialised; 0 before.
    pub magic: AtomicU64,
    /// [`ABI_VERSION`] of the creator.
    pub abi_version: u32,
    /// A [`Kind`] as u32.
    pub kind: u32,
    /// Total length of the segment in bytes.
    pub total_len: u64,
    /// Number of slots (fixed-size rings) or bytes of the record area (byte
    /// rings); always a power of two.
    pub capacity: u64,
    /// Size of one slot in bytes (fixed-size rings; 0 for byte rings).
    pub slot_size: u32,
    /// Alignment of a slot in bytes.
    pub slot_align: u32,
    /// Element type fingerprint: `size_of::<T>()`.
    pub elem_size: u32,
    /// Element type fingerprint: `align_of::<T>()`.
    pub elem_align: u32,
    /// Element type fingerprint: a hash of the type's name, or 0 for "not
    /// checked" (used by the C ABI, which knows only sizes).
    pub type_tag: u64,
    /// Largest message a byte ring accepts (0 for fixed-size rings).
    pub max_message: u64,
    /// Offset of the endpoint table.
    pub endpoints_offset: u64,
    /// Number of entries in the endpoint table.
    pub endpoint_count: u32,
    /// Kind-specific flags (e.g. the broadcast policy).
    pub flags: u32,
    /// Offset of the control block.
    pub control_offset: u64,
    /// Length of the control block.
    pub control_len: u64,
    /// Offset of the data area.
    pub data_offset: u64,
    /// Length of the data area.
    pub data_len: u64,
    /// How long a consumer waits on a dead producer's uncommitted claim
    /// before skipping it, in nanoseconds.
    pub stall_timeout_ns: u64,
    /// Process id of the creator.
    pub creator_pid: u32,
    /// Low 32 bits of the creator's start time (with `creator_pid`, an
    /// owner token: a segment whose creator and endpoints are all dead is
    /// stale).
    pub creator_start: u32,
    /// Creation time, nanoseconds since the Unix epoch (informational).
    pub created_unix_ns: u64,
    /// Reserved for future fields; zero.
    pub reserved: [u64; 47],
}

/// One entry of the endpoint table: who is attached, in what role.
///
/// `owner` is 0 when the entry is free; otherwise it packs the holder's pid
/// (high 32 bits) and the low 32 bits of its start time in clock ticks since
/// boot (`/proc/PID/stat` field 22), which together survive pid reuse. It is
/// claimed and released with compare-and-swap only.
#[repr(C)]
#[derive(Debug)]
pub struct EndpointEntry {
    /// Packed pid and start time of the holder, or 0.
    pub owner: AtomicU64,
    /// The [`Role`] the holder attached as (written after `owner` is
    /// claimed; readers that see `owner != 0` and a zero role treat the entry
    /// as attaching).
    pub role: AtomicU32,
    /// Endpoint state flags, kind-specific.
    pub state: AtomicU32,
    /// Kind-specific words (cursors, in-flight claims, counters).
    pub words: [AtomicU64; ENDPOINT_WORDS],
}

impl EndpointEntry {
    /// A free entry (heap construction for tests and loom; segments start
    /// zeroed, which is the same state).
    pub fn new() -> EndpointEntry {
        EndpointEntry {
            owner: AtomicU64::new(0),
            role: AtomicU32::new(0),
            state: AtomicU32::new(0),
            words: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Default for EndpointEntry {
    fn default() -> Self {
        Self::new()
    }
}

/// Role of an attached endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Role {
    /// Writes messages.
    Producer = 1,
    /// Reads messages.
    Consumer = 2,
    /// Reads every message (broadcast).
    Subscriber = 3,
}

impl Role {
    /// Decodes a role word.
    pub fn from_u32(v: u32) -> Option<Role> {
        Some(match v {
            1 => Role::Producer,
            2 => Role::Consumer,
            3 => Role::Subscriber,
            _ => return None,
        })
    }

    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
            Role::Subscriber => "subscriber",
        }
    }
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(not(loom))]
mod asserts {
    use super::*;
    use memoffset::offset_of;

    const _: () = assert!(size_of::<Header>() == HEADER_SIZE);
    const _: () = assert!(size_of::<EndpointEntry>() == ENDPOINT_SIZE);
    const _: () = assert!(offset_of!(Header, magic) == HEADER_MAGIC_OFFSET);
    const _: () = assert!(offset_of!(Header, abi_version) == HEADER_ABI_VERSION_OFFSET);
    const _: () = assert!(offset_of!(Header, kind) == HEADER_KIND_OFFSET);
    const _: () = assert!(offset_of!(Header, total_len) == HEADER_TOTAL_LEN_OFFSET);
    const _: () = assert!(offset_of!(Header, capacity) == HEADER_CAPACITY_OFFSET);
    const _: () = assert!(offset_of!(Header, slot_size) == HEADER_SLOT_SIZE_OFFSET);
    const _: () = assert!(offset_of!(Header, elem_size) == HEADER_ELEM_SIZE_OFFSET);
    const _: () = assert!(offset_of!(Header, type_tag) == HEADER_TYPE_TAG_OFFSET);
    const _: () = assert!(offset_of!(Header, max_message) == HEADER_MAX_MESSAGE_OFFSET);
    const _: () = assert!(offset_of!(Header, endpoints_offset) == HEADER_ENDPOINTS_OFFSET_OFFSET);
    const _: () = assert!(offset_of!(Header, endpoint_count) == HEADER_ENDPOINT_COUNT_OFFSET);
    const _: () = assert!(offset_of!(Header, control_offset) == HEADER_CONTROL_OFFSET_OFFSET);
    const _: () = assert!(offset_of!(Header, data_offset) == HEADER_DATA_OFFSET_OFFSET);
    const _: () = assert!(offset_of!(Header, stall_timeout_ns) == HEADER_STALL_TIMEOUT_OFFSET);
    const _: () = assert!(offset_of!(EndpointEntry, owner) == 0);
    const _: () = assert!(offset_of!(EndpointEntry, role) == 8);
    const _: () = assert!(offset_of!(EndpointEntry, words) == 16);
}

/// Offset of [`Header::magic`] (mirrored in the C header).
pub const HEADER_MAGIC_OFFSET: usize = 0;
/// Offset of [`Header::abi_version`].
pub const HEADER_ABI_VERSION_OFFSET: usize = 8;
/// Offset of [`Header::kind`].
pub const HEADER_KIND_OFFSET: usize = 12;
/// Offset of [`Header::total_len`].
pub const HEADER_TOTAL_LEN_OFFSET: usize = 16;
/// Offset of [`Header::capacity`].
pub const HEADER_CAPACITY_OFFSET: usize = 24;
/// Offset of [`Header::slot_size`].
pub const HEADER_SLOT_SIZE_OFFSET: usize = 32;
/// Offset of [`Header::elem_size`].
pub const HEADER_ELEM_SIZE_OFFSET: usize = 40;
/// Offset of [`Header::type_tag`].
pub const HEADER_TYPE_TAG_OFFSET: usize = 48;
/// Offset of [`Header::max_message`].
pub const HEADER_MAX_MESSAGE_OFFSET: usize = 56;
/// Offset of [`Header::endpoints_offset`].
pub const HEADER_ENDPOINTS_OFFSET_OFFSET: usize = 64;
/// Offset of [`Header::endpoint_count`].
pub const HEADER_ENDPOINT_COUNT_OFFSET: usize = 72;
/// Offset of [`Header::control_offset`].
pub const HEADER_CONTROL_OFFSET_OFFSET: usize = 80;
/// Offset of [`Header::data_offset`].
pub const HEADER_DATA_OFFSET_OFFSET: usize = 96;
/// Offset of [`Header::stall_timeout_ns`].
pub const HEADER_STALL_TIMEOUT_OFFSET: usize = 112;

/// Rounds `v` up to a multiple of `align` (a power of two), or `None` on
/// overflow.
pub const fn align_up(v: u64, align: u64) -> Option<u64> {
    match v.checked_add(align - 1) {
        Some(x) => Some(x & !(align - 1)),
        None => None,
    }
}

/// What the creator asks for; everything else in the header is derived from
/// it by [`Geometry::compute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Channel kind.
    pub kind: Kind,
    /// Slots or record-area bytes (power of two).
    pub capacity: u64,
    /// Bytes per slot (fixed-size rings).
    pub slot_size: u32,
    /// Alignment per slot.
    pub slot_align: u32,
    /// Largest byte message.
    pub max_message: u64,
    /// Endpoint table entries.
    pub endpoint_count: u32,
    /// Length of the kind's control block.
    pub control_len: u64,
}

/// Offsets computed from a [`Geometry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Offset of the endpoint table.
    pub endpoints_offset: u64,
    /// Offset of the control block.
    pub control_offset: u64,
    /// Offset of the data area.
    pub data_offset: u64,
    /// Length of the data area.
    pub data_len: u64,
    /// Total segment length.
    pub total_len: u64,
}

impl Geometry {
    /// Lays the regions out one after the other, each on a [`REGION_ALIGN`]
    /// boundary. `None` when any size overflows or exceeds
    /// [`MAX_SEGMENT_LEN`].
    pub fn compute(&self) -> Option<Placement> {
        let ra = REGION_ALIGN as u64;
        let endpoints_offset = align_up(HEADER_SIZE as u64, ra)?;
        let endpoints_len = u64::from(self.endpoint_count).checked_mul(ENDPOINT_SIZE as u64)?;
        let control_offset = align_up(endpoints_offset.checked_add(endpoints_len)?, ra)?;
        let data_offset = align_up(control_offset.checked_add(self.control_len)?, ra)?;
        let data_len = match self.kind {
            Kind::Bytes | Kind::BytesMpsc | Kind::BytesMpmc | Kind::BroadcastBytes => self.capacity,
            _ => self.capacity.checked_mul(u64::from(self.slot_size))?,
        };
        let total_len = align_up(data_offset.checked_add(data_len)?, 4096)?;
        if total_len > MAX_SEGMENT_LEN {
            return None;
        }
        Some(Placement {
            endpoints_offset,
            control_offset,
            data_offset,
            data_len,
            total_len,
        })
    }
}

/// A validated copy of a segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSnapshot {
    /// The geometry the creator asked for.
    pub geometry: Geometry,
    /// Where it put each region.
    pub placement: Placement,
    /// ABI version found.
    pub abi_version: u32,
    /// Element size fingerprint.
    pub elem_size: u32,
    /// Element alignment fingerprint.
    pub elem_align: u32,
    /// Element name hash (0 = unchecked).
    pub type_tag: u64,
    /// Kind-specific flags.
    pub flags: u32,
    /// Unblock timeout in nanoseconds.
    pub stall_timeout_ns: u64,
    /// Creator's pid.
    pub creator_pid: u32,
    /// Low 32 bits of the creator's start time.
    pub creator_start: u32,
    /// Creation time.
    pub created_unix_ns: u64,
}

/// Why a header failed validation; turned into [`crate::Error`] by the
/// segment layer, which knows the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// ABI version differs.
    Abi(u32),
    /// Kind word is unknown.
    UnknownKind(u32),
    /// A field is inconsistent; the string says which and how.
    Field(String),
    /// The header says the segment is longer than the file.
    Truncated {
        /// Length the header declares.
        declared: u64,
        /// Length of the file.
        actual: u64,
    },
}

impl HeaderSnapshot {
    /// Copies the header fields with volatile reads (the header lives in
    /// memory another process can write; a plain read of memory that may
    /// change underneath is not allowed).
    ///
    /// # Safety
    /// `h` must point to at least [`HEADER_SIZE`] readable bytes that stay
    /// mapped for the duration of the call.
    pub unsafe fn read(h: *const Header) -> RawHeader {
        // SAFETY: the caller guarantees HEADER_SIZE readable bytes at `h`;
        // `Header` is repr(C) with only integer fields (AtomicU64 has the
        // layout of u64), so every bit pattern is a valid RawHeader.
        unsafe { core::ptr::read_volatile(h as *const RawHeader) }
    }

    /// Checks every field of `raw` against the file length and the layout
    /// recomputed from the creator's request.
    pub fn validate(raw: &RawHeader, file_len: u64) -> Result<HeaderSnapshot, HeaderProblem> {
        if raw.abi_version != ABI_VERSION {
            return Err(HeaderProblem::Abi(raw.abi_version));
        }
        let kind = Kind::from_u32(raw.kind).ok_or(HeaderProblem::UnknownKind(raw.kind))?;
        let field = |s: String| Err(HeaderProblem::Field(s));
        if raw.capacity == 0 || !raw.capacity.is_power_of_two() {
            return field(format!("capacity {} is not a power of two", raw.capacity));
        }
        if raw.endpoint_count == 0 || raw.endpoint_count > MAX_ENDPOINTS {
            return field(format!("endpoint count {} is out of range", raw.endpoint_count));
        }
        if raw.slot_align == 0 || !raw.slot_align.is_power_of_two() || raw.slot_align as usize > REGION_ALIGN {
            return field(format!("slot alignment {} is invalid", raw.slot_align));
        }
        if raw.control_len > MAX_SEGMENT_LEN {
            return field(format!("control block length {} is out of range", raw.control_len));
        }
        let geometry = Geometry {
            kind,
            capacity: raw.capacity,
            slot_size: raw.slot_size,
            slot_align: raw.slot_align,
            max_message: raw.max_message,
            endpoint_count: raw.endpoint_count,
            control_len: raw.control_len,
        };
        let placement = geometry
            .compute()
            .ok_or_else(|| HeaderProblem::Field("region sizes overflow".into()))?;
        let declared = Placement {
            endpoints_offset: raw.endpoints_offset,
            control_offset: raw.control_offset,
            data_offset: raw.data_offset,
            data_len: raw.data_len,
            total_len: raw.total_len,
        };
        if declared != placement {
            return field(format!(
                "declared layout {declared:?} differs from the layout recomputed from its own fields {placement:?}"
            ));
        }
        if placement.total_len > file_len {
            return Err(HeaderProblem::Truncated {
                declared: placement.total_len,
                actual: file_len,
            });
        }
        Ok(HeaderSnapshot {
            geometry,
            placement,
            abi_version: raw.abi_version,
            elem_size: raw.elem_size,
            elem_align: raw.elem_align,
            type_tag: raw.type_tag,
            flags: raw.flags,
            stall_timeout_ns: raw.stall_timeout_ns,
            creator_pid: raw.creator_pid,
            creator_start: raw.creator_start,
            created_unix_ns: raw.created_unix_ns,
        })
    }
}

/// [`Header`] with plain integer fields: what a volatile copy produces.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[allow(missing_docs)]
pub struct RawHeader {
    pub magic: u64,
    pub abi_version: u32,
    pub kind: u32,
    pub total_len: u64,
    pub capacity: u64,
    pub slot_size: u32,
    pub slot_align: u32,
    pub elem_size: u32,
    pub elem_align: u32,
    pub type_tag: u64,
    pub max_message: u64,
    pub endpoints_offset: u64,
    pub endpoint_count: u32,
    pub flags: u32,
    pub control_offset: u64,
    pub control_len: u64,
    pub data_offset: u64,
    pub data_len: u64,
    pub stall_timeout_ns: u64,
    pub creator_pid: u32,
    pub creator_start: u32,
    pub created_unix_ns: u64,
    pub reserved: [u64; 47],
}

const _: () = assert!(size_of::<RawHeader>() == HEADER_SIZE);

/// Fingerprint of an element type: size, alignment and a hash of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeFingerprint {
    /// `size_of::<T>()`.
    pub size: u32,
    /// `align_of::<T>()`.
    pub align: u32,
    /// FNV-1a of `type_name::<T>()`, or 0 when unchecked.
    pub tag: u64,
}

impl TypeFingerprint {
    /// The fingerprint of `T`.
    pub fn of<T>() -> TypeFingerprint {
        TypeFingerprint {
            size: size_of::<T>() as u32,
            align: core::mem::align_of::<T>() as u32,
            tag: fnv1a(core::any::type_name::<T>().as_bytes()),
        }
    }

    /// Size and alignment only, for callers that cannot name a Rust type
    /// (the C ABI).
    pub fn untagged(size: u32, align: u32) -> TypeFingerprint {
        TypeFingerprint { size, align, tag: 0 }
    }

    /// Whether an endpoint expecting `self` may use a segment created with
    /// `found`: size and alignment must match; names must match unless
    /// either side did not give one.
    pub fn accepts(&self, found: &TypeFingerprint) -> bool {
        self.size == found.size
            && self.align == found.align
            && (self.tag == 0 || found.tag == 0 || self.tag == found.tag)
    }
}

/// 64-bit FNV-1a hash (stable, dependency-free; used only as a fingerprint,
/// never for security).
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo() -> Geometry {
        Geometry {
            kind: Kind::Spsc,
            capacity: 1024,
            slot_size: 8,
            slot_align: 8,
            max_message: 0,
            endpoint_count: 2,
            control_len: 640,
        }
    }

    #[test]
    fn regions_are_aligned_and_disjoint() {
        let p = geo().compute().unwrap();
        assert_eq!(p.endpoints_offset, 512);
        assert_eq!(p.control_offset, 512 + 256);
        assert_eq!(p.data_offset % REGION_ALIGN as u64, 0);
        assert!(p.data_offset >= p.control_offset + 640);
        assert_eq!(p.data_len, 8192);
        assert!(p.total_len >= p.data_offset + p.data_len);
        assert_eq!(p.total_len % 4096, 0);
    }

    #[test]
    fn huge_geometry_is_refused() {
        let mut g = geo();
        g.capacity = 1 << 62;
        assert!(g.compute().is_none());
        g.capacity = 1 << 40;
        assert!(g.compute().is_none(), "8 TiB of slots exceeds MAX_SEGMENT_LEN");
    }

    fn raw_for(g: Geometry) -> RawHeader {
        let p = g.compute().unwrap();
        let mut r: RawHeader = bytemuck::Zeroable::zeroed();
        r.magic = MAGIC;
        r.abi_version = ABI_VERSION;
        r.kind = g.kind as u32;
        r.capacity = g.capacity;
        r.slot_size = g.slot_size;
        r.slot_align = g.slot_align;
        r.endpoint_count = g.endpoint_count;
        r.control_len = g.control_len;
        r.endpoints_offset = p.endpoints_offset;
        r.control_offset = p.control_offset;
        r.data_offset = p.data_offset;
        r.data_len = p.data_len;
        r.total_len = p.total_len;
        r
    }

    #[test]
    fn validate_accepts_consistent_and_rejects_each_bad_field() {
        let g = geo();
        let good = raw_for(g);
        let len = good.total_len;
        assert!(HeaderSnapshot::validate(&good, len).is_ok());
        type Mutation = Box<dyn Fn(&mut RawHeader)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("abi", Box::new(|r| r.abi_version = 99)),
            ("kind", Box::new(|r| r.kind = 77)),
            ("capacity", Box::new(|r| r.capacity = 1000)),
            ("zero capacity", Box::new(|r| r.capacity = 0)),
            ("endpoints", Box::new(|r| r.endpoint_count = 0)),
            ("endpoints max", Box::new(|r| r.endpoint_count = MAX_ENDPOINTS + 1)),
            ("align", Box::new(|r| r.slot_align = 3)),
            ("data offset", Box::new(|r| r.data_offset += 128)),
            ("total", Box::new(|r| r.total_len += 4096)),
            ("control", Box::new(|r| r.control_len = u64::MAX)),
            ("slot size", Box::new(|r| r.slot_size = 16)),
        ];
        for (what, f) in cases {
            let mut r = good;
            f(&mut r);
            assert!(HeaderSnapshot::validate(&r, len).is_err(), "{what} accepted");
        }
        assert!(matches!(
            HeaderSnapshot::validate(&good, len - 1),
            Err(HeaderProblem::Truncated { .. })
        ));
    }

    #[test]
    fn fingerprints() {
        let a = TypeFingerprint::of::<u64>();
        assert!(a.accepts(&a));
        assert!(!a.accepts(&TypeFingerprint::of::<i64>()));
        assert!(!a.accepts(&TypeFingerprint::of::<u32>()));
        assert!(a.accepts(&TypeFingerprint::untagged(8, 8)));
        assert!(!a.accepts(&TypeFingerprint::untagged(8, 4)));
    }
}
