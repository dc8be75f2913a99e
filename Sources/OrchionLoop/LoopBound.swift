/// Carries a loop-thread-only value through `Sendable` code (a task that runs
/// on the loop with `Task(executorPreference: loop)`), checking on every
/// access that it is used on the loop thread.
public struct LoopBound<Value>: @unchecked Sendable {
    private let value: Value
    /// The loop the value belongs to.
    public let loop: EventLoop

    /// Wraps `value`, which belongs to `loop`. Call on the loop thread.
    public init(_ value: Value, loop: EventLoop) {
        precondition(loop.inLoopThread, "LoopBound created off its loop thread")
        self.value = value
        self.loop = loop
    }

    /// The value; traps off the loop thread.
    public var wrapped: Value {
        precondition(loop.inLoopThread, "loop-bound value used off its loop thread")
        return value
    }
}
