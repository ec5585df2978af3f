import Foundation

/// A directory of byte-encoded choice sequences: shrunk failures saved by earlier runs, replayed
/// first by later ones. The files use the corpus format, so libFuzzer can run them too.
public struct RegressionStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Every regular file in the directory, sorted by name, but `.jsonl` traces (a regression's
    /// readable trace may sit beside it); an absent directory holds none.
    public func load() throws -> [(path: String, bytes: [UInt8])] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        let names = try manager.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") && !$0.hasSuffix(".jsonl") }.sorted()
        var files: [(String, [UInt8])] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            var entryIsDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &entryIsDirectory), !entryIsDirectory.boolValue else { continue }
            files.append((path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))))
        }
        return files
    }

    /// Writes `bytes` under a name derived from its content; returns the path.
    @discardableResult
    public func save(_ bytes: [UInt8], prefix: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01B3 }
        let safePrefix = String(prefix.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
        let hex = String(hash, radix: 16)
        let name = "\(safePrefix)-\(String(repeating: "0", count: 16 - hex.count))\(hex)"
        let path = (directory as NSString).appendingPathComponent(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
