#ifndef ORCHION_CFFI_SHIM_H
#define ORCHION_CFFI_SHIM_H
#include <ffi.h>

/* Accessors for what Swift cannot name directly (macro aliases, global type
 * objects). No logic. */
static inline ffi_abi orchion_ffi_default_abi(void) { return FFI_DEFAULT_ABI; }
static inline ffi_type *orchion_ffi_type_void(void) { return &ffi_type_void; }
static inline ffi_type *orchion_ffi_type_pointer(void) { return &ffi_type_pointer; }
static inline ffi_type *orchion_ffi_type_sint32(void) { return &ffi_type_sint32; }
static inline ffi_type *orchion_ffi_type_uint64(void) { return &ffi_type_uint64; }
static inline ffi_type *orchion_ffi_type_double(void) { return &ffi_type_double; }

#endif
