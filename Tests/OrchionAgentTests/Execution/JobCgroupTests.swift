import Testing

@testable import OrchionAgent

/// The names and limit values an attempt's cgroup gets (no cgroupfs needed).
@Suite struct JobCgroupTests {
    @Test func anAttemptsCgroupIsNamedAfterItsJobWithUnsafeBytesReplaced() {
        #expect(JobCgroup.name(job: "train-7.b_x", attempt: 2) == "orchion-train-7.b_x-2")
        #expect(JobCgroup.name(job: "a b/../ü", attempt: 1) == "orchion-a_b_.._\u{5F}_-1")
    }

    @Test func cpuMillisBecomeAQuotaPerPeriod() {
        #expect(JobCgroup.cpuMax(millis: 500) == "50000 100000")
        #expect(JobCgroup.cpuMax(millis: 2_000) == "200000 100000")
        // Below the kernel's 1 ms minimum quota: the minimum.
        #expect(JobCgroup.cpuMax(millis: 1) == "1000 100000")
    }
}
