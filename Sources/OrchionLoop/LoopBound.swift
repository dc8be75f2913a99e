/// Carries a loop-thread-only value through `Sendable` code (a task that runs
/// on the loop with `Task(executorPreference: loop)`), checking on every
/// access that it is used on the loop thread.
///
/// `@unchecked Sendable` is backed by that check: the value itself is only
/// ever touched on the loop thread (before the loop runs, by the one thread
/// setting it up; see `EventLoop`). Off the loop thread it traps with a
/// message naming the value's type and both threads.
public struct LoopBound<Value>: @unchecked Sendable {
    private let value: Value
    /// The loop the value belongs to.
    public let loop: EventLoop

    /// Wraps `value`, which belongs to `loop`. Call on the loop thread.
    public init(_ value: Value, loop: EventLoop) {
        loop.preconditionInLoopThread("LoopBound<\(Value.self)>.init")
        self.value = value
        self.loop = loop
    }

    /// The value; traps off the loop thread.
    public var wrapped: Value {
        loop.preconditionInLoopThread("LoopBound<\(Value.self)>.wrapped")
        return value
    }
}
