import Glibc

/// Starts a joinable thread running `body`: the store's writer and its
/// checkpointer. Returns 0 with `thread` set, or `pthread_create`'s error number.
///
/// Threading: any thread.
func startStoreThread(_ thread: inout pthread_t, _ body: @escaping () -> Void) -> Int32 {
    final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    let status = pthread_create(
        &thread, nil,
        { arg in
            guard let arg else { return nil }
            Unmanaged<Body>.fromOpaque(arg).takeRetainedValue().run()
            return nil
        }, context)
    if status != 0 { Unmanaged<Body>.fromOpaque(context).release() }
    return status
}
