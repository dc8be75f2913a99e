import Testing

@testable import OrchionAgent
@testable import OrchionPluginHost

/// What the agent hands `orchion-spawn`, which runs as root until it has
/// switched to the job's user: nothing the job chose may act before then.
@Suite struct SpawnOptionsTests {
    private let plan = JobRunner.Plan(
        launch: Launch(
            file: "/bin/sh", arguments: ["sh", "-c", "true"],
            environment: ["DB_PASSWORD=hunter2", "LD_PRELOAD=/tmp/x.so", "PATH=/usr/bin:/bin"],
            workingDirectory: "/srv/private/project", user: "nobody", timeoutMillis: 0, memoryLimitBytes: 0),
        account: RunAsAccount(name: "nobody", uid: 65534, gid: 65534, groups: [65534]))

    /// Found by attack: the job's environment and directory reached the
    /// helper while it was root, then its command line (anyone's to read).
    @Test func theJobsEnvironmentIsHiddenBehindThePrefixAndItsDirectoryIsAnArgument() throws {
        let options = try JobRunner.spawnOptions(plan, helper: "/usr/lib/orchion/orchion-spawn")
        #expect(
            options.arguments == [
                "/usr/lib/orchion/orchion-spawn", "-G", "65534", "-g", "65534", "-u", "65534", "-d",
                "/srv/private/project", "--", "/bin/sh", "sh", "-c", "true",
            ])
        #expect(!options.arguments.contains { $0.contains("hunter2") }, "no secret on the command line")
        #expect(
            options.environment == [
                "ORCHION_JOB:DB_PASSWORD=hunter2", "ORCHION_JOB:LD_PRELOAD=/tmp/x.so", "ORCHION_JOB:PATH=/usr/bin:/bin",
            ])
        #expect(options.workingDirectory == nil, "entered by the helper as the job's user, not by libuv as root")
    }

    @Test func withoutTheHelperTheJobIsSpawnedAsItIs() throws {
        var direct = plan
        direct.account = nil
        let options = try JobRunner.spawnOptions(direct, helper: nil)
        #expect(options.arguments == ["sh", "-c", "true"] && options.file == "/bin/sh")
        #expect(options.environment == direct.launch.environment)
        #expect(options.workingDirectory == "/srv/private/project")
    }
}
