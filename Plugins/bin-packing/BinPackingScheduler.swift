import COrchionPlugin
import OrchionStrategies

/// The built-in bin-packing scheduler plugin: Best fit over CPU, memory and GPUs: fills nodes before using new ones.
private let descriptor = SchedulerPluginGlue.makeDescriptor(
    strategy: .binPacking, version: "1.0.0",
    description: "Best fit over CPU, memory and GPUs: fills nodes before using new ones",
    initialize: { host, state, error, errorSize in
        SchedulerPluginGlue.create(.binPacking, host: host, state: state, error: error, errorSize: errorSize)
    })

/// The plugin's entry point (see orchion/plugin.h).
@_cdecl("orchion_plugin_entry")
public func orchionPluginEntry() -> UnsafePointer<orchion_plugin_descriptor> { descriptor.pointer }
