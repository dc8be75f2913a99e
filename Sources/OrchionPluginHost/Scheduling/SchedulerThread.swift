import Glibc
import Synchronization

/// A dedicated OS thread that runs submitted work one item at a time, in
/// submission order: the thread scheduler plugins run on, so a slow plugin
/// delays only scheduling and never the I/O loop.
///
/// Threading: `submit`, `isCurrent` and `shutdown` may be called from any
/// thread (`shutdown` from any but this one); the work runs on this thread.
public final class SchedulerThread: Sendable {
    private let queue: WorkQueue
    private let thread: Mutex<pthread_t?>
    private let id = Atomic<UInt>(0)

    /// Starts the thread.
    public init() throws(SchedulerThreadError) {
        let queue = WorkQueue()
        self.queue = queue
        var thread = pthread_t()
        let context = Unmanaged.passRetained(queue).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                Unmanaged<WorkQueue>.fromOpaque(argument).takeRetainedValue().run()
                return nil
            }, context)
        guard status == 0 else {
            Unmanaged<WorkQueue>.fromOpaque(context).release()
            throw SchedulerThreadError(status: status)
        }
        self.thread = Mutex(thread)
        id.store(UInt(thread), ordering: .releasing)
    }

    /// Whether the caller runs on this thread.
    public var isCurrent: Bool { id.load(ordering: .acquiring) == UInt(pthread_self()) }

    /// Queues `work`. Returns false, and drops it, after `shutdown`.
    @discardableResult
    public func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        queue.push(work)
    }

    /// Runs the work already queued, then stops the thread and waits for it.
    /// Refuses new work from the moment it is called. Idempotent.
    public func shutdown() {
        queue.close()
        guard
            let thread = self.thread.withLock({ value -> pthread_t? in
                defer { value = nil }
                return value
            })
        else { return }
        pthread_join(thread, nil)
    }

    /// Stops taking work, hands back the work not yet started, and lets the
    /// thread go without waiting for it: the item it runs may never return.
    /// The thread ends by itself if it ever does.
    public func abandon() -> [@Sendable () -> Void] {
        let unrun = queue.abandon()
        if let thread = self.thread.withLock({ value -> pthread_t? in
            defer { value = nil }
            return value
        }) {
            pthread_detach(thread)
        }
        return unrun
    }

    deinit { shutdown() }
}

/// Why the scheduler thread could not start.
public struct SchedulerThreadError: Error, Hashable, CustomStringConvertible {
    /// pthread_create's error number.
    public let status: Int32

    public var description: String {
        "cannot start the scheduler thread: pthread_create failed: \(String(cString: strerror(status)))"
    }
}

/// A FIFO of work and a semaphore counting it (one post per item, one more
/// for closing).
private final class WorkQueue: @unchecked Sendable {
    private struct Items {
        var work: [@Sendable () -> Void] = []
        var head = 0
        var closed = false
    }

    private let items = Mutex(Items())
    private let signal: UnsafeMutablePointer<sem_t>

    init() {
        signal = .allocate(capacity: 1)
        sem_init(signal, 0, 0)
    }

    deinit {
        sem_destroy(signal)
        signal.deallocate()
    }

    func push(_ work: @escaping @Sendable () -> Void) -> Bool {
        let accepted = items.withLock { items -> Bool in
            guard !items.closed else { return false }
            items.work.append(work)
            return true
        }
        if accepted { sem_post(signal) }
        return accepted
    }

    func close() {
        let first = items.withLock { items -> Bool in
            defer { items.closed = true }
            return !items.closed
        }
        if first { sem_post(signal) }
    }

    /// Closes the queue and takes the work not yet started.
    func abandon() -> [@Sendable () -> Void] {
        let unrun = items.withLock { items -> [@Sendable () -> Void] in
            defer {
                items.work.removeAll()
                items.head = 0
                items.closed = true
            }
            return Array(items.work[items.head...])
        }
        sem_post(signal)
        return unrun
    }

    /// Runs work until the queue is closed and empty.
    func run() {
        while true {
            while sem_wait(signal) != 0 && errno == EINTR {}
            let next = items.withLock { items -> (@Sendable () -> Void)? in
                guard items.head < items.work.count else { return nil }
                defer {
                    items.head += 1
                    if items.head == items.work.count {
                        items.work.removeAll(keepingCapacity: true)
                        items.head = 0
                    }
                }
                return items.work[items.head]
            }
            if let next {
                next()
            } else if items.withLock({ $0.closed }) {
                return
            }
        }
    }
}
