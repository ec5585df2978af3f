import Foundation
import PropertyCheck
import Testing

/// Where a check runs: its name (the test's, unless given), the `swift test --filter` that
/// selects its test, and the package whose `Tests/ConformanceRegressions/` keeps its failures.
struct TestLocation: Sendable {
    /// The name the check's replay is bound to (`IOMMU_CHECK_REPLAY_CHECK`).
    let checkName: String
    /// A regular expression matching the test's ID and no other test's (nil outside a test).
    let filter: String?
    let packageRoot: URL?

    init(test: Test?, name: String?, sourceLocation: SourceLocation) {
        if let test {
            let id = test.id
            // "Module.Suite/function()": the ID without its source location, which moves
            // whenever the file is edited above the test.
            let qualified = ([id.moduleName] + id.nameComponents.prefix(1)).joined(separator: ".") + id.nameComponents.dropFirst().map { "/\($0)" }.joined()
            checkName = name.map { "\(qualified) \($0)" } ?? qualified
            filter = "^" + Self.escaped(qualified) + "/"
        } else {
            checkName = name ?? "conformance"
            filter = nil
        }
        packageRoot = Self.packageRoot(containing: sourceLocation.filePath)
    }

    /// `text` as a regular expression matching it literally.
    static func escaped(_ text: String) -> String {
        String(text.flatMap { "\\^$.|?*+()[]{}".contains($0) ? ["\\", $0] : [$0] })
    }

    /// The nearest directory above `path` holding a Package.swift.
    static func packageRoot(containing path: String) -> URL? {
        var directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        while directory.path != "/" && !directory.path.isEmpty {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) { return directory }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    /// `Tests/ConformanceRegressions/<check name>/` in the package.
    var regressionsDirectory: String? {
        guard let packageRoot else { return nil }
        let folder = String(checkName.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
        return packageRoot.appendingPathComponent("Tests/ConformanceRegressions").appendingPathComponent(folder).path
    }

    /// The command that replays `base64` in this check: the test alone, with the replay bound
    /// to this check, refusing a filter that runs no such check.
    func replayCommand(_ base64: String) -> String {
        guard let filter else {
            return ReplayRequest(bytes: [UInt8](Data(base64Encoded: base64) ?? Data()), check: checkName).environmentAssignment + " swift test"
        }
        let inPackage = packageRoot.map { "cd \(shellQuoted($0.path)) && " } ?? ""
        return "\(inPackage)swift run iommu-check replay-test --filter \(shellQuoted(filter)) --check \(shellQuoted(checkName)) \(base64)"
    }
}
