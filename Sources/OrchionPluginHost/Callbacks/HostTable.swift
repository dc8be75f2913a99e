import CFFI
import COrchionPlugin
import Glibc
import Synchronization

/// One plugin instance's `orchion_host_api`.
///
/// Each function pointer in the table is a libffi closure whose user data is
/// the instance's `HostCallbacks`, so a plugin calls plain C functions with no
/// context argument and the host still knows which instance spoke.
///
/// The table, its closures and the callbacks object are never freed: a plugin
/// that keeps the table past `destroy` (or a thread of its own that outlives
/// the instance) finds them allocated and harmless — `retire()` turns them
/// into no-ops. That costs a few hundred bytes per instance ever created.
///
/// Threading: created and retired by the thread that owns the instance; the
/// closures themselves may be called from any thread (see `HostCallbacks`).
final class HostTable {
    /// The instance name events are attributed to.
    var instance: String { callbacks.instance }
    /// The C table handed to the plugin.
    let api: UnsafeMutablePointer<orchion_host_api>
    /// What the closures reach.
    let callbacks: HostCallbacks

    /// Longest log line or metric name accepted; longer ones are truncated.
    static let maxMessageBytes = 4096

    init(instance: String, config: [String: String], sink: @escaping PluginEventSink) throws(PluginError) {
        let callbacks = HostCallbacks(instance: instance, config: config, sink: sink)
        self.callbacks = callbacks
        api = .allocate(capacity: 1)
        api.initialize(to: orchion_host_api())
        api.pointee.struct_size = UInt32(MemoryLayout<orchion_host_api>.size)
        api.pointee.abi_minor = UInt32(HostABI.minor)
        // Retained for ever, like the closures that point at it.
        let me = Unmanaged.passRetained(callbacks).toOpaque()
        api.pointee.log = unsafeBitCast(
            try Self.bind(Signature.log, me, HostCallbacks.log, instance),
            to: (@convention(c) (Int32, UnsafePointer<CChar>?) -> Void).self)
        api.pointee.metric = unsafeBitCast(
            try Self.bind(Signature.metric, me, HostCallbacks.metric, instance),
            to: (@convention(c) (UnsafePointer<CChar>?, Double) -> Void).self)
        api.pointee.clock_ns = unsafeBitCast(
            try Self.bind(Signature.clock, me, HostCallbacks.clock, instance),
            to: (@convention(c) () -> UInt64).self)
        api.pointee.config = unsafeBitCast(
            try Self.bind(Signature.config, me, HostCallbacks.lookup, instance),
            to: (@convention(c) (UnsafePointer<CChar>?) -> UnsafePointer<CChar>?).self)
    }

    /// Turns every callback into a no-op (after `destroy`). The memory stays.
    deinit { callbacks.retire() }

    /// Runs `body`, a call into the plugin on the current thread, accepting
    /// `log` and `metric` only from this thread while it runs; afterwards
    /// reports (on this thread) any callbacks refused in the meantime.
    func call<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        callbacks.enter()
        defer { callbacks.leave() }
        return try body()
    }

    typealias Handler =
        @convention(c) (
            UnsafeMutablePointer<ffi_cif>?, UnsafeMutableRawPointer?,
            UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutableRawPointer?
        ) -> Void

    /// Allocates a closure for `signature` that calls `handler` with `me` and
    /// returns its executable address. The closure is never freed.
    private static func bind(
        _ signature: Signature, _ me: UnsafeMutableRawPointer, _ handler: Handler, _ instance: String
    ) throws(PluginError) -> UnsafeMutableRawPointer {
        var code: UnsafeMutableRawPointer?
        guard let closure = ffi_closure_alloc(MemoryLayout<ffi_closure>.size, &code), let code else {
            throw .callFailed(name: instance, function: "ffi_closure_alloc", status: -1, message: "out of memory")
        }
        let status = ffi_prep_closure_loc(
            closure.assumingMemoryBound(to: ffi_closure.self), signature.cif, handler, me, code)
        guard status == FFI_OK else {
            ffi_closure_free(closure)
            throw .callFailed(
                name: instance, function: "ffi_prep_closure_loc", status: Int32(status.rawValue),
                message: "libffi refused the closure")
        }
        return code
    }
}

/// What one instance's host functions do, and the thread rule they enforce.
///
/// `log` and `metric` reach the sink only on the thread that is inside a
/// call into the instance, while that call runs — so the sink is never run
/// concurrently with the instance's other calls. From any other thread (one
/// the plugin started), or outside a call, they are refused: counted, and
/// reported through the sink as one error line at the end of the next call.
/// `clock_ns` and `config` read nothing mutable and work from any thread.
/// After `retire()` every function does nothing (`config` returns NULL).
///
/// Threading: `enter`, `leave` and the sink run on the calling thread; the
/// closures on any thread.
final class HostCallbacks: @unchecked Sendable {
    let instance: String
    private let sink: PluginEventSink
    /// Immutable after init and never freed, so a string handed out stays valid.
    private let config: [String: UnsafeMutablePointer<CChar>]
    /// pthread_self() of the thread inside a call into the instance, or 0.
    private let caller = Atomic<UInt>(0)
    private let retired = Atomic<Bool>(false)
    private let refusedSinceReport = Atomic<Int>(0)
    private let refusedTotal = Atomic<Int>(0)

    init(instance: String, config: [String: String], sink: @escaping PluginEventSink) {
        self.instance = instance
        self.sink = sink
        self.config = config.compactMapValues { strdup($0) }
    }

    /// `log` and `metric` calls refused so far (foreign thread, outside a call, after destroy).
    var refused: Int { refusedTotal.load(ordering: .relaxed) }

    func enter() { caller.store(UInt(pthread_self()), ordering: .releasing) }

    func leave() {
        caller.store(0, ordering: .releasing)
        let refused = refusedSinceReport.exchange(0, ordering: .acquiringAndReleasing)
        if refused > 0 && !retired.load(ordering: .acquiring) {
            sink(
                instance,
                .log(
                    .error,
                    "refused \(refused) host callback(s) (log or metric) made outside a call or from a thread "
                        + "other than the one the host called the plugin on"))
        }
    }

    func retire() { retired.store(true, ordering: .releasing) }

    /// Whether a `log` or `metric` from the current thread may reach the sink;
    /// counts it as refused when not.
    private func admits() -> Bool {
        if !retired.load(ordering: .acquiring) && caller.load(ordering: .acquiring) == UInt(pthread_self()) {
            return true
        }
        refusedSinceReport.add(1, ordering: .relaxed)
        refusedTotal.add(1, ordering: .relaxed)
        return false
    }

    private static func callbacks(_ data: UnsafeMutableRawPointer?) -> HostCallbacks? {
        data.map { Unmanaged<HostCallbacks>.fromOpaque($0).takeUnretainedValue() }
    }

    private static func text(_ argument: UnsafeMutableRawPointer?) -> String? {
        guard let pointer = argument?.load(as: UnsafePointer<CChar>?.self) else { return nil }
        let length = strnlen(pointer, HostTable.maxMessageBytes)
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    static let log: HostTable.Handler = { _, _, arguments, data in
        guard let me = callbacks(data), let arguments, me.admits() else { return }
        guard let raw = arguments[0]?.load(as: Int32.self), let message = text(arguments[1]) else { return }
        me.sink(me.instance, .log(PluginLogLevel(rawValue: raw) ?? .warn, message))
    }

    static let metric: HostTable.Handler = { _, _, arguments, data in
        guard let me = callbacks(data), let arguments, me.admits() else { return }
        guard let name = text(arguments[0]), let value = arguments[1]?.load(as: Double.self) else { return }
        me.sink(me.instance, .metric(name, value))
    }

    static let clock: HostTable.Handler = { _, result, _, _ in
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        result?.storeBytes(of: UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec), as: UInt64.self)
    }

    static let lookup: HostTable.Handler = { _, result, arguments, data in
        var value: UnsafePointer<CChar>?
        if let me = callbacks(data), !me.retired.load(ordering: .acquiring), let key = text(arguments?[0]) {
            value = me.config[key].map { UnsafePointer($0) }
        }
        result?.storeBytes(of: value, as: UnsafePointer<CChar>?.self)
    }
}

/// The call interfaces of the host functions, prepared once and shared by
/// every closure (a cif is read-only after `ffi_prep_cif`).
private final class Signature: @unchecked Sendable {
    let cif = UnsafeMutablePointer<ffi_cif>.allocate(capacity: 1)
    private let arguments: UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>

    private init(returns: UnsafeMutablePointer<ffi_type>, _ argumentTypes: [UnsafeMutablePointer<ffi_type>]) {
        arguments = .allocate(capacity: max(argumentTypes.count, 1))
        for (index, type) in argumentTypes.enumerated() { arguments[index] = type }
        let status = ffi_prep_cif(cif, orchion_ffi_default_abi(), UInt32(argumentTypes.count), returns, arguments)
        precondition(status == FFI_OK, "ffi_prep_cif failed for a fixed host signature")
    }

    /// void log(int32_t level, const char *message)
    static let log = Signature(
        returns: orchion_ffi_type_void(), [orchion_ffi_type_sint32(), orchion_ffi_type_pointer()])
    /// void metric(const char *name, double value)
    static let metric = Signature(
        returns: orchion_ffi_type_void(), [orchion_ffi_type_pointer(), orchion_ffi_type_double()])
    /// uint64_t clock_ns(void)
    static let clock = Signature(returns: orchion_ffi_type_uint64(), [])
    /// const char *config(const char *key)
    static let config = Signature(returns: orchion_ffi_type_pointer(), [orchion_ffi_type_pointer()])
}
