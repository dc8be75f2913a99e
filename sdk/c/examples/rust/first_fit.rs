//! rust-first-fit: an example Orchion scheduler plugin in Rust, with no crates.
//!
//! Places each job on the first node (in view order) that is ready and has
//! the CPU, memory, architecture, labels and matching free GPUs it asks for,
//! names the GPUs it takes, and accounts for the jobs placed earlier in the
//! same batch. Built with nothing but rustc:
//!
//!   rustc --edition 2021 --crate-type cdylib -C opt-level=2 -C panic=abort \
//!         -o liborchion-rust-first-fit.so first_fit.rs
//!
//! The structs below mirror orchion/plugin.h (ABI 1.0) field for field, with
//! `#[repr(C)]`; the size assertions fail the build if one drifts. Arrays are
//! indexed with the element sizes the host passes (`at`), never with Rust's
//! own size_of. `panic = "abort"` keeps a panic from unwinding into the host.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void, CStr};
use std::mem::size_of;

const ABI_MAJOR: u16 = 1;
const ABI_MINOR: u16 = 0;
const KIND_SCHEDULER: i32 = 1;
const OK: u32 = 0;
const ERR_INVALID: u32 = 1;
const LOG_INFO: i32 = 1;
const NODE_READY: i32 = 0;
const REASON_MAX: usize = 160;

#[repr(C)]
pub struct orchion_host_api {
    struct_size: u32,
    abi_minor: u32,
    log: extern "C" fn(level: i32, message: *const c_char),
    metric: extern "C" fn(name: *const c_char, value: f64),
    clock_ns: extern "C" fn() -> u64,
    config: extern "C" fn(key: *const c_char) -> *const c_char,
}

#[repr(C)]
pub struct orchion_kv {
    key: *const c_char,
    value: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct orchion_resources {
    cpu_millis: u64,
    memory_bytes: u64,
    gpus: u32,
    reserved: u32,
}

#[repr(C)]
pub struct orchion_gpu {
    vendor: *const c_char,
    model: *const c_char,
    memory_bytes: u64,
    index: u32,
    allocated: u32,
}

#[repr(C)]
pub struct orchion_node {
    id: *const c_char,
    arch: *const c_char,
    state: i32,
    reserved: u32,
    capacity: orchion_resources,
    free: orchion_resources,
    labels: *const orchion_kv,
    label_count: usize,
    label_size: u32,
    gpu_size: u32,
    gpus: *const orchion_gpu,
    gpu_count: usize,
}

#[repr(C)]
pub struct orchion_cluster_view {
    struct_size: u32,
    node_size: u32,
    nodes: *const orchion_node,
    node_count: usize,
}

#[repr(C)]
pub struct orchion_gpu_request {
    count: u32,
    reserved: u32,
    vendor: *const c_char,
    model: *const c_char,
    min_memory_bytes: u64,
}

#[repr(C)]
pub struct orchion_job {
    id: *const c_char,
    resources: orchion_resources,
    gpu: orchion_gpu_request,
    arch: *const c_char,
    constraints: *const orchion_kv,
    constraint_count: usize,
    constraint_size: u32,
    priority: i32,
}

#[repr(C)]
pub struct orchion_job_batch {
    struct_size: u32,
    job_size: u32,
    jobs: *const orchion_job,
    job_count: usize,
}

#[repr(C)]
pub struct orchion_placement {
    node_index: i64,
    reason: [c_char; REASON_MAX],
    gpus: *mut u32,
    gpu_capacity: u32,
    gpu_count: u32,
}

#[repr(C)]
pub struct orchion_placement_batch {
    struct_size: u32,
    placement_size: u32,
    placements: *mut orchion_placement,
    count: usize,
}

type InitFn = unsafe extern "C" fn(*const orchion_host_api, *mut *mut c_void, *mut c_char, usize) -> u32;
type DestroyFn = unsafe extern "C" fn(*mut c_void);
type PlaceFn = unsafe extern "C" fn(
    *mut c_void,
    *const orchion_cluster_view,
    *const orchion_job_batch,
    *mut orchion_placement_batch,
    *mut c_char,
    usize,
) -> u32;

#[repr(C)]
pub struct orchion_scheduler_vtable {
    struct_size: u32,
    reserved: u32,
    init: Option<InitFn>,
    destroy: Option<DestroyFn>,
    place: Option<PlaceFn>,
}

#[repr(C)]
pub struct orchion_plugin_descriptor {
    struct_size: u32,
    abi_major: u16,
    abi_minor: u16,
    kind: i32,
    reserved: u32,
    name: *const c_char,
    version: *const c_char,
    description: *const c_char,
    vtable: *const c_void,
}

// The header's _Static_asserts, restated: the build fails if a mirror drifts.
const _: () = assert!(size_of::<orchion_host_api>() == 40);
const _: () = assert!(size_of::<orchion_kv>() == 16);
const _: () = assert!(size_of::<orchion_resources>() == 24);
const _: () = assert!(size_of::<orchion_gpu>() == 32);
const _: () = assert!(size_of::<orchion_node>() == 112);
const _: () = assert!(size_of::<orchion_cluster_view>() == 24);
const _: () = assert!(size_of::<orchion_gpu_request>() == 32);
const _: () = assert!(size_of::<orchion_job>() == 96);
const _: () = assert!(size_of::<orchion_job_batch>() == 24);
const _: () = assert!(size_of::<orchion_placement>() == 184);
const _: () = assert!(size_of::<orchion_placement_batch>() == 24);
const _: () = assert!(size_of::<orchion_scheduler_vtable>() == 32);
const _: () = assert!(size_of::<orchion_plugin_descriptor>() == 48);

/// One instance: its host table and per-batch scratch, reused across calls.
struct Instance {
    host: *const orchion_host_api,
    left: Vec<orchion_resources>,
    taken: Vec<Vec<u32>>,
}

/// Element `index` of an array whose elements are `size` bytes apart (ORCHION_AT).
unsafe fn at<'a, T>(base: *const T, size: u32, index: usize) -> &'a T {
    &*((base as *const u8).add(size as usize * index) as *const T)
}

unsafe fn at_mut<'a, T>(base: *mut T, size: u32, index: usize) -> &'a mut T {
    &mut *((base as *mut u8).add(size as usize * index) as *mut T)
}

unsafe fn bytes<'a>(text: *const c_char) -> &'a [u8] {
    if text.is_null() {
        &[]
    } else {
        CStr::from_ptr(text).to_bytes()
    }
}

/// Copies `message` into a C buffer of `size` bytes, truncated and NUL-terminated.
unsafe fn write_message(buffer: *mut c_char, size: usize, message: &str) {
    if buffer.is_null() || size == 0 {
        return;
    }
    let count = message.len().min(size - 1);
    std::ptr::copy_nonoverlapping(message.as_ptr() as *const c_char, buffer, count);
    *buffer.add(count) = 0;
}

unsafe fn has_label(node: &orchion_node, wanted: &orchion_kv) -> bool {
    (0..node.label_count).any(|i| {
        let label = at(node.labels, node.label_size, i);
        bytes(label.key) == bytes(wanted.key) && bytes(label.value) == bytes(wanted.value)
    })
}

/// The GPUs `job` would take on `node`, or None when it does not fit there.
unsafe fn fit(node: &orchion_node, left: &orchion_resources, taken: &[u32], job: &orchion_job) -> Option<Vec<u32>> {
    let need = &job.resources;
    if node.state != NODE_READY || need.cpu_millis > left.cpu_millis || need.memory_bytes > left.memory_bytes {
        return None;
    }
    if !job.arch.is_null() && bytes(job.arch) != bytes(node.arch) {
        return None;
    }
    for i in 0..job.constraint_count {
        if !has_label(node, at(job.constraints, job.constraint_size, i)) {
            return None;
        }
    }
    let request = &job.gpu;
    let model = bytes(request.model).to_ascii_lowercase();
    let mut gpus = Vec::new();
    for i in 0..node.gpu_count {
        if gpus.len() == request.count as usize {
            break;
        }
        let gpu = at(node.gpus, node.gpu_size, i);
        let matches = gpu.allocated == 0
            && !taken.contains(&gpu.index)
            && gpu.memory_bytes >= request.min_memory_bytes
            && (request.vendor.is_null() || bytes(request.vendor) == bytes(gpu.vendor))
            && (model.is_empty() || contains(&bytes(gpu.model).to_ascii_lowercase(), &model));
        if matches {
            gpus.push(gpu.index);
        }
    }
    if gpus.len() < request.count as usize {
        return None;
    }
    Some(gpus)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

unsafe extern "C" fn init(
    host: *const orchion_host_api,
    state: *mut *mut c_void,
    error: *mut c_char,
    error_size: usize,
) -> u32 {
    if host.is_null() || state.is_null() {
        write_message(error, error_size, "init called without a host table or state pointer");
        return ERR_INVALID;
    }
    let instance = Box::new(Instance { host, left: Vec::new(), taken: Vec::new() });
    ((*host).log)(LOG_INFO, b"first fit, in Rust\0".as_ptr() as *const c_char);
    *state = Box::into_raw(instance) as *mut c_void;
    OK
}

unsafe extern "C" fn destroy(state: *mut c_void) {
    if !state.is_null() {
        drop(Box::from_raw(state as *mut Instance));
    }
}

unsafe extern "C" fn place(
    state: *mut c_void,
    cluster: *const orchion_cluster_view,
    batch: *const orchion_job_batch,
    out: *mut orchion_placement_batch,
    error: *mut c_char,
    error_size: usize,
) -> u32 {
    if state.is_null() || cluster.is_null() || batch.is_null() || out.is_null() {
        write_message(error, error_size, "place called with a NULL argument");
        return ERR_INVALID;
    }
    let this = &mut *(state as *mut Instance);
    let (cluster, batch, out) = (&*cluster, &*batch, &mut *out);
    this.left.clear();
    this.taken.clear();
    for n in 0..cluster.node_count {
        this.left.push(at(cluster.nodes, cluster.node_size, n).free);
        this.taken.push(Vec::new());
    }
    let mut placed = 0usize;
    for j in 0..batch.job_count.min(out.count) {
        let job = at(batch.jobs, batch.job_size, j);
        let answer = at_mut(out.placements, out.placement_size, j);
        let chosen = (0..cluster.node_count).find_map(|n| {
            fit(at(cluster.nodes, cluster.node_size, n), &this.left[n], &this.taken[n], job).map(|gpus| (n, gpus))
        });
        let Some((n, gpus)) = chosen else {
            answer.node_index = -1;
            let reason = format!(
                "no ready node has {} CPU millis, {} bytes and {} matching GPUs free",
                job.resources.cpu_millis, job.resources.memory_bytes, job.gpu.count
            );
            write_message(answer.reason.as_mut_ptr(), REASON_MAX, &reason);
            continue;
        };
        let left = &mut this.left[n];
        left.cpu_millis -= job.resources.cpu_millis;
        left.memory_bytes -= job.resources.memory_bytes;
        left.gpus = left.gpus.saturating_sub(job.resources.gpus);
        answer.node_index = n as i64;
        if !gpus.is_empty() && !answer.gpus.is_null() && gpus.len() <= answer.gpu_capacity as usize {
            for (slot, index) in gpus.iter().enumerate() {
                *answer.gpus.add(slot) = *index;
            }
            answer.gpu_count = gpus.len() as u32;
        }
        this.taken[n].extend_from_slice(&gpus);
        placed += 1;
    }
    ((*this.host).metric)(b"placed\0".as_ptr() as *const c_char, placed as f64);
    OK
}

static VTABLE: orchion_scheduler_vtable = orchion_scheduler_vtable {
    struct_size: size_of::<orchion_scheduler_vtable>() as u32,
    reserved: 0,
    init: Some(init),
    destroy: Some(destroy),
    place: Some(place),
};

/// The descriptor holds raw pointers to constant data, so it may be shared.
struct Descriptor(orchion_plugin_descriptor);
unsafe impl Sync for Descriptor {}

static DESCRIPTOR: Descriptor = Descriptor(orchion_plugin_descriptor {
    struct_size: size_of::<orchion_plugin_descriptor>() as u32,
    abi_major: ABI_MAJOR,
    abi_minor: ABI_MINOR,
    kind: KIND_SCHEDULER,
    reserved: 0,
    name: b"rust-first-fit\0".as_ptr() as *const c_char,
    version: b"1.0.0\0".as_ptr() as *const c_char,
    description: b"First fit with GPU matching, written in Rust without crates\0".as_ptr() as *const c_char,
    vtable: &VTABLE as *const orchion_scheduler_vtable as *const c_void,
});

/// The plugin's entry point (see orchion/plugin.h): C linkage, unmangled.
#[no_mangle]
pub extern "C" fn orchion_plugin_entry() -> *const orchion_plugin_descriptor {
    &DESCRIPTOR.0
}
