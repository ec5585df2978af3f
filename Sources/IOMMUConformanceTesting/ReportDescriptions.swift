import PropertyCheck
import Testing

extension CheckReport: CustomTestStringConvertible {
    /// One line: a failed expectation on a report shows this, not the whole statistics table.
    public var testDescription: String {
        if let notRun { return "check '\(name)': not run (\(notRun))" }
        let verdict = passed ? "passed" : failure.map { "FAILED: \($0.message.split(separator: "\n").last.map(String.init) ?? $0.message)" } ?? "FAILED"
        return "check '\(name)' \(verdict) (\(casesRun) cases, seed \(seed))"
    }

    /// What a failing check records as its one issue: the shrunk failure with its seed and
    /// replay command, the health problems or the errors; the statistics only in one line.
    var issueText: String {
        var lines: [String] = []
        lines += errors.map { "error: \($0)" }
        if let failure { lines.append("check '\(name)' failed\n\(failure)") }
        if !healthProblems.isEmpty {
            lines.append("check '\(name)': the run was vacuous (seed \(seed))")
            lines += healthProblems.map { "  - \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}

extension FailureReport: CustomTestStringConvertible {
    public var testDescription: String { "failure (seed \(seed)): \(message)" }
}
