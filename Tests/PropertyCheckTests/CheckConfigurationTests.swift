import Testing
@testable import PropertyCheck

@Suite struct CheckConfigurationTests {
    @Test func theEnvironmentSetsSeedCasesAndBudget() throws {
        let configuration = try CheckConfiguration.fromEnvironment(name: "env", environment: [
            "IOMMU_CHECK_SEED": "0x2a", "IOMMU_CHECK_CASES": "7",
            "IOMMU_CHECK_SHRINK_RUNS": "99", "IOMMU_CHECK_SHRINK_SECONDS": "1.5",
            "IOMMU_CHECK_REPLAY": "AQID",
        ])
        #expect(configuration.seed == 42)
        #expect(configuration.cases == 7)
        #expect(configuration.shrinkBudget.runs == 99)
        #expect(configuration.shrinkBudget.seconds == 1.5)
        #expect(configuration.replay == nil)
        #expect(try ReplayRequest.fromEnvironment(configuration.environment) == ReplayRequest(bytes: [1, 2, 3]))
    }

    @Test func withoutTheEnvironmentTheSeedIsFixedPerName() throws {
        let a = try CheckConfiguration.fromEnvironment(name: "same", environment: [:])
        let b = try CheckConfiguration.fromEnvironment(name: "same", environment: [:])
        let c = try CheckConfiguration.fromEnvironment(name: "other", environment: [:])
        #expect(a.seed == b.seed)
        #expect(a.seed != c.seed)
    }

    @Test(arguments: [
        ("IOMMU_CHECK_SEED", "forty-two"),
        ("IOMMU_CHECK_SEED", "-1"),
        ("IOMMU_CHECK_CASES", "0"),
        ("IOMMU_CHECK_CASES", "lots"),
        ("IOMMU_CHECK_SHRINK_RUNS", "-3"),
        ("IOMMU_CHECK_SHRINK_SECONDS", "inf"),
        ("IOMMU_CHECK_REPLAY", "not base64!"),
    ])
    func malformedValuesAreErrorsThatNameTheVariable(variable: String, value: String) {
        #expect {
            _ = try CheckConfiguration.fromEnvironment(name: "bad", environment: [variable: value])
        } throws: { error in
            let message = "\(error)"
            return message.contains(variable) && message.contains(value) && message.contains("expected")
        }
    }
}
