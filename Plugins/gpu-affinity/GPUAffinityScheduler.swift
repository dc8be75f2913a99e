import COrchionPlugin
import OrchionStrategies

/// The built-in gpu-affinity scheduler plugin: Packs GPU jobs onto matching GPU nodes and keeps CPU-only jobs off them.
private let descriptor = SchedulerPluginGlue.makeDescriptor(
    strategy: .gpuAffinity, version: "1.0.0",
    description: "Packs GPU jobs onto matching GPU nodes and keeps CPU-only jobs off them",
    initialize: { host, state, error, errorSize in
        SchedulerPluginGlue.create(.gpuAffinity, host: host, state: state, error: error, errorSize: errorSize)
    })

/// The plugin's entry point (see orchion/plugin.h).
@_cdecl("orchion_plugin_entry")
public func orchionPluginEntry() -> UnsafePointer<orchion_plugin_descriptor> { descriptor.pointer }
