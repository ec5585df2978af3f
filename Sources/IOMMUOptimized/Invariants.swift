// Debug builds check each optimized structure's invariants after every change to it. Each
// structure states its invariants as a method returning the first broken one (`String?`), so a
// test can ask it of a deliberately corrupted copy; the call sites below stop the build at the
// first one. Release and fuzz builds compile neither the checks' calls nor this helper.

#if DEBUG
/// Stops a debug build at a broken invariant, naming the structure and the invariant.
@inline(__always)
func assertInvariant(_ violation: String?, of structure: StaticString, file: StaticString = #file, line: UInt = #line) {
    if let violation { assertionFailure("\(structure) invariant broken: \(violation)", file: file, line: line) }
}
#endif
