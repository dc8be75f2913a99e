import Glibc
import OrchionLoop

/// Retention: the sweep that removes finished jobs' logs by age and size.
/// Threading: loop thread only, as the rest of `LogStore`.
extension LogStore {
    // MARK: Retention

    /// Runs a retention sweep now (the timer runs one every
    /// `sweepInterval`): closes files idle for `idleClose`, then removes the
    /// logs of finished jobs not written for `retentionAge`, then, while all
    /// logs together exceed `retentionBytes`, those of the finished jobs
    /// written least recently. Jobs with an attempt in memory (being
    /// written or read) are kept. At most one sweep runs at a time; a call
    /// during one completes with an empty result.
    public func sweep(_ completion: ((Result<LogSweepResult, LogError>) -> Void)? = nil) {
        loop.preconditionInLoopThread("LogStore.sweep")
        guard !sweeping, !closed else {
            if let completion {
                let bound = LoopBound(completion, loop: loop)
                loop.execute { bound.wrapped(.success(LogSweepResult())) }
            }
            return
        }
        sweeping = true
        let idleSince = ContinuousClock.now - limits.idleClose
        for entry in attempts.values where entry.files != nil && !entry.writing && entry.pending.isEmpty {
            if entry.lastWrite < idleSince { closeFiles(entry) }
        }
        let scan: @Sendable () -> Result<[JobLogUsage], LogError> = { [directory] in
            LogDisk.usage(directory: directory)
        }
        onDisk(scan) { [self] result in
            switch result {
            case .failure(let error):
                sweeping = false
                completion?(.failure(error))
            case .success(let usages):
                removeExpired(usages, completion)
            }
        }
    }

    private func removeExpired(_ usages: [JobLogUsage], _ completion: ((Result<LogSweepResult, LogError>) -> Void)?) {
        var result = LogSweepResult()
        result.bytesBefore = usages.reduce(0) { $0 &+ $1.bytes }
        var total = result.bytesBefore
        let active = Set(attempts.keys.map(\.jobID))
        let now = Int64(time(nil))
        let maxAge = limits.retentionAge.components.seconds
        var candidates = usages.filter { !active.contains($0.jobID) && isFinished($0.jobID) }
        candidates.sort { ($0.modified, $0.jobID) < ($1.modified, $1.jobID) }
        var keep: [JobLogUsage] = []
        for usage in candidates {
            if now - usage.modified > maxAge {
                result.removedForAge.append(usage.jobID)
                total -= usage.bytes
            } else {
                keep.append(usage)
            }
        }
        for usage in keep where total > limits.retentionBytes {
            result.removedForSize.append(usage.jobID)
            total -= usage.bytes
        }
        result.bytesAfter = total
        let doomed = result.removedForAge + result.removedForSize
        guard !doomed.isEmpty else {
            sweeping = false
            completion?(.success(result))
            return
        }
        let remove: @Sendable () -> [LogError] = { [directory] in LogDisk.remove(directory: directory, jobIDs: doomed) }
        onDisk(remove) { [self] errors in
            sweeping = false
            for error in errors { onError(error) }
            completion?(.success(result))
        }
    }
}
