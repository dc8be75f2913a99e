import ClusterTestSupport
import Foundation
import OrchionProto
import TestSupport
import Testing

/// Job isolation on a root agent (CI runs the tests as root): real agents,
/// real jobs. The allow-list tests use the account `orchion-jobtest` (in
/// the video group) that `.ci/setup` makes.
@Suite(.serialized, .enabled(if: geteuid() == 0, "the agent must run as root to switch users"))
struct JobIsolationTests {
    /// `id -u` of a user name, from the passwd database.
    private func uid(_ user: String) throws -> UInt32 {
        try #require(getpwnam(user), "no account \(user) on this machine (run .ci/setup)").pointee.pw_uid
    }

    @Test func aJobNamingNoUserRunsAsTheDefaultUserInAWorkingDirectoryOfItsOwnRemovedAfterwards() async throws {
        let cluster = try await AgentCluster()
        do {
            let agent = try await cluster.agent("iso-default")
            try agent.waitForLog("jobs run as user nobody (uid \(try uid("nobody")))")
            let id = try await cluster.control.submit(shellJob("id -u; pwd; echo kept > f; cat f")).id
            try await cluster.waitJob(id, "succeeded") { $0.state == .succeeded }
            let work = agent.workDirectory.appendingPathComponent("orchion-\(id)-1").path
            #expect(try await cluster.stdout(id) == "\(try uid("nobody"))\n\(work)\nkept\n")
            try await eventually("the working directory removed") { !FileManager.default.fileExists(atPath: work) }
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    /// Found by attack: the working directory was entered as root, before
    /// the switch to the job's user, so a job held a directory inside a tree
    /// its user could not enter and read the files there.
    @Test func aWorkingDirectoryTheJobsUserCannotReachFailsTheJobBeforeItRuns() async throws {
        let cluster = try await AgentCluster()
        do {
            try await cluster.agent("iso-cwd")
            let home = cluster.server.directory.appendingPathComponent("private-home")
            let project = home.appendingPathComponent("project")
            try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
            chmod(home.path, 0o700)
            chmod(project.path, 0o755)
            try Data("DB_PASSWORD=hunter2\n".utf8).write(to: project.appendingPathComponent(".env"))
            var job = shellJob("cat .env")
            job.cwd = project.path
            let id = try await cluster.control.submit(job).id
            let failed = try await cluster.waitJob(id, "failed") { $0.state == .failed }
            let output = try await cluster.stdout(id)
            #expect(!output.contains("hunter2"), "\(output)")
            #expect(failed.attempts.first?.exitCode == 125, "\(failed.attempts)")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func aJobNamingRootFailsOnceWithTheFlagThatAllowsItAndRunsOnAnAgentWithAllowRootJobs() async throws {
        let cluster = try await AgentCluster()
        do {
            try await cluster.agent("iso-strict")
            try await cluster.agent("iso-root", arguments: ["--allow-root-jobs"])
            var refused = shellJob("id -u", maxAttempts: 3)
            refused.user = "root"
            refused.constraints = ["agent": "iso-strict"]
            let refusedID = try await cluster.control.submit(refused).id
            let failed = try await cluster.waitJob(refusedID, "failed") { $0.state == .failed }
            #expect(failed.attempts.count == 1, "a refused user is not retried: \(failed.attempts)")
            #expect(failed.reason.contains("job user 'root' refused"), "\(failed.reason)")
            #expect(failed.reason.contains("--allow-root-jobs"), "\(failed.reason)")

            var allowed = refused
            allowed.constraints = ["agent": "iso-root"]
            let allowedID = try await cluster.control.submit(allowed).id
            try await cluster.waitJob(allowedID, "succeeded") { $0.state == .succeeded }
            #expect(try await cluster.stdout(allowedID) == "0\n")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    @Test func aUserOffTheAllowListIsRefusedAndOneOnItRunsWithItsSupplementaryGroups() async throws {
        let cluster = try await AgentCluster()
        do {
            try await cluster.agent("iso-list", arguments: ["--allow-job-user", "orchion-jobtest"])
            var other = shellJob("id -u")
            other.user = "daemon"
            let otherID = try await cluster.control.submit(other).id
            let failed = try await cluster.waitJob(otherID, "failed") { $0.state == .failed }
            #expect(failed.reason.contains("job user 'daemon' refused"), "\(failed.reason)")
            #expect(failed.reason.contains("--allow-job-user daemon"), "\(failed.reason)")

            var listed = shellJob("id -u; id -G")
            listed.user = "orchion-jobtest"
            let listedID = try await cluster.control.submit(listed).id
            try await cluster.waitJob(listedID, "succeeded") { $0.state == .succeeded }
            let lines = try await cluster.stdout(listedID).split(separator: "\n")
            #expect(lines.first == "\(try uid("orchion-jobtest"))"[...])
            let groups = Set(lines.dropFirst().first?.split(separator: " ").compactMap { UInt32($0) } ?? [])
            let video = try #require(getgrnam("video")).pointee.gr_gid
            #expect(groups.contains(video), "orchion-jobtest's groups: \(groups)")
            #expect(!groups.contains(0), "the agent's root group leaked: \(groups)")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }

    /// A careless third-party executor (Tests/Fixtures/leaky_executor.c)
    /// copies the agent's tokens into its launch and leaves a descriptor
    /// open without O_CLOEXEC; the host strips both, and keeps a variable
    /// the job set itself.
    @Test func anExecutorCopyingTheAgentsTokensAndDescriptorsLeaksNeitherToTheJob() async throws {
        let cluster = try await AgentCluster()
        do {
            let plugins = cluster.server.directory.appendingPathComponent("agent-plugins")
            try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
            try CPlugins.fixture("leaky.so", in: plugins, source: "leaky_executor.c")
            let secretFile = cluster.server.directory.appendingPathComponent("leaked-descriptor-marker")
            try Data("x".utf8).write(to: secretFile)
            try await cluster.agent(
                "iso-leaky", arguments: ["--plugins-dir", plugins.path],
                environment: [
                    "ORCHION_JOIN_TOKEN": "agent-join-secret", "ORCHION_TOKEN": "agent-client-secret",
                    "LEAKY_OPEN": secretFile.path,
                ])
            var job = shellJob("env; ls -l /proc/$$/fd/")
            job.executor = "leaky"
            job.env = ["JOB_OWN": "mine"]
            let id = try await cluster.control.submit(job).id
            try await cluster.waitJob(id, "succeeded") { $0.state == .succeeded }
            let output = try await cluster.stdout(id)
            #expect(output.contains("JOB_OWN=mine"), "\(output)")
            #expect(!output.contains("agent-join-secret"), "\(output)")
            #expect(!output.contains("agent-client-secret"), "\(output)")
            #expect(!output.contains("leaked-descriptor-marker"), "\(output)")
        } catch {
            await cluster.close()
            throw error
        }
        await cluster.close()
    }
}
