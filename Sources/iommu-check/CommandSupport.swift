import ArgumentParser
import Foundation
import IOMMUConformance
import IOMMUSpec
import PropertyCheck

/// The input of `replay` and `shrink`: a file of choice-sequence bytes and its surface.
struct InputFile: ParsableArguments {
    @Argument(help: "The input: a corpus file, a libFuzzer crash file or a saved failure (bytes of a choice sequence).")
    var file: String

    @Option(help: "The surface the input belongs to. Default: taken from a Corpus/<surface>/ path.")
    var surface: Surface?

    /// The file's bytes and surface, or a clear error.
    func read() throws -> (bytes: [UInt8], surface: Surface) {
        (try readInput(file, limit: 64 << 20), try resolveSurface())
    }

    /// The surface named by `--surface`, or by a `Corpus/<surface>/` component of the path.
    private func resolveSurface() throws -> Surface {
        if let surface { return surface }
        let components = URL(fileURLWithPath: file).standardizedFileURL.pathComponents
        if let index = components.lastIndex(of: "Corpus"), index + 1 < components.count, let parsed = Surface(rawValue: components[index + 1]) {
            return parsed
        }
        throw ValidationError("cannot tell the surface of '\(file)': pass --surface (\(Surface.allCases.map(\.rawValue).joined(separator: ", ")))")
    }

    /// A check configuration that judges exactly these bytes (shrinking them if they fail).
    func configuration(_ bytes: [UInt8], _ surface: Surface, target: ImplementationOptions) -> CheckConfiguration {
        var configuration = CheckConfiguration(name: surface.rawValue, cases: 0)
        // Its own options say what to replay; IOMMU_CHECK_REPLAY is for test runs.
        configuration.readsEnvironmentReplay = false
        configuration.replay = bytes
        configuration.replayCommand = { base64 in replayCommandLine(surface: surface, options: target, base64: base64) }
        return configuration
    }
}

/// The one command that replays a shrunk failure: this executable, the same surface,
/// implementation, policy, timeout and steps (the steps bound how the choices decode).
func replayCommandLine(surface: Surface, options: ImplementationOptions, steps: Double? = nil, base64: String) -> String {
    let stepsOption = steps.map { $0 == Run.defaultSteps ? "" : " --steps \($0 == $0.rounded() ? String(Int($0)) : String($0))" } ?? ""
    return "\(invocation()) run --surface \(surface.rawValue) \(options.commandLine)\(stepsOption) --replay '\(base64)'"
}

/// How to run this executable again from the current directory: the name it was started by
/// when a shell found it on PATH, else its path, relative when it lies below the current
/// directory (`.build/release/iommu-check`), quoted for a shell.
func invocation() -> String {
    let started = CommandLine.arguments.first ?? ""
    if !started.isEmpty, !started.contains("/") { return shellQuoted(started) }
    let executable = started.hasPrefix("/") || started.isEmpty ? ownExecutable() : started
    let directory = FileManager.default.currentDirectoryPath
    let path = executable.hasPrefix(directory + "/") ? String(executable.dropFirst(directory.count + 1)) : executable
    return shellQuoted(path)
}

/// An input that cannot be used (a file, a trace): the sentence on standard error and exit 64,
/// without the usage text ArgumentParser adds to a `ValidationError` (the command line was fine).
func refuse(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    return ExitCode(64)
}

/// The bytes of `path` ("-" is standard input), read with read(2) so FIFOs, pipes and devices
/// work; more than `limit` bytes is refused as it streams
/// (so `/dev/zero` is refused, not read until memory runs out).
func readInput(_ path: String, limit: Int = 1 << 34) throws -> [UInt8] {
    let descriptor = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw refuse("cannot read '\(path)': \(String(cString: strerror(errno)))") }
    defer { if descriptor != STDIN_FILENO { close(descriptor) } }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw refuse("cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        if count == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<count])
        guard bytes.count <= limit else { throw refuse("'\(path)' is larger than \(limit) bytes") }
    }
}

/// Refuses, before a run, an output path that cannot be written (the run's failure must not
/// be lost to it afterwards). A file created by the test is removed again.
func checkWritable(_ path: String) throws {
    let existed = FileManager.default.fileExists(atPath: path)
    let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw refuse("cannot write '\(path)': \(String(cString: strerror(errno)))") }
    close(descriptor)
    if !existed { unlink(path) }
}

/// Writes `bytes` to `path`, or explains why it could not.
func writeBytes(_ bytes: [UInt8], to path: String) throws {
    do {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    } catch {
        throw ValidationError("cannot write '\(path)': \(error.localizedDescription)")
    }
}

func writeText(_ text: String, to path: String) throws { try writeBytes(Array(text.utf8), to: path) }

/// Help text for `discussion:`: lines of one paragraph are joined so ArgumentParser can wrap
/// them to the terminal; paragraphs with indented lines (examples) keep their lines.
func helpText(_ text: String) -> String {
    text.components(separatedBy: "\n\n").map { paragraph in
        let lines = paragraph.components(separatedBy: "\n")
        if lines.contains(where: { $0.hasPrefix("  ") }) { return paragraph }
        return lines.joined(separator: " ")
    }.joined(separator: "\n\n")
}
