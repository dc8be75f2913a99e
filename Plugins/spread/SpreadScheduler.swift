import COrchionPlugin
import OrchionStrategies

/// The built-in spread scheduler plugin: Least loaded: puts each job where the most room is left.
private let descriptor = SchedulerPluginGlue.makeDescriptor(
    strategy: .spread, version: "1.0.0",
    description: "Least loaded: puts each job where the most room is left",
    initialize: { host, state, error, errorSize in
        SchedulerPluginGlue.create(.spread, host: host, state: state, error: error, errorSize: errorSize)
    })

/// The plugin's entry point (see orchion/plugin.h).
@_cdecl("orchion_plugin_entry")
public func orchionPluginEntry() -> UnsafePointer<orchion_plugin_descriptor> { descriptor.pointer }
