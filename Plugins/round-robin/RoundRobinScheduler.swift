import COrchionPlugin
import OrchionStrategies

/// The built-in round-robin scheduler plugin: Places each job on the next node that fits, in turn.
private let descriptor = SchedulerPluginGlue.makeDescriptor(
    strategy: .roundRobin, version: "1.0.0",
    description: "Places each job on the next node that fits, in turn",
    initialize: { host, state, error, errorSize in
        SchedulerPluginGlue.create(.roundRobin, host: host, state: state, error: error, errorSize: errorSize)
    })

/// The plugin's entry point (see orchion/plugin.h).
@_cdecl("orchion_plugin_entry")
public func orchionPluginEntry() -> UnsafePointer<orchion_plugin_descriptor> { descriptor.pointer }
