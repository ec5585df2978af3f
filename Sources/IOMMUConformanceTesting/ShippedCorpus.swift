import Foundation
import IOMMUSpec

/// The corpus this package ships (`Corpus/<surface>/`, seed inputs and shrunk regressions), a
/// resource of this library, so a user's test replays it against their implementation.
enum ShippedCorpus {
    /// Every input of `surface`, seeds then regressions, each sorted by name.
    static func inputs(of surface: Surface) -> [(name: String, bytes: [UInt8])] {
        guard let root = Bundle.module.resourceURL?.appendingPathComponent("Corpus").appendingPathComponent(surface.rawValue) else { return [] }
        return files(in: root, prefix: surface.rawValue) + files(in: root.appendingPathComponent("regressions"), prefix: "\(surface.rawValue)/regressions")
    }

    private static func files(in folder: URL, prefix: String) -> [(name: String, bytes: [UInt8])] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().compactMap { name in
            guard !name.hasPrefix("."), !name.hasSuffix(".jsonl") else { return nil }
            let url = folder.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: url.path) else { return nil }
            return ("\(prefix)/\(name)", [UInt8](data))
        }
    }
}
