import Foundation
import Testing

/// `run --shard K/N` on N machines, joined by `merge`, is the campaign one machine runs: the
/// same cases, the same statistics, the same first failure.
@Suite struct ShardTests {
    private func run(_ arguments: [String]) throws -> [[String: Any]] {
        let result = try iommuCheck(["run"] + arguments + ["--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]], "\(result.error)")
    }

    private func merged(_ arguments: [String], shards: Int) throws -> (status: Int32, output: [[String: Any]]) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shards-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var files: [String] = []
        for index in 1...shards {
            let result = try iommuCheck(["run"] + arguments + ["--shard", "\(index)/\(shards)", "--json"])
            let file = folder.appendingPathComponent("shard-\(index).json").path
            FileManager.default.createFile(atPath: file, contents: Data(result.output.utf8))
            files.append(file)
        }
        let merge = try iommuCheck(["merge", "--json"] + files.reversed())
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(merge.output.utf8)) as? [[String: Any]], "\(merge.error)")
        return (merge.status, parsed)
    }

    private func same(_ whole: [String: Any], _ joined: [String: Any]) {
        for key in ["cases", "passed", "operations", "endedEarly", "seed", "healthProblems"] {
            #expect("\(whole[key] ?? "-")" == "\(joined[key] ?? "-")", "\(key)")
        }
        #expect(NSDictionary(dictionary: whole["statistics"] as? [String: Any] ?? [:]).isEqual(to: joined["statistics"] as? [String: Any] ?? [:]), "statistics")
        let wholeFailure = whole["failure"] as? [String: Any], joinedFailure = joined["failure"] as? [String: Any]
        #expect(wholeFailure?["choicesBase64"] as? String == joinedFailure?["choicesBase64"] as? String)
        #expect(wholeFailure?["caseIndex"] as? Int == joinedFailure?["caseIndex"] as? Int)
        #expect(wholeFailure?["message"] as? String == joinedFailure?["message"] as? String)
    }

    @Test func twoShardsOfAPassingCampaignAreTheCampaign() throws {
        let arguments = ["--surface", "isolation", "--seed", "11", "--cases", "600"]
        let whole = try run(arguments)
        let joined = try merged(arguments, shards: 2)
        #expect(joined.status == 0)
        same(try #require(whole.first), try #require(joined.output.first))
    }

    /// The failure lies in the fourth of twenty shards: the shards after it ran cases the single
    /// run never reached, and are left out of the statistics.
    @Test func theFirstFailureOfAShardedCampaignIsTheCampaignsFirstFailure() throws {
        let arguments = ["--surface", "address-space", "--implementation", "mutant:superpage-not-split", "--seed", "11", "--cases", "200", "--jobs", "1"]
        let whole = try run(arguments)
        let failure = try #require(whole.first?["failure"] as? [String: Any])
        #expect((failure["caseIndex"] as? Int ?? 0) >= 30, "the failure must lie beyond the first shard for this test to mean anything")
        let joined = try merged(arguments, shards: 20)
        #expect(joined.status == 1)
        same(try #require(whole.first), try #require(joined.output.first))
    }

    @Test func outputsOfDifferentCampaignsAreRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shards-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (index, seed) in [(1, "11"), (2, "12")] {
            let result = try iommuCheck(["run", "--surface", "interrupts", "--seed", seed, "--cases", "20", "--shard", "\(index)/2", "--json"])
            FileManager.default.createFile(atPath: folder.appendingPathComponent("\(index).json").path, contents: Data(result.output.utf8))
        }
        let merge = try iommuCheck(["merge", folder.appendingPathComponent("1.json").path, folder.appendingPathComponent("2.json").path])
        #expect(merge.status == 64)
        #expect(merge.error.contains("shards of different campaigns"), "\(merge.error)")
        let missing = try iommuCheck(["merge", folder.appendingPathComponent("1.json").path])
        #expect(missing.status == 64)
        #expect(missing.error.contains("1 of 2 shards"), "\(missing.error)")
        let random = try iommuCheck(["run", "--seed", "random", "--shard", "1/2"])
        #expect(random.status != 0)
        #expect(random.error.contains("--shard needs the same seed"), "\(random.error)")
    }
}
