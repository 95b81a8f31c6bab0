//! C ABI for shmlane (see `include/shmlane.h`).
