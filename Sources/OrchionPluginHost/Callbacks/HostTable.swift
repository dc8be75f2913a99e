import CFFI
import COrchionPlugin
import Glibc

/// One plugin instance's `orchion_host_api`.
///
/// Each function pointer in the table is a libffi closure whose user data is
/// this object, so a plugin calls plain C functions with no context argument
/// and the host still knows which instance spoke. The table and its closures
/// live exactly as long as this object; the plugin must not use them after
/// `destroy`.
///
/// Threading: loop thread only (the plugin calls back on the thread that called it).
final class HostTable {
    /// The instance name events are attributed to.
    let instance: String
    /// The C table handed to the plugin.
    let api: UnsafeMutablePointer<orchion_host_api>
    private let sink: PluginEventSink
    private let config: [String: UnsafeMutablePointer<CChar>]
    private var closures: [UnsafeMutableRawPointer] = []

    /// Longest log line or metric name accepted; longer ones are truncated.
    static let maxMessageBytes = 4096

    init(instance: String, config: [String: String], sink: @escaping PluginEventSink) throws(PluginError) {
        self.instance = instance
        self.sink = sink
        self.config = config.mapValues { strdup($0)! }
        api = .allocate(capacity: 1)
        api.initialize(to: orchion_host_api())
        api.pointee.struct_size = UInt32(MemoryLayout<orchion_host_api>.size)
        api.pointee.abi_minor = UInt32(HostABI.minor)
        let me = Unmanaged.passUnretained(self).toOpaque()
        api.pointee.log = unsafeBitCast(
            try bind(Signature.log, me, Self.log), to: (@convention(c) (Int32, UnsafePointer<CChar>?) -> Void).self)
        api.pointee.metric = unsafeBitCast(
            try bind(Signature.metric, me, Self.metric),
            to: (@convention(c) (UnsafePointer<CChar>?, Double) -> Void).self)
        api.pointee.clock_ns = unsafeBitCast(
            try bind(Signature.clock, me, Self.clock), to: (@convention(c) () -> UInt64).self)
        api.pointee.config = unsafeBitCast(
            try bind(Signature.config, me, Self.lookup),
            to: (@convention(c) (UnsafePointer<CChar>?) -> UnsafePointer<CChar>?).self)
    }

    deinit {
        for closure in closures { ffi_closure_free(closure) }
        for value in config.values { free(value) }
        api.deallocate()
    }

    private typealias Handler =
        @convention(c) (
            UnsafeMutablePointer<ffi_cif>?, UnsafeMutableRawPointer?,
            UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutableRawPointer?
        ) -> Void

    /// Allocates a closure for `signature` that calls `handler` with `me` and
    /// returns its executable address.
    private func bind(_ signature: Signature, _ me: UnsafeMutableRawPointer, _ handler: Handler) throws(PluginError)
        -> UnsafeMutableRawPointer
    {
        var code: UnsafeMutableRawPointer?
        guard let closure = ffi_closure_alloc(MemoryLayout<ffi_closure>.size, &code), let code else {
            throw .callFailed(name: instance, function: "ffi_closure_alloc", status: -1, message: "out of memory")
        }
        closures.append(closure)
        let status = ffi_prep_closure_loc(
            closure.assumingMemoryBound(to: ffi_closure.self), signature.cif, handler, me, code)
        guard status == FFI_OK else {
            throw .callFailed(
                name: instance, function: "ffi_prep_closure_loc", status: Int32(status.rawValue),
                message: "libffi refused the closure")
        }
        return code
    }

    private static func table(_ data: UnsafeMutableRawPointer?) -> HostTable {
        Unmanaged<HostTable>.fromOpaque(data!).takeUnretainedValue()
    }

    private static func text(_ argument: UnsafeMutableRawPointer?) -> String? {
        guard let pointer = argument?.load(as: UnsafePointer<CChar>?.self) else { return nil }
        let length = strnlen(pointer, maxMessageBytes)
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    private static let log: Handler = { _, _, arguments, data in
        let raw = arguments![0]!.load(as: Int32.self)
        guard let message = text(arguments![1]) else { return }
        let level = PluginLogLevel(rawValue: raw) ?? .warn
        let me = table(data)
        me.sink(me.instance, .log(level, message))
    }

    private static let metric: Handler = { _, _, arguments, data in
        guard let name = text(arguments![0]) else { return }
        let value = arguments![1]!.load(as: Double.self)
        let me = table(data)
        me.sink(me.instance, .metric(name, value))
    }

    private static let clock: Handler = { _, result, _, _ in
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        result!.storeBytes(of: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec), as: UInt64.self)
    }

    private static let lookup: Handler = { _, result, arguments, data in
        let value = text(arguments![0]).flatMap { table(data).config[$0] }
        result!.storeBytes(of: value.map { UnsafePointer($0) }, as: UnsafePointer<CChar>?.self)
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
