import OrchionControl
import OrchionCore
import OrchionLoop
import OrchionMapping
import OrchionProto
import OrchionWire
import SwiftProtobuf

extension ControlPlane {
    /// Accepts a job; `reply` runs once it is durable (or at once with the
    /// first job of an earlier submission with the same `request_id`).
    /// `submittedBy` names the client token that submitted it.
    func submit(
        _ request: Orchion_V1_SubmitJobRequest, submittedBy: String? = nil,
        reply: @escaping (Result<Orchion_V1_Job, RPCError>) -> Void
    ) {
        let requestID = request.requestID.isEmpty ? nil : request.requestID
        if let requestID, let id = requestIndex[Self.requestKey(requestID, submittedBy)], jobs[id] != nil {
            whenDurable { [unowned self] in reply(jobs[id].map { .success($0.proto) } ?? .failure(notFound(id))) }
            return
        }
        let spec: JobSpec
        do throws(RPCError) {
            spec = try admissible(request)
        } catch {
            return reply(.failure(error))
        }
        let id = accept(spec, requestID: requestID, submittedBy: submittedBy)
        whenDurable { [unowned self] in
            metrics.jobsSubmitted.increment()
            reply(jobs[id].map { .success($0.proto) } ?? .failure(notFound(id)))
        }
    }

    /// Accepts every job of `requests` or none: all are checked first (the
    /// error names the first refused, `jobs[i]: …`), then all are accepted
    /// in this turn of the loop, so they share one commit. `reply` runs once
    /// they are durable, with their ids in request order (an earlier job's
    /// for a `request_id` seen before, in the store or in this batch).
    func submitAll(
        _ requests: [Orchion_V1_SubmitJobRequest], submittedBy: String? = nil,
        reply: @escaping (Result<[String], RPCError>) -> Void
    ) {
        guard requests.count <= Self.maxBatchJobs else {
            return reply(
                .failure(
                    RPCError(
                        .invalidArgument,
                        "jobs: expected at most \(Self.maxBatchJobs) per call, found \(requests.count)")
                ))
        }
        var specs: [JobSpec?] = []
        specs.reserveCapacity(requests.count)
        var batchRequestIDs: Set<String> = []
        for (index, request) in requests.enumerated() {
            let requestID = request.requestID
            if !requestID.isEmpty, requestIndex[Self.requestKey(requestID, submittedBy)].flatMap({ jobs[$0] }) != nil {
                specs.append(nil)
                continue
            }
            do throws(RPCError) {
                if !requestID.isEmpty, !batchRequestIDs.insert(requestID).inserted {
                    throw RPCError(.invalidArgument, "request_id '\(requestID)' appears twice in the batch")
                }
                specs.append(try admissible(request))
            } catch {
                return reply(.failure(RPCError(error.code, "jobs[\(index)]: \(error.message)")))
            }
        }
        var ids: [String] = []
        ids.reserveCapacity(requests.count)
        var accepted = 0
        for (request, spec) in zip(requests, specs) {
            if let spec {
                ids.append(
                    accept(
                        spec, requestID: request.requestID.isEmpty ? nil : request.requestID, submittedBy: submittedBy))
                accepted += 1
            } else {
                ids.append(requestIndex[Self.requestKey(request.requestID, submittedBy)] ?? "")
            }
        }
        whenDurable { [unowned self] in
            metrics.jobsSubmitted.add(UInt64(accepted))
            reply(.success(ids))
        }
    }

    /// The most jobs one `SubmitJobs` call may carry.
    static let maxBatchJobs = 10_000

    /// The spec of `request`, with a new job id, once it passes every check
    /// a submission must pass; else the error to answer.
    private func admissible(_ request: Orchion_V1_SubmitJobRequest) throws(RPCError) -> JobSpec {
        if !request.requestID.isEmpty, request.requestID.utf8.count > 256 || request.requestID.utf8.contains(0) {
            throw RPCError(.invalidArgument, "request_id: expected at most 256 bytes without NUL")
        }
        let specBytes = (try? request.spec.serializedBytes() as [UInt8])?.count ?? Int.max
        if specBytes > InputBounds.specBytes {
            throw RPCError(
                .invalidArgument,
                "invalid job spec: expected at most \(InputBounds.specBytes) bytes serialized, found \(specBytes)")
        }
        let durations = [
            ("timeout", request.spec.hasTimeout ? request.spec.timeout : nil),
            ("retry.backoff", request.spec.retry.hasBackoff ? request.spec.retry.backoff : nil),
        ]
        for case let (field, duration?) in durations where !duration.isWithinJobRange {
            throw RPCError(
                .invalidArgument,
                "invalid job spec field '\(field)': expected 0 to \(Google_Protobuf_Duration.jobRangeSeconds) s, "
                    + "found \(duration.seconds) s \(duration.nanos) ns")
        }
        let spec = JobSpec(request.spec, id: newJobID())
        do throws(JobSpecError) {
            try spec.validate()
        } catch {
            throw RPCError(.invalidArgument, error.description)
        }
        if let strategy = spec.strategy, !strategyNames.contains(strategy) {
            let known = strategyNames.sorted().joined(separator: ", ")
            throw RPCError(.invalidArgument, "unknown strategy '\(strategy)'; known: \(known)")
        }
        return spec
    }

    /// Records an admitted job as pending, stages it for the next commit and
    /// queues it; returns its id.
    /// Where a submission's `request_id` is remembered (`StoredJob.requestKey`).
    static func requestKey(_ requestID: String, _ submittedBy: String?) -> String {
        StoredJob.requestKey(requestID, submittedBy: submittedBy)
    }

    private func accept(_ spec: JobSpec, requestID: String?, submittedBy: String?) -> String {
        let id = spec.id
        let time = now()
        let job = JobRecord(spec: spec, requestID: requestID, order: nextOrder, now: time, submittedBy: submittedBy)
        nextOrder += 1
        jobs[id] = job
        jobOrder.append(id)
        if let requestID { requestIndex[Self.requestKey(requestID, submittedBy)] = id }
        persist(job)
        record(JobChange(jobID: id, state: .pending, attempt: 0, nodeID: "", reason: job.reason, at: time))
        metrics.jobs(.pending).increment()
        enqueue(job)
        return id
    }

    /// Asks to stop job `id`; answers with the job as it is now.
    func cancel(_ id: String, reason: String) throws(RPCError) -> Orchion_V1_Job {
        guard jobs[id] != nil else { throw notFound(id) }
        let transition = apply(.cancel(reason: reason.prefix(utf8Bytes: InputBounds.cancelReasonBytes)), to: id)
        if let ignored = transition.ignored { throw RPCError(.failedPrecondition, ignored) }
        return try job(id)
    }

    func job(_ id: String) throws(RPCError) -> Orchion_V1_Job {
        guard let job = jobs[id] else { throw notFound(id) }
        return job.proto
    }

    /// A page of jobs in submission order, filtered by state and node.
    ///
    /// Pages are kept until a job changes, so a steady cluster's listing is
    /// served without being rebuilt (and, over REST, without re-encoding).
    func listJobs(_ request: Orchion_V1_ListJobsRequest) throws(RPCError) -> Orchion_V1_ListJobsResponse {
        if let page = jobPages[request] { return page }
        let size = request.pageSize == 0 ? 100 : min(Int(request.pageSize), 1000)
        var start = 0
        if !request.pageToken.isEmpty {
            guard let after = UInt64(request.pageToken) else {
                throw RPCError(.invalidArgument, "page_token: expected a token from next_page_token")
            }
            start = jobOrderIndex(after: after)
        }
        let state = JobState(request.state)
        if state == nil, request.state != .unspecified {
            throw RPCError(
                .invalidArgument, "state: expected a job state or none, found number \(request.state.rawValue)")
        }
        var response = Orchion_V1_ListJobsResponse()
        var lastOrder: UInt64 = 0
        var bytes = 0
        for id in jobOrder[start...] {
            guard let job = jobs[id] else { continue }
            if let state, job.state != state { continue }
            if !request.nodeID.isEmpty, job.current?.nodeID != request.nodeID { continue }
            let proto = job.proto
            let jobBytes = (try? proto.serializedBytes() as [UInt8])?.count ?? 0
            // A page ends at `size` jobs or `pageBytes` (with at least one
            // job), so it fits in a message a default gRPC client takes.
            guard response.jobs.count < size, response.jobs.isEmpty || bytes + jobBytes <= InputBounds.pageBytes
            else {
                response.nextPageToken = String(lastOrder)
                break
            }
            response.jobs.append(proto)
            bytes += jobBytes
            lastOrder = job.order
        }
        if jobPages.count >= 64 { jobPages.removeAll(keepingCapacity: true) }
        jobPages[request] = response
        return response
    }

    /// The index in `jobOrder` of the first job submitted after order `after`.
    private func jobOrderIndex(after: UInt64) -> Int {
        var low = 0
        var high = jobOrder.count
        while low < high {
            let middle = (low + high) / 2
            if (jobs[jobOrder[middle]]?.order ?? 0) <= after { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Applies `input` to job `id` and runs the effects.
    @discardableResult
    func apply(_ input: JobInput, to id: String) -> JobTransition {
        guard var job = jobs[id] else { return JobTransition() }
        let before = job.state
        let transition = JobLifecycle.apply(input, to: &job, now: now())
        jobs[id] = job
        if job.state != before {
            metrics.jobs(before).decrement()
            metrics.jobs(job.state).increment()
        }
        if transition.changed { persist(job) }
        for effect in transition.effects { run(effect, job) }
        return transition
    }

    private func run(_ effect: JobEffect, _ job: JobRecord) {
        switch effect {
        case .assign(let attempt):
            whenDurable { [unowned self] in deliver(job.id, attempt.number) }
        case .stop(let attempt, let reason):
            sendCancel(job.id, attempt, reason: reason)
        case .release(let attempt):
            release(attempt, of: job)
            try? logs?.finish(jobID: job.id, attempt: attempt.number)
        case .reserve(let attempt):
            reserve(attempt, of: job)
        case .event(let change):
            record(change)
        case .enqueue:
            enqueue(job)
        case .dequeue:
            queue.remove(job.id)
            parked.remove(job.id)
        }
    }

    /// Queues a pending job: now, or when its retry backoff ends.
    func enqueue(_ job: JobRecord) {
        guard job.state == .pending else { return }
        if let due = job.retryAt {
            retries.append((due, job.id))
            armRetryTimer()
        } else {
            queue.push(job.id, priority: job.spec.requirements.priority, order: job.order)
            scheduleSoon()
        }
    }

    private func armRetryTimer() {
        guard let next = retries.map(\.due).min() else { return }
        if retryTimer == nil { retryTimer = try? Timer(loop: loop) }
        let wait = UInt64(clamping: max(next - now(), 0))
        retryTimer?.start(after: wait) { [unowned self] in
            let time = now()
            let due = retries.filter { $0.due <= time }
            retries.removeAll { $0.due <= time }
            for entry in due { apply(.retryDue, to: entry.id) }
            armRetryTimer()
        }
    }

    /// Stores `job` with the next commit.
    func persist(_ job: JobRecord) {
        jobPages.removeAll(keepingCapacity: true)
        stage(
            .putJob(
                StoredJob(
                    id: job.id, requestID: job.requestID.map { Self.requestKey($0, job.submittedBy) },
                    state: job.state.rawValue, order: job.order,
                    record: JobCodec.encode(job))))
    }

    func notFound(_ id: String) -> RPCError { RPCError(.notFound, "job \(id) not found") }

    /// 20 random characters from a 32-letter alphabet: 100 bits.
    private func newJobID() -> String {
        // 32 symbols: each takes 5 bits of a random word, 12 per word, so an
        // id costs 2 getrandom calls, not 20 (a submission's hot path).
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789".utf8)
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20)
        var word: UInt64 = 0
        for index in 0..<20 {
            if index % 12 == 0 { word = generator.next() }
            bytes.append(alphabet[Int(word & 31)])
            word >>= 5
        }
        return "j-" + String(decoding: bytes, as: UTF8.self)
    }
}
