// The durable store's benchmark (`orchion-bench store`) and the child
// processes the store's tests run (`orchion-bench store-child ...`).
import Glibc
import OrchionLoop
import OrchionServer
import Synchronization

/// A counting semaphore shared between threads. `@unchecked Sendable`: a
/// semaphore is made for that.
final class CountingSemaphore: @unchecked Sendable {
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init(_ value: UInt32) { sem_init(semaphore, 0, value) }

    func post() { sem_post(semaphore) }

    func wait() {
        while sem_wait(semaphore) != 0 && errno == EINTR {}
    }
}

/// Writes `text` to descriptor `descriptor` (stdout's `FILE` is not for
/// Swift 6's concurrency checking).
func writeLine(_ descriptor: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}

/// A job of about `size` bytes, as a submit would store it.
func benchJob(_ index: Int, size: Int) -> StoredJob {
    var record = [UInt8](repeating: 0, count: size)
    var seed = UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15 | 1
    for offset in record.indices {
        seed ^= seed << 13
        seed ^= seed >> 7
        seed ^= seed << 17
        record[offset] = UInt8(truncatingIfNeeded: seed)
    }
    return StoredJob(
        id: "job-\(index)", requestID: "req-\(index)", state: "pending", order: UInt64(index), record: record)
}

/// A fresh directory under `$TMPDIR` (or the system default, P_tmpdir).
func makeScratchDirectory(_ label: String) -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) } ?? P_tmpdir
    var template = Array("\(base)/\(label)-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
        writeLine(2, "orchion-bench: cannot create a directory under \(base)\n")
        exit(1)
    }
    return String(cString: made)
}

func removeStoreFiles(_ directory: String, fileName: String = StoreOptions().fileName) {
    for suffix in ["", "-wal", "-shm"] { unlink("\(directory)/\(fileName)\(suffix)") }
    rmdir(directory)
}

/// One measured run: `count` submits issued from one event loop, each a
/// commit of its own (a ~1 KiB job and its "submitted" event), counted
/// on the loop when its completion arrives there.
struct DurableRun {
    var submissions = 0
    var failures = 0
    var seconds = 0.0
    var transactions = 0
    var waits: [Double] = []

    var rate: Double { Double(submissions) / seconds }

    func percentile(_ fraction: Double) -> Double {
        guard !waits.isEmpty else { return 0 }
        let sorted = waits.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }
}

/// What the loop counts. Touched only on the loop thread.
private final class SubmitTracker: @unchecked Sendable {
    var run = DurableRun()
    let store: StateStore
    let loop: EventLoop
    let count: Int
    let done: CountingSemaphore

    init(store: StateStore, loop: EventLoop, count: Int, done: CountingSemaphore) {
        self.store = store
        self.loop = loop
        self.count = count
        self.done = done
    }

    /// Issues submits `from..<from+256`, then yields the loop turn.
    func issue(from start: Int) {
        let end = min(count, start + 256)
        for index in start..<end {
            let event = StoredEvent(sequence: UInt64(index + 1), jobID: "job-\(index)", record: Array("submitted".utf8))
            store.commit([.putJob(benchJob(index, size: 1024)), .putEvent(event)]) { result in
                self.loop.execute { self.acknowledge(result) }
            }
        }
        if end < count { loop.execute { self.issue(from: end) } }
    }

    func acknowledge(_ result: Result<CommitReport, StoreError>) {
        switch result {
        case .success(let report): run.waits.append(report.waitSeconds)
        case .failure: run.failures += 1
        }
        run.submissions += 1
        if run.submissions == count { done.post() }
    }
}

func measureDurableSubmits(directory: String, count: Int, grouped: Bool) throws -> DurableRun {
    var options = StoreOptions()
    options.maxBatchesPerTransaction = grouped ? .max : 1
    let (store, _) = try StateStore.open(directory: directory, options: options)
    let thread = try LoopThread()
    let done = CountingSemaphore(0)
    let tracker = SubmitTracker(store: store, loop: thread.loop, count: count, done: done)
    let start = now()
    thread.loop.execute { tracker.issue(from: 0) }
    done.wait()
    let seconds = now() - start
    store.close()
    try thread.shutdown()
    var run = tracker.run
    run.seconds = seconds
    run.transactions = store.transactionCount
    removeStoreFiles(directory)
    return run
}

/// `orchion-bench store [--quick]`: durable submissions/s with group commit
/// and with one commit per submit, interleaved in the same run.
func storeBenchmark(quick: Bool) throws {
    let scratch = makeScratchDirectory("orchion-store-bench")
    defer { rmdir(scratch) }
    let groupedCount = quick ? 2_000 : 20_000
    let singleCount = quick ? 200 : 1_000
    var grouped = DurableRun()
    var single = DurableRun()
    for trial in 0..<(quick ? 1 : 3) {
        let g = try measureDurableSubmits(directory: "\(scratch)/g\(trial)", count: groupedCount, grouped: true)
        if g.rate > grouped.rate || trial == 0 { grouped = g }
        let s = try measureDurableSubmits(directory: "\(scratch)/s\(trial)", count: singleCount, grouped: false)
        if s.rate > single.rate || trial == 0 { single = s }
    }
    print(
        "| mode | submits | durable submissions/s | transactions | batches/transaction | ack latency p50 ms | ack latency p99 ms | failed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (label, run) in [("group commit", grouped), ("one commit per submit", single)] {
        let perTransaction = Double(run.submissions) / Double(max(1, run.transactions))
        print(
            "| \(label) | \(run.submissions) | \(Int(run.rate)) | \(run.transactions) | \(String(format1: perTransaction)) | \(String(format3: run.percentile(0.5) * 1000)) | \(String(format3: run.percentile(0.99) * 1000)) | \(run.failures) |"
        )
    }
    print("")
    print("group commit / one commit per submit: \(String(format1: grouped.rate / single.rate))×")
}

extension String {
    init(format3 value: Double) {
        let scaled = (value * 1000).rounded() / 1000
        self = "\(scaled)"
    }
}

/// `orchion-bench store-child MODE DIR`: a process the store's tests start.
/// - `writer`: commits jobs without end (32 in flight) and prints
///   `ack <id>` for each once its commit is durable; the test kills it.
/// - `fault`: makes a commit fail for real (a file-size limit, so the
///   WAL write fails with EFBIG), then lifts the limit and commits again;
///   prints what happened and what a reopen finds.
/// - `open`: opens the store, as user nobody when run as root, and prints
///   `opened` or `refused <error>`.
func storeChild(_ arguments: [String]) -> Never {
    guard arguments.count == 2 else {
        writeLine(2, "usage: orchion-bench store-child writer|fault|open DIR\n")
        exit(2)
    }
    let directory = arguments[1]
    do {
        switch arguments[0] {
        case "writer": try storeChildWriter(directory)
        case "fault": try storeChildFault(directory)
        case "open":
            if geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0) {
                print("cannot become nobody")
                exit(1)
            }
            do {
                let (store, _) = try StateStore.open(directory: directory)
                store.close()
                print("opened")
            } catch {
                print("refused \(error)")
            }
        default:
            writeLine(2, "unknown store-child mode \(arguments[0])\n")
            exit(2)
        }
    } catch {
        print("error \(error)")
        exit(1)
    }
    exit(0)
}

private func storeChildWriter(_ directory: String) throws {
    let (store, _) = try StateStore.open(directory: directory)
    let slots = CountingSemaphore(32)
    for index in 0..<1_000_000 {
        slots.wait()
        let job = benchJob(index, size: 512)
        store.commit([.putJob(job)]) { result in
            switch result {
            // One write per line, straight to the descriptor: a line is out
            // before the next commit can be acknowledged.
            case .success: writeLine(1, "ack \(job.id)\n")
            case .failure(let error): writeLine(1, "fail \(job.id) \(error)\n")
            }
            slots.post()
        }
    }
    store.close()
}

/// Commits and waits.
private func commitAndWait(_ store: StateStore, _ changes: [StoreChange]) -> Result<CommitReport, StoreError> {
    let done = CountingSemaphore(0)
    let outcome = Mutex<Result<CommitReport, StoreError>>(.failure(.closed))
    store.commit(changes) { result in
        outcome.withLock { $0 = result }
        done.post()
    }
    done.wait()
    return outcome.withLock { $0 }
}

private func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}

private func storeChildFault(_ directory: String) throws {
    let (store, _) = try StateStore.open(directory: directory)
    print("before \(commitAndWait(store, [.putJob(benchJob(1, size: 512))]))")
    signal(SIGXFSZ, SIG_IGN)
    var limit = rlimit()
    getrlimit(fileSizeLimit, &limit)
    let saved = limit
    let largest = max(fileSize(store.path), fileSize(store.path + "-wal"))
    limit.rlim_cur = rlim_t(largest + (16 << 20))
    setrlimit(fileSizeLimit, &limit)
    // 100 small batches, one that cannot fit under the limit, 100 more, queued
    // at once: those that share the big one's transaction fail with it.
    let done = CountingSemaphore(0)
    let outcomes = Mutex<[String: String]>([:])
    let jobs =
        (100..<200).map { benchJob($0, size: 512) } + [benchJob(2, size: 32 << 20)]
        + (200..<300).map { benchJob($0, size: 512) }
    for job in jobs {
        store.commit([.putJob(job)]) { result in
            switch result {
            case .success: outcomes.withLock { $0[job.id] = "ok" }
            case .failure(let error): outcomes.withLock { $0[job.id] = "\(error)" }
            }
            done.post()
        }
    }
    for _ in jobs { done.wait() }
    let results = outcomes.withLock { $0 }
    let failed = results.filter { $0.value != "ok" }
    print("failed \(failed.count) \(Set(failed.values).sorted().joined(separator: " | "))")
    print("big \(results["job-2"] ?? "missing")")
    var restored = saved
    setrlimit(fileSizeLimit, &restored)
    print("after \(commitAndWait(store, [.putJob(benchJob(3, size: 512))]))")
    store.close()
    let (reopened, state) = try StateStore.open(directory: directory)
    reopened.close()
    let stored = Set(state.jobs.map(\.id))
    let acknowledged = Set(results.filter { $0.value == "ok" }.keys).union(["job-1", "job-3"])
    print("stored equals acknowledged: \(stored == acknowledged)")
}

/// RLIMIT_FSIZE as `setrlimit` takes it on glibc.
private let fileSizeLimit = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
