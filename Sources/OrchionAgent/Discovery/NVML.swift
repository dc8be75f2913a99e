import Glibc

/// The NVIDIA management library, opened with `dlopen` at run time: the
/// agent has no link-time dependency on it and runs the same where there is
/// no NVIDIA driver.
///
/// `load` opens the library and calls `nvmlInit_v2`; the instance calls
/// `nvmlShutdown` when released (NVML counts its initialisations). The
/// library is never `dlclose`d.
///
/// Threading: NVML is thread-safe and the instance holds only function
/// pointers, so it may be shared; each call blocks on the driver (a few
/// milliseconds), so call it off the loop thread.
public final class NVML: @unchecked Sendable {
    /// The library's usual name, found by the dynamic linker.
    public static let defaultLibrary = "libnvidia-ml.so.1"

    /// The path or name it was opened by.
    public let library: String

    private typealias InitFunction = @convention(c) () -> Int32
    private typealias CountFunction = @convention(c) (UnsafeMutablePointer<UInt32>?) -> Int32
    private typealias HandleFunction = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>?) -> Int32
    private typealias NameFunction = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, UInt32) -> Int32
    private typealias StructFunction = @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32
    private typealias VersionFunction = @convention(c) (UnsafeMutablePointer<CChar>?, UInt32) -> Int32
    private typealias TemperatureFunction =
        @convention(c) (OpaquePointer?, UInt32, UnsafeMutablePointer<UInt32>?) -> Int32
    private typealias PowerFunction = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt32>?) -> Int32
    private typealias ErrorStringFunction = @convention(c) (Int32) -> UnsafePointer<CChar>?

    private let shutdown: InitFunction
    private let count: CountFunction
    private let handle: HandleFunction
    private let name: NameFunction
    private let memoryInfo: StructFunction
    private let driverVersion: VersionFunction
    private let utilizationRates: StructFunction?
    private let temperature: TemperatureFunction?
    private let powerUsage: PowerFunction?
    private let errorString: ErrorStringFunction?

    /// Opens `library` (a path, or a name the dynamic linker searches for)
    /// and initialises NVML. Blocking.
    public static func load(_ library: String = NVML.defaultLibrary) throws(NVMLError) -> NVML {
        _ = dlerror()
        guard let image = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw .notLoadable(library: library, reason: reason)
        }
        func symbol<T>(_ name: String, as type: T.Type) throws(NVMLError) -> T {
            guard let address = dlsym(image, name) else { throw .missingSymbol(library: library, symbol: name) }
            return unsafeBitCast(address, to: type)
        }
        func optional<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(image, name).map { unsafeBitCast($0, to: type) }
        }
        let initialize = try symbol("nvmlInit_v2", as: InitFunction.self)
        let nvml = NVML(
            library: library,
            shutdown: try symbol("nvmlShutdown", as: InitFunction.self),
            count: try symbol("nvmlDeviceGetCount_v2", as: CountFunction.self),
            handle: try symbol("nvmlDeviceGetHandleByIndex_v2", as: HandleFunction.self),
            name: try symbol("nvmlDeviceGetName", as: NameFunction.self),
            memoryInfo: try symbol("nvmlDeviceGetMemoryInfo", as: StructFunction.self),
            driverVersion: try symbol("nvmlSystemGetDriverVersion", as: VersionFunction.self),
            utilizationRates: optional("nvmlDeviceGetUtilizationRates", as: StructFunction.self),
            temperature: optional("nvmlDeviceGetTemperature", as: TemperatureFunction.self),
            powerUsage: optional("nvmlDeviceGetPowerUsage", as: PowerFunction.self),
            errorString: optional("nvmlErrorString", as: ErrorStringFunction.self))
        let code = initialize()
        guard code == 0 else { throw .failed(function: "nvmlInit_v2", code: code, reason: nvml.describe(code)) }
        nvml.initialized = true
        return nvml
    }

    private var initialized = false

    private init(
        library: String, shutdown: @escaping InitFunction, count: @escaping CountFunction,
        handle: @escaping HandleFunction, name: @escaping NameFunction, memoryInfo: @escaping StructFunction,
        driverVersion: @escaping VersionFunction, utilizationRates: StructFunction?,
        temperature: TemperatureFunction?, powerUsage: PowerFunction?, errorString: ErrorStringFunction?
    ) {
        self.library = library
        self.shutdown = shutdown
        self.count = count
        self.handle = handle
        self.name = name
        self.memoryInfo = memoryInfo
        self.driverVersion = driverVersion
        self.utilizationRates = utilizationRates
        self.temperature = temperature
        self.powerUsage = powerUsage
        self.errorString = errorString
    }

    deinit { if initialized { _ = shutdown() } }

    /// One GPU as NVML describes it.
    public struct Device: Sendable, Hashable {
        /// NVML's index, the one `CUDA_VISIBLE_DEVICES` takes.
        public var index: UInt32
        public var name: String
        public var memoryBytes: UInt64
    }

    /// The installed driver's version ("550.54.14").
    public func driver() throws(NVMLError) -> String {
        var buffer = [CChar](repeating: 0, count: 96)
        let code = buffer.withUnsafeMutableBufferPointer { driverVersion($0.baseAddress, UInt32($0.count - 1)) }
        try check(code, "nvmlSystemGetDriverVersion")
        return Self.string(buffer)
    }

    /// Every GPU NVML sees, in its order.
    public func devices() throws(NVMLError) -> [Device] {
        var total: UInt32 = 0
        try check(count(&total), "nvmlDeviceGetCount_v2")
        guard total <= 1024 else {
            throw .failed(function: "nvmlDeviceGetCount_v2", code: -1, reason: "implausible count \(total)")
        }
        var result: [Device] = []
        for index in 0..<total {
            let device = try deviceHandle(index)
            var buffer = [CChar](repeating: 0, count: 96)
            let code = buffer.withUnsafeMutableBufferPointer { name(device, $0.baseAddress, UInt32($0.count - 1)) }
            try check(code, "nvmlDeviceGetName")
            var memory: (UInt64, UInt64, UInt64) = (0, 0, 0)  // nvmlMemory_t: total, free, used
            try check(
                withUnsafeMutableBytes(of: &memory) { memoryInfo(device, $0.baseAddress) }, "nvmlDeviceGetMemoryInfo")
            result.append(Device(index: index, name: Self.string(buffer), memoryBytes: memory.0))
        }
        return result
    }

    /// One GPU's live usage; a reading the device does not support is nil.
    /// Throws only when the device itself cannot be reached.
    public func usage(index: UInt32) throws(NVMLError) -> GPUSample {
        let device = try deviceHandle(index)
        var sample = GPUSample(index: index)
        var memory: (UInt64, UInt64, UInt64) = (0, 0, 0)
        if withUnsafeMutableBytes(of: &memory, { memoryInfo(device, $0.baseAddress) }) == 0 {
            sample.memoryUsedBytes = memory.2
        }
        var rates: (UInt32, UInt32) = (0, 0)  // nvmlUtilization_t: gpu, memory (percent)
        if let utilizationRates, withUnsafeMutableBytes(of: &rates, { utilizationRates(device, $0.baseAddress) }) == 0 {
            sample.utilization = Double(min(rates.0, 100)) / 100
        }
        var celsius: UInt32 = 0
        if let temperature, temperature(device, 0, &celsius) == 0 {  // NVML_TEMPERATURE_GPU
            sample.temperatureCelsius = Double(celsius)
        }
        var milliwatts: UInt32 = 0
        if let powerUsage, powerUsage(device, &milliwatts) == 0 { sample.powerWatts = Double(milliwatts) / 1000 }
        return sample
    }

    private func deviceHandle(_ index: UInt32) throws(NVMLError) -> OpaquePointer? {
        var device: OpaquePointer?
        try check(handle(index, &device), "nvmlDeviceGetHandleByIndex_v2")
        return device
    }

    private func check(_ code: Int32, _ function: String) throws(NVMLError) {
        guard code == 0 else { throw .failed(function: function, code: code, reason: describe(code)) }
    }

    private func describe(_ code: Int32) -> String {
        errorString?(code).map { String(cString: $0) } ?? "NVML error \(code)"
    }

    private static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Why NVML could not answer.
public enum NVMLError: Error, Hashable, CustomStringConvertible {
    /// `dlopen` refused the library (no NVIDIA driver installed, most often).
    case notLoadable(library: String, reason: String)
    /// The library lacks a function discovery needs.
    case missingSymbol(library: String, symbol: String)
    /// An NVML call returned an error.
    case failed(function: String, code: Int32, reason: String)

    public var description: String {
        switch self {
        case let .notLoadable(library, reason): "NVML not loadable from \(library): \(reason)"
        case let .missingSymbol(library, symbol): "NVML library \(library) has no \(symbol)"
        case let .failed(function, code, reason): "\(function) failed with \(code): \(reason)"
        }
    }
}
